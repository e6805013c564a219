"""The commands that deliver outside the service say when their links may go nowhere.

`riskloop serve` makes an unset RISKLOOP_PUBLIC_URL its own address; `riskloop notify` and
`riskloop departments ping` have none, and used to link to http://127.0.0.1:3000 silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from models.settings import get_settings
from serving.store import WarningStore
from serving.store.outbox import Outbox
from tests.serving.loop.receiver import Receiver
from tests.serving.loop.test_delivery import SECRET, _hook, _raise
from training.cli import app


@pytest.fixture()
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("RISKLOOP_WEBHOOK_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.delenv("RISKLOOP_PUBLIC_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(args: list[str]) -> Result:
    get_settings.cache_clear()
    return CliRunner().invoke(app, args)


def _warnings(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "RISKLOOP_PUBLIC_URL" in line]


def test_notify_and_ping_warn_in_one_line_when_the_links_base_is_not_set(
    cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receiver(SECRET) as receiver, WarningStore.from_settings() as store:
        _hook(store, get_settings(), receiver.url, "county_centre")
        _raise(store, ["employer-links"])
        once = _run(["notify", "--once"])
        assert once.exit_code == 0, once.output
        (warning,) = _warnings(once)
        assert warning.startswith("warning: RISKLOOP_PUBLIC_URL is not set")
        assert "http://127.0.0.1:3000" in warning
        assert "delivered 1" in once.stdout
        ping = _run(["departments", "ping", "county_centre"])
        assert ping.exit_code == 0 and len(_warnings(ping)) == 1
        monkeypatch.setenv("RISKLOOP_PUBLIC_URL", "https://riskloop.example.gov")
        _raise(store, ["employer-links-2"])
        chosen = _run(["notify", "--once"])
        assert chosen.exit_code == 0 and _warnings(chosen) == []
        assert _warnings(_run(["departments", "ping", "county_centre"])) == []
        links = [body["link"] for body in receiver.unique().values() if body["type"] != "ping"]
    assert sorted(link.split("/v1/")[0] for link in links) == [
        "http://127.0.0.1:3000",
        "https://riskloop.example.gov",
    ]


def test_in_production_notify_refuses_to_deliver_without_the_links_base(
    cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_ENV", "production")
    with Receiver(SECRET) as receiver, WarningStore.from_settings() as store:
        _hook(store, get_settings(), receiver.url, "county_centre")
        _raise(store, ["employer-prod"])
        for args in (
            ["notify", "--once"],
            ["notify", "--loop"],
            ["departments", "ping", "county_centre"],
        ):
            refused = _run(args)
            assert refused.exit_code == 2, refused.output
            (line,) = refused.stderr.strip().splitlines()
            assert "RISKLOOP_PUBLIC_URL is not set" in line and "nothing sent" in line
        assert receiver.log == []
        assert Outbox(store).counts()["pending"] == 1  # the event waits for a configured run
