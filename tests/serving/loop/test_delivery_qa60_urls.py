"""QA 60: a webhook URL the HTTP client cannot send to (a host that does not encode).

`set-webhook tax "http://a..b/hook"` used to be accepted; then every delivery round failed with
`UnicodeError: encoding with 'idna' codec failed` and a traceback, the events stayed at 0
attempts, never dead-lettered, and `notify --once` and `departments ping` ended in a traceback.
Now set-webhook refuses such a URL in one line, and one stored before is a failed attempt like
an unreachable endpoint: retried, then dead, the log naming the error's class, never the URL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from models.settings import get_settings
from serving.delivery import Deliverer
from serving.store import WarningStore
from serving.store.outbox import Outbox
from tests.serving.loop.conftest import run_cli
from tests.serving.loop.test_delivery import _hook, _raise, _settings

DEPARTMENT = "county_centre"  # where wage-arrears warnings go
# URL, the error's class, the host as the log must not show it
UNSENDABLE = [
    ("http://a..b/hook", "UnicodeError", "a..b"),
    ("http://xn--zz.example/hook", "IDNAError", "xn--zz"),
    ("http://ex\u00adample.com/hook", "InvalidURL", "ample.com"),
    ("https://" + "b" * 64 + ".example.org/hook", "UnicodeError", "b" * 64),
]


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[WarningStore]:
    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "pseudonym-secret") as opened:
        yield opened


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: "), line
    return line


@pytest.mark.parametrize(("url", "error", "host"), UNSENDABLE)
def test_a_stored_url_the_client_cannot_send_to_is_retried_then_dead(
    store: WarningStore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    url: str,
    error: str,
    host: str,
) -> None:
    settings = _settings(tmp_path, notify_max_attempts=3)
    _hook(store, settings, url, DEPARTMENT)  # as set before set-webhook refused it
    _raise(store, ["employer-idna-1", "employer-idna-2"])
    caplog.set_level(logging.INFO, logger="riskloop.delivery")
    deliverer = Deliverer(store, settings)
    try:
        report = deliverer.drain()
        while Outbox(store).counts()["dead"] < 2:
            report = deliverer.drain()
    finally:
        deliverer.close()
    assert report.delivered == 0
    dead = Outbox(store).dead()
    assert [row["attempts"] for row in dead] == [3, 3]
    assert all(row["last_error"].startswith(f"{error}: ") for row in dead), dead
    said = [record.getMessage() for record in caplog.records]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert f"notifications to {DEPARTMENT} failing: {error} " in "\n".join(said), said
    assert sum("dead after 3 attempts" in line for line in said) == 2, said
    assert not [line for line in said if host in line or "/hook" in line], said


@pytest.mark.parametrize(("url", "error", "host"), UNSENDABLE)
def test_set_webhook_refuses_it_and_ping_and_notify_end_in_one_line(
    cli_env: Path, url: str, error: str, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = cli_env / "tax.secret"
    refused = run_cli(["departments", "set-webhook", "tax", url, "--secret-file", str(secret_file)])
    line = _one_error_line(refused)
    assert "its host is not one the HTTP client can send to" in line, line
    assert not secret_file.exists()  # nothing written
    assert "0 webhook(s)" in run_cli(["departments", "webhooks"]).stdout
    for department, taken in [  # hosts that encode are taken as before
        ("tax", "https://münchen.example/hook"),
        ("market", "http://127.0.0.1:3999/hook"),
        ("court", "http://[::1]:3999/hook"),
    ]:
        secret = cli_env / f"{department}.secret"
        result = run_cli(
            ["departments", "set-webhook", department, taken, "--secret-file", str(secret)]
        )
        assert result.exit_code == 0, result.output

    with WarningStore.from_settings() as store:
        _hook(store, get_settings(), url, DEPARTMENT)  # as set before set-webhook refused it
        _raise(store, ["employer-idna-cli"])
    # one attempt: its retry not due again within the run (cli_env's retries are milliseconds
    # apart, and `--once` goes on while anything is due: on a busy machine it tried again)
    monkeypatch.setenv("RISKLOOP_NOTIFY_BACKOFF_S", "600")
    monkeypatch.setenv("RISKLOOP_NOTIFY_BACKOFF_MAX_S", "600")
    get_settings.cache_clear()
    line = _one_error_line(run_cli(["departments", "ping", DEPARTMENT]))
    assert f"{error}: " in line, line
    once = run_cli(["notify", "--once"])
    assert once.exit_code == 0, once.output
    assert "delivered 0, retrying 1, dead 0" in once.stdout, once.stdout


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:0/hook", "port 0 is no port a receiver listens on"),
        ("http://exa mple.com/hook", "a host holds no white space"),
    ],
)
def test_set_webhook_names_a_port_0_or_a_space_in_the_host(
    cli_env: Path, url: str, said: str
) -> None:
    """Port 0 was taken (no receiver listens there: every attempt failed); a space in the host
    was refused with words about an `@` and passwords."""
    secret_file = cli_env / "tax.secret"
    refused = run_cli(["departments", "set-webhook", "tax", url, "--secret-file", str(secret_file)])
    line = _one_error_line(refused)
    assert said in line and "@" not in line.split(":", 1)[1].replace(url, ""), line
    assert not secret_file.exists()
