"""A department's webhook can be removed, and failing deliveries show in the log.

Operations QA (webhook43): `riskloop departments` had no way to remove or pause a webhook, so a
retired endpoint's events kept being posted and died 24-48 h later, and the dead-letter alert
fired for good. And a receiver answering 500, or down, left no log line until its events died.
Now `remove-webhook` deletes the endpoint and its signing secret (audited), holds the pending
events (not posted, no attempt, not dead) until a webhook is set again, and a department's
failing deliveries log one WARNING when they start and one INFO when they recover.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from models.settings import Settings, get_settings
from serving.delivery import Deliverer
from serving.store import WarningStore
from serving.store.outbox import Outbox
from tests.processes import free_port
from tests.serving.loop.conftest import LoopEnv, run_cli
from tests.serving.loop.receiver import Receiver
from tests.serving.loop.test_delivery import SECRET, _hook, _raise, _settings

DEPARTMENT = "county_centre"  # wage-arrears' owner: a raised warning notifies it
RISKLOOP = str(Path(sys.executable).with_name("riskloop"))
FAILING = f"notifications to {DEPARTMENT} failing: "
RECOVERED = f"notifications to {DEPARTMENT} delivered again after "


def _set_webhook(folder: Path, url: str) -> None:
    secret_file = folder / "county.secret"
    if not secret_file.exists():
        secret_file.write_text(SECRET)
        secret_file.chmod(0o600)
    result = run_cli(
        ["departments", "set-webhook", DEPARTMENT, url, "--secret-file", str(secret_file)]
    )
    assert result.exit_code == 0, result.output


def _refusal(result: Result) -> str:
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    return line


def test_a_removed_webhook_holds_its_pending_events_until_one_is_set_again(cli_env: Path) -> None:
    _set_webhook(cli_env, f"http://127.0.0.1:{free_port()}/retired?token=abc")
    with WarningStore.from_settings() as store:
        _raise(store, ["held-1", "held-2"])
        outbox = Outbox(store)
        assert outbox.counts()["pending"] == 2

    result = run_cli(["departments", "remove-webhook", DEPARTMENT])
    assert result.exit_code == 0, result.output
    assert "2 pending notification(s) held" in result.output, result.output
    assert "token=abc" not in result.output
    secrets = json.loads(Path(os.environ["RISKLOOP_WEBHOOK_SECRETS_FILE"]).read_text())
    assert DEPARTMENT not in secrets["secrets"]

    listing = run_cli(["departments", "webhooks"])
    assert f"{DEPARTMENT}\tno webhook\t2 pending notification(s) held" in listing.output

    # a second removal, and an unknown department: one line, exit 2
    assert "has no webhook; nothing removed" in _refusal(
        run_cli(["departments", "remove-webhook", DEPARTMENT])
    )
    assert _refusal(run_cli(["departments", "remove-webhook", "no_such_department"]))

    with WarningStore.from_settings() as store:
        (removal,) = [
            row["detail"]
            for row in store.audit_rows()
            if row["action"] == "department_webhook" and row["detail"]["endpoint"] is None
        ]
        assert removal["previous"].startswith("http://127.0.0.1:")  # no path, no token
        assert "retired" not in removal["previous"]
        assert removal["held"] == 2
        # nothing is posted, no attempt counted, nothing dead: the events wait
        deliverer = Deliverer(store, get_settings())
        try:
            report = deliverer.drain()
        finally:
            deliverer.close()
        assert report.attempted == 0
        outbox = Outbox(store)
        assert [e["attempts"] for e in outbox.events()] == [0, 0]
        assert outbox.counts() == {"pending": 2, "delivered": 0, "dead": 0}
        assert outbox.backlog()[DEPARTMENT]["oldest_pending"] is None  # held, not late
        # a department without a webhook gets no new events, as an outside body
        _raise(store, ["after-removal"])
        assert outbox.counts()["pending"] == 2

    # a webhook set again: the held events go out, in the order they were written
    with Receiver(SECRET) as receiver:
        _set_webhook(cli_env, receiver.url)
        with WarningStore.from_settings() as store:
            deliverer = Deliverer(store, get_settings())
            try:
                assert deliverer.drain().delivered == 2
            finally:
                deliverer.close()
        entities = [body["warning_id"] for body in receiver.unique().values()]
    assert len(entities) == 2


def _until(condition: Callable[[], bool], act: Callable[[], object], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "delivery did not get there in time"
        act()
        time.sleep(0.02)


def _deliverer(tmp_path: Path, store: WarningStore) -> tuple[Deliverer, Settings]:
    settings = _settings(tmp_path, notify_max_attempts=1000)
    return Deliverer(store, settings), settings


def test_failing_deliveries_log_one_warning_and_their_recovery_one_info(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="riskloop.delivery")
    with (
        WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "pseudonym-secret") as store,
        Receiver(SECRET, always=500) as receiver,
    ):
        deliverer, settings = _deliverer(tmp_path, store)
        _hook(store, settings, receiver.url + "/private-path?token=abc", DEPARTMENT)
        _raise(store, ["failing-1", "failing-2"])
        try:
            _until(lambda: len(receiver.log) >= 4, deliverer.run_once)
            messages = [(r.levelno, r.getMessage()) for r in caplog.records]
            assert [m for m in messages if FAILING in m[1]] == [
                (
                    logging.WARNING,
                    f"{FAILING}HTTP 500 (retried with backoff; `riskloop notify --dead` lists "
                    "those that give up)",
                )
            ]
            receiver.always = None
            _until(lambda: len(receiver.unique()) == 2, deliverer.run_once)
        finally:
            deliverer.close()
    recovered = [(r.levelno, r.getMessage()) for r in caplog.records if RECOVERED in r.getMessage()]
    assert len(recovered) == 1 and recovered[0][0] == logging.INFO, recovered
    assert "failed attempt(s)" in recovered[0][1]
    logged = caplog.text
    assert "private-path" not in logged and "token" not in logged and SECRET not in logged


def test_an_endpoint_that_is_down_is_named_by_its_error_class(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="riskloop.delivery")
    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", "pseudonym-secret") as store:
        deliverer, settings = _deliverer(tmp_path, store)
        _hook(store, settings, f"http://127.0.0.1:{free_port()}/in?token=abc", DEPARTMENT)
        _raise(store, ["down-1"])
        try:
            _until(lambda: Outbox(store).events()[0]["attempts"] >= 3, deliverer.run_once)
        finally:
            deliverer.close()
    failing = [r.getMessage() for r in caplog.records if FAILING in r.getMessage()]
    assert failing == [
        f"{FAILING}ConnectError (retried with backoff; `riskloop notify --dead` lists those "
        "that give up)"
    ]
    assert "token" not in caplog.text


def test_notify_loop_logs_a_department_failing_and_recovering(tmp_path: Path) -> None:
    """`riskloop notify --loop`'s own process: the recovery is an INFO line, shown on stderr."""
    from tests.environment import settings_env

    env = {
        "RISKLOOP_ENV": "test",
        "RISKLOOP_STORE_URL": f"sqlite:///{tmp_path / 'loop.db'}",
        "RISKLOOP_KEYS_FILE": str(tmp_path / "keys.json"),
        "RISKLOOP_WEBHOOK_SECRETS_FILE": str(tmp_path / "webhook-secrets.json"),
        "RISKLOOP_PUBLIC_URL": "https://riskloop.example.gov",
        "RISKLOOP_NOTIFY_BACKOFF_S": "0.05",
        "RISKLOOP_NOTIFY_BACKOFF_MAX_S": "0.2",
    }
    stderr = tmp_path / "notify.err"
    process: subprocess.Popen[bytes] | None = None
    with settings_env(env), Receiver(SECRET, always=503) as receiver:
        with WarningStore.from_settings() as store:
            _hook(store, get_settings(), receiver.url, DEPARTMENT)
            _raise(store, ["loop-1"])
        try:
            with open(stderr, "wb") as err:
                process = subprocess.Popen(
                    [RISKLOOP, "notify", "--loop", "--interval", "0.1"],
                    env={**os.environ, **env},
                    cwd=tmp_path,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            _until(lambda: len(receiver.log) >= 4, lambda: None)
            receiver.always = None
            _until(lambda: RECOVERED in stderr.read_text(), lambda: None)
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
    log = stderr.read_text()
    assert log.count(FAILING) == 1 and f"{FAILING}HTTP 503" in log, log
    assert log.count(RECOVERED) == 1, log


def test_the_service_log_says_when_a_department_fails_and_recovers(
    serving_root: Path, loop_env: LoopEnv
) -> None:
    """The QA's case: the service's own delivery thread, a receiver answering 500 for a while."""
    from tests.processes import stop_process_group
    from tests.serving.conftest import start_service

    with Receiver(SECRET, always=500) as receiver:
        with WarningStore.from_settings() as store:
            _hook(store, get_settings(), receiver.url + "?token=abc", DEPARTMENT)
        process, log = start_service(serving_root, free_port(), extra_env=loop_env.env)
        try:
            assert process.poll() is None, log.read_text()[-4000:]
            with WarningStore.from_settings() as store:
                _raise(store, ["service-1"])
            _until(lambda: len(receiver.log) >= 3, lambda: None, timeout_s=60)
            receiver.always = None
            _until(lambda: RECOVERED in log.read_text(), lambda: None, timeout_s=60)
        finally:
            stop_process_group(process)
    text = log.read_text()
    assert text.count(FAILING) == 1 and f"{FAILING}HTTP 500" in text, text[-4000:]
    assert text.count(RECOVERED) == 1, text[-4000:]
    assert "token=abc" not in text
