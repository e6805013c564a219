"""`riskloop notify --loop`, the delivery unit of a deployment that keeps delivery out of the
service, outlives PostgreSQL restarts: a real private server is stopped and started under it.

It used to die with SQLAlchemy's traceback at the first round the store did not answer, so a
dispatch made after the database came back stayed undelivered until someone restarted it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import chdir
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.environment import settings_env
from tests.processes import PrivatePostgres
from tests.serving.loop.conftest import run_cli
from tests.serving.loop.receiver import Receiver
from tests.serving.loop.test_delivery import SECRET, _hook, _raise

RISKLOOP = str(Path(sys.executable).with_name("riskloop"))
SKIPPED = "notification round skipped: the warnings store is not answering"
RESUMED = "notification rounds resumed: the warnings store answers again"


def _database(server: PrivatePostgres) -> str:
    admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('CREATE DATABASE "riskloop"'))
    admin.dispose()
    return make_url(server.admin_url).set(database="riskloop").render_as_string(False)


def _wait(
    condition: Callable[[], bool], what: str, log: Path | None = None, timeout_s: float = 30
) -> None:
    """Wait for `condition`, at most `timeout_s`; a failure says `what` and the loop's log so
    far."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            said = log.read_text() if log is not None and log.exists() else ""
            raise AssertionError(f"{what}; the loop said:\n{said}" if said else what)
        time.sleep(0.1)


def test_notify_loop_survives_a_postgres_restart_and_delivers_what_came_after(
    tmp_path: Path,
) -> None:
    from serving.store import WarningStore

    server = PrivatePostgres()
    process: subprocess.Popen[bytes] | None = None
    env = {
        "RISKLOOP_ENV": "test",
        "RISKLOOP_KEYS_FILE": str(tmp_path / "keys.json"),
        "RISKLOOP_WEBHOOK_SECRETS_FILE": str(tmp_path / "webhook-secrets.json"),
        "RISKLOOP_PUBLIC_URL": "https://riskloop.example.gov",
        # a lease of 2 s, not 120: a server stopped between the post and its record no longer
        # holds the department's line (the loop records it once the store answers:
        # test_delivery_store_outage.py), but one stopped as a claim commits leaves the loop
        # unsure the claim was taken, and its events wait out the lease
        "RISKLOOP_NOTIFY_LEASE_S": "2",
    }
    stderr = tmp_path / "notify.err"
    try:
        env["RISKLOOP_STORE_URL"] = _database(server)
        with settings_env(env), Receiver(SECRET) as receiver:
            from models.settings import get_settings

            with WarningStore.from_settings() as store:  # makes the secrets file the CLI reads
                _hook(store, get_settings(), receiver.url, "county_centre")
                _raise(store, ["before-the-outage"])
            server.stop()
            # a single run says the store is down in one line, exit 2 (run in this process:
            # the loop below is the command's own process)
            with chdir(tmp_path):
                once = run_cli(["notify", "--once"])
            assert once.exit_code == 2, once.output
            (line,) = once.stderr.strip().splitlines()
            assert line.startswith("error: cannot open the warnings store"), line

            # the loop started while the store is down waits for it (no crash loop)
            with open(stderr, "wb") as err:
                process = subprocess.Popen(
                    [RISKLOOP, "notify", "--loop", "--interval", "0.1"],
                    env={**os.environ, **env},
                    cwd=tmp_path,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            _wait(lambda: SKIPPED in stderr.read_text(), "no line said the store is down")
            assert process.poll() is None, stderr.read_text()
            server.start()
            _wait(lambda: len(receiver.unique()) == 1, "nothing delivered once the store was up")

            # the outage the operator reported: the store goes away under a running loop
            server.stop()
            _wait(lambda: stderr.read_text().count(SKIPPED) == 2, "the second outage unseen")
            time.sleep(1.5)  # about 15 skipped rounds (0.1 s apart)
            assert process.poll() is None, stderr.read_text()
            server.start()
            with WarningStore.from_settings() as store:
                _raise(store, ["after-the-outage"])  # written once the server is back
            _wait(
                lambda: len(receiver.unique()) == 2,
                "the event after the restart never left",
                stderr,
            )
            assert process.poll() is None, stderr.read_text()
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=20)
        server.remove()
    log = stderr.read_text()
    assert "Traceback" not in log, log
    # each outage: one line when it starts, one when it ends; not one per two-second round
    assert log.count(SKIPPED) == 2 and log.count(RESUMED) == 2, log
    assert len(log.strip().splitlines()) <= 6, log
