"""QA 60: a damaged webhook secrets file (cut short, or JSON of another shape).

`departments ping` and `set-webhook` used to end in `JSONDecodeError` or `AttributeError: 'list'
object has no attribute 'get'` (exit 1), and the service logged a traceback every round. Now the
commands say in one line which file is wrong and how (exit 2), as for the main secrets file, and
the delivery worker says it once, holds the events (no attempt counted) and sends them, in
order, once the file is repaired.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from models.settings import get_settings
from serving.delivery import Deliverer
from serving.store import WarningStore
from serving.store.outbox import Outbox
from tests.serving.loop.conftest import run_cli
from tests.serving.loop.receiver import Receiver
from tests.serving.loop.test_delivery import SECRET, _hook, _raise, _settings

DEPARTMENT = "county_centre"  # where wage-arrears warnings go


def _cut_short(whole: bytes) -> bytes:
    return whole[:20]  # as `head -c` would leave it


# how the file is damaged, and what the line says is wrong
DAMAGES = [
    pytest.param(_cut_short, "not JSON", id="cut-short"),
    pytest.param(lambda _: b'["x"]', 'not a JSON object holding a "secrets" object', id="list"),
    pytest.param(
        lambda _: b'{"secrets": ["x"]}',
        'not a JSON object holding a "secrets" object',
        id="secrets-list",
    ),
    pytest.param(
        lambda _: b'{"secrets": {"county_centre": null}}',
        "the secret of county_centre is not a string",
        id="null-secret",
    ),
    pytest.param(
        lambda _: b'{"secrets": {"county_centre": "\xff"}}',
        "can't decode byte 0xff",
        id="not-utf-8",
    ),
]


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[WarningStore]:
    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "pseudonym-secret") as opened:
        yield opened


def _damage(path: Path, damage: Callable[[bytes], bytes]) -> bytes:
    """Damage the (0600) file in place; its whole text before."""
    whole = path.read_bytes()
    path.write_bytes(damage(whole))
    assert os.stat(path).st_mode & 0o077 == 0
    return whole


@pytest.mark.parametrize(("damage", "said"), DAMAGES)
def test_the_commands_name_the_damaged_file_in_one_line(
    cli_env: Path, damage: Callable[[bytes], bytes], said: str
) -> None:
    settings = get_settings()
    with Receiver(SECRET) as receiver, WarningStore.from_settings() as store:
        _hook(store, settings, receiver.url, DEPARTMENT)
        _raise(store, ["employer-secrets-cli"])
        _damage(settings.webhook_secrets_file, damage)
        new_secret = cli_env / "tax.secret"
        for args in (
            ["departments", "ping", DEPARTMENT],
            ["departments", "set-webhook", "tax", receiver.url, "--secret-file", str(new_secret)],
            ["notify", "--once"],
        ):
            result = run_cli(args)
            assert result.exit_code == 2, (args, result.output)
            (line,) = result.stderr.strip().splitlines()
            assert line.startswith(
                f"error: webhook secrets file {settings.webhook_secrets_file} is malformed ("
            ), line
            assert said in line and "restore it from the backup" in line, line
            assert SECRET not in result.output
        assert not new_secret.exists()  # set-webhook wrote nothing
        assert receiver.log == []
    assert [e["attempts"] for e in Outbox(store).events()] == [0]


def test_the_worker_says_it_once_holds_the_events_and_sends_them_once_repaired(
    store: WarningStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    caplog.set_level(logging.INFO, logger="riskloop.delivery")
    with Receiver(SECRET) as receiver:
        _hook(store, settings, receiver.url, DEPARTMENT)
        whole = _damage(settings.webhook_secrets_file, _cut_short)
        _raise(store, ["employer-held-1", "employer-held-2"])
        deliverer = Deliverer(store, settings)
        stop = threading.Event()
        loop = threading.Thread(target=deliverer.run_forever, args=(stop, 0.05), daemon=True)
        loop.start()
        try:
            time.sleep(1.0)  # some twenty rounds
            assert receiver.log == []
            assert [e["attempts"] for e in Outbox(store).events()] == [0, 0]
            settings.webhook_secrets_file.write_bytes(whole)  # restored from the backup
            deadline = time.monotonic() + 10
            while len(receiver.unique()) < 2:
                assert time.monotonic() < deadline, "nothing sent once the file was repaired"
                time.sleep(0.05)
        finally:
            stop.set()
            loop.join(timeout=10)
            deliverer.close()
    events = Outbox(store).events()
    assert [d.event_id for d in receiver.log] == [e["event_id"] for e in events]  # in order
    assert [e["attempts"] for e in events] == [1, 1]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    said = [r.getMessage() for r in caplog.records if r.name == "riskloop.delivery"]
    held = [line for line in said if line.startswith("notifications held: webhook secrets file")]
    assert len(held) == 1 and str(settings.webhook_secrets_file) in held[0], said
    assert said.count("notifications resumed: the webhook secrets file reads again") == 1, said


def test_a_file_made_readable_by_others_while_the_worker_runs_holds_the_events(
    store: WarningStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """QA, 2026-12-07: a worker started on a 0600 file kept signing and posting after
    `chmod 644` (its contents unchanged), saying nothing; a file first read so was held. Now
    the change of mode holds the events, said once, until the file is 0600 again."""
    settings = _settings(tmp_path)
    caplog.set_level(logging.INFO, logger="riskloop.delivery")
    path = settings.webhook_secrets_file
    with Receiver(SECRET) as receiver:
        _hook(store, settings, receiver.url, DEPARTMENT)
        deliverer = Deliverer(store, settings)
        stop = threading.Event()
        loop = threading.Thread(target=deliverer.run_forever, args=(stop, 0.05), daemon=True)
        loop.start()
        try:
            _raise(store, ["employer-sent-first"])
            deadline = time.monotonic() + 10
            while len(receiver.unique()) < 1:
                assert time.monotonic() < deadline, "the first event was not sent"
                time.sleep(0.05)
            os.chmod(path, 0o644)
            _raise(store, ["employer-held-after-chmod"])
            time.sleep(1.0)  # some twenty rounds
            assert len(receiver.unique()) == 1, "sent with a file others may read"
            os.chmod(path, 0o600)
            deadline = time.monotonic() + 10
            while len(receiver.unique()) < 2:
                assert time.monotonic() < deadline, "nothing sent once the mode was repaired"
                time.sleep(0.05)
        finally:
            stop.set()
            loop.join(timeout=10)
            deliverer.close()
    said = [r.getMessage() for r in caplog.records if r.name == "riskloop.delivery"]
    held = [line for line in said if line.startswith("notifications held:")]
    assert len(held) == 1 and str(path) in held[0] and "(mode 0644)" in held[0], said
    assert said.count("notifications resumed: the webhook secrets file reads again") == 1, said
