"""The service while another process holds its SQLite store's write lock: `/readyz` answers 503
(a read still succeeds in WAL mode, so it must ask for the lock); score requests answer 503
with `Retry-After` once the busy timeout passes, not after waiting it out again, and write
nothing; a lock held briefly is no outage; both recover once the lock is let go. The service
then stops at once after an aborted upload (`test_service.stops_at_once_after_an_aborted_upload`:
it needs a service of a test's own, which this one is)."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.processes import LOOPBACK_TLS, free_port, stop_process_group

from .conftest import Served, start_service
from .test_service import as_records, materialized, stops_at_once_after_an_aborted_upload

TASK = "telecom-fraud"
BUSY_TIMEOUT_S = 2.0  # RISKLOOP_STORE_BUSY_TIMEOUT_S for the service under test
READINESS_GRACE_S = 1.0  # serving.store.sqlite.WRITE_LOCK_GRACE_S


def _timed(
    call: httpx.Client, method: str, path: str, **kwargs: object
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = call.request(method, path, **kwargs)  # type: ignore[arg-type]
    return answer, time.monotonic() - started


def _recorded(database: Path) -> tuple[int, int]:
    """(scored records, score-request audit rows) in the store, read beside the service."""
    with sqlite3.connect(database) as connection:
        (records,) = connection.execute("SELECT count(*) FROM scored_records").fetchone()
        (requests,) = connection.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'score_request'"
        ).fetchone()
    return records, requests


def test_a_held_sqlite_write_lock_turns_readiness_and_writes_to_503(
    served: Served, serving_root: Path, tmp_path: Path
) -> None:
    """A held write lock: readiness and writes answer 503 and recover (the module's words);
    then an aborted upload, and SIGTERM stops the service at once."""
    database = tmp_path / "locked.db"
    port = free_port()
    process, log = start_service(
        serving_root,
        port,
        extra_env={
            "RISKLOOP_STORE_URL": f"sqlite:///{database}",
            "RISKLOOP_STORE_BUSY_TIMEOUT_S": str(BUSY_TIMEOUT_S),
        },
    )
    # the test's own connection; a timer thread lets its lock go
    locker = sqlite3.connect(database, isolation_level=None, timeout=10, check_same_thread=False)
    try:
        assert process.poll() is None, log.read_text()[-4000:]
        body = {"records": as_records(TASK, materialized(served, TASK).head(1))}
        score = ("POST", f"/v1/{TASK}/score")
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=60,
            verify=LOOPBACK_TLS,
            headers=served.headers(),
        ) as client:
            first = client.post(score[1], json=body)
            assert first.status_code == 200, first.text
            before = _recorded(database)
            time.sleep(READINESS_GRACE_S + 0.2)  # that commit no longer vouches for the lock

            # a lock held for less than the grace (another writer's short transaction): ready
            locker.execute("BEGIN IMMEDIATE")
            threading.Timer(0.3, locker.execute, ("ROLLBACK",)).start()
            brief, _ = _timed(client, "GET", "/readyz")
            assert brief.status_code == 200, brief.text
            time.sleep(0.5)  # the brief lock is let go

            locker.execute("BEGIN EXCLUSIVE")  # held, as by a process that stopped mid-write
            ready, waited = _timed(client, "GET", "/readyz")
            assert ready.status_code == 503, (ready.status_code, ready.text)
            assert waited < READINESS_GRACE_S + 1.5, waited

            # the lock is let go between one and two busy timeouts after the requests: before
            # the fix, a score request waited it out again alone and answered 200 after it
            release = threading.Timer(1.6 * BUSY_TIMEOUT_S, locker.execute, ("ROLLBACK",))
            with ThreadPoolExecutor(3) as pool:
                sent = [
                    pool.submit(_timed, client, *score, json=body),
                    pool.submit(_timed, client, *score, json=body),
                    pool.submit(_timed, client, "GET", "/v1/warnings"),
                ]
                release.start()
                answers = [future.result() for future in sent]
            for answer, elapsed in answers:
                assert answer.status_code == 503, (answer.status_code, answer.text, elapsed)
                assert answer.headers["retry-after"] == "5"
                assert "warnings store is not answering" in answer.json()["error"]
                assert BUSY_TIMEOUT_S - 0.5 <= elapsed < BUSY_TIMEOUT_S + 1.5, elapsed
            release.join()
            assert _recorded(database) == before  # nothing of the refused requests

            deadline = time.monotonic() + 10
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "not ready again after the lock was let go"
                time.sleep(0.2)
            after = client.post(score[1], json=body)
            assert after.status_code == 200, after.text
            assert _recorded(database) == (before[0] + 1, before[1] + 1)
        assert "Traceback" not in log.read_text()
        stops_at_once_after_an_aborted_upload(process, port, served.headers()["Authorization"])
    finally:
        locker.close()
        stop_process_group(process)
