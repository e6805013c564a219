"""Concurrent writers lose nothing, and a SIGKILL never takes back an acknowledged write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text

import serving.store
from serving.store import WarningStore

TASK = "dispute-escalation"
WALK = [
    ("dispatched", "mediation centre", None),
    ("in_progress", None, None),
    ("closed", None, "prevented"),
]
ORDER = {"open": 0, "dispatched": 1, "in_progress": 2, "closed": 3}

# A worker process: walks its warnings through WALK, printing an acknowledgement after each
# committed step, as the service answers 2xx only after the store returns.
WORKER = """
import sys
from serving.store import WarningStore
url, secret, worker = sys.argv[1], sys.argv[2], sys.argv[3]
ids = sys.argv[4:]
store = WarningStore(url, secret)
walk = [("dispatched", "mediation centre", None), ("in_progress", None, None),
        ("closed", None, "prevented")]
for status, department, outcome in walk:
    for warning_id in ids:
        store.add_feedback(warning_id, actor=worker, status=status, department=department,
                           outcome=outcome, note=None)
        print("ACK", warning_id, status, flush=True)
print("DONE", flush=True)
"""


def _raise(store: WarningStore, scored: Callable, n: int) -> list[str]:
    ids = store.record_scores(
        actor="scorer",
        task=TASK,
        model_name="m",
        model_version="1",
        results=[scored(f"D{i:03d}", 0.7, "orange") for i in range(n)],
    )
    return [warning_id for warning_id in ids if warning_id is not None]


def _assert_consistent(store: WarningStore, ids: list[str]) -> None:
    """Each warning's history and the audit log agree with its status, step by step."""
    audited: dict[str, list[str]] = {}
    for row in store.audit_rows():
        if row["action"] == "disposition":
            audited.setdefault(row["detail"]["warning_id"], []).append(row["detail"]["to"])
    for warning_id in ids:
        warning = store.get_warning(warning_id)
        steps = [event["to"] for event in warning["history"] if event["event"] == "disposition"]
        assert steps == [status for status, _, _ in WALK][: ORDER[warning["status"]]]
        assert audited.get(warning_id, []) == steps
        assert (warning["outcome"] == "prevented") == (warning["status"] == "closed")


def test_threads_writing_feedback_and_scores_lose_nothing(
    store: WarningStore, scored: Callable
) -> None:
    ids = _raise(store, scored, 24)
    errors: list[BaseException] = []

    def walk(chunk: list[str]) -> None:
        try:
            for status, department, outcome in WALK:
                for warning_id in chunk:
                    store.add_feedback(
                        warning_id,
                        actor="clerk",
                        status=status,
                        department=department,
                        outcome=outcome,
                        note=None,
                    )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    def rescore() -> None:
        try:
            for round_ in range(5):
                level, score = ("red", 0.8) if round_ % 2 else ("orange", 0.7)
                store.record_scores(
                    actor="scorer",
                    task=TASK,
                    model_name="m",
                    model_version=str(round_),
                    results=[scored(f"D{i:03d}", score, level) for i in range(24)],
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=walk, args=(ids[i::6],)) for i in range(6)]
    threads.append(threading.Thread(target=rescore))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.list_warnings(task=TASK, status="closed")["total"] == 24
    assert store.list_warnings(task=TASK)["total"] == 24  # re-scoring never duplicated
    _assert_consistent(store, ids)


def _start_worker(url: str, name: str, ids: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, url, "secret", name, *ids],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _acks(lines: list[str]) -> dict[str, str]:
    """Newest acknowledged status per warning."""
    acked: dict[str, str] = {}
    for line in lines:
        parts = line.split()
        if parts and parts[0] == "ACK":
            acked[parts[1]] = parts[2]
    return acked


def test_processes_killed_mid_stream_keep_every_acknowledged_write(
    store_url: str, scored: Callable
) -> None:
    """Two worker processes write feedback; one is SIGKILLed part-way, the other finishes."""
    with WarningStore(store_url, "secret") as store:
        ids = _raise(store, scored, 40)
    survivor = _start_worker(store_url, "worker-a", ids[:20])
    victim = _start_worker(store_url, "worker-b", ids[20:])
    assert victim.stdout is not None
    victim_lines: list[str] = []
    deadline = time.monotonic() + 60
    while len(victim_lines) < 25 and time.monotonic() < deadline:  # mid-way through step two
        victim_lines.append(victim.stdout.readline())
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    victim_lines += victim.stdout.read().splitlines()
    survivor_out, _ = survivor.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert survivor.returncode == 0 and survivor_out.splitlines()[-1] == "DONE"
    victim_acks = _acks(victim_lines)
    assert 0 < len([line for line in victim_lines if line.startswith("ACK")]) < 60

    with WarningStore(store_url, "secret") as reopened:
        if store_url.startswith("sqlite"):
            with reopened.engine.connect() as connection:
                assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        for warning_id, status in (_acks(survivor_out.splitlines()) | victim_acks).items():
            assert ORDER[reopened.get_warning(warning_id)["status"]] >= ORDER[status]
        assert all(reopened.get_warning(i)["status"] == "closed" for i in ids[:20])
        _assert_consistent(reopened, ids)


def test_record_scores_takes_no_round_trip_a_row(store: WarningStore, scored: Callable) -> None:
    """1,000 records are written in as many statements as one, give or take a few batches: a
    per-row round trip would be a thousand more. (Counted, not timed: the speed itself is
    `make bench`'s; a time ceiling here failed under a loaded CI machine, 5.9 s against 5.)"""
    from sqlalchemy import event

    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    def write(n_records: int, prefix: str) -> int:
        results = [
            scored(f"{prefix}{i:05d}", 0.5, "yellow" if i % 10 == 0 else "green")
            for i in range(n_records)
        ]
        statements.clear()
        store.record_scores(
            actor="scorer", task=TASK, model_name="m", model_version="1", results=results
        )
        return len(statements)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        one, thousand = write(1, "A"), write(1000, "B")
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert one > 0
    assert thousand <= one + 10, (one, thousand)


def test_workers_starting_together_migrate_once(store_url: str) -> None:
    """Several service workers opening a brand-new store at once: one migrates, none fails."""
    # each worker imports first, says so, then waits for the go line so the openings overlap
    opener = (
        "import sys\n"
        "from serving.store import WarningStore\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "WarningStore(sys.argv[1], 's')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", opener, store_url],
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], errors
    with WarningStore(store_url, "s") as store, store.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (_head_revision(),)
        ]


def _head_revision() -> str:
    """The newest migration's id (one head: the revisions form a single chain)."""
    script = ScriptDirectory(str(Path(serving.store.__file__).with_name("migrations")))
    (head,) = script.get_heads()
    return str(head)


def test_concurrent_first_scores_raise_one_warning_per_entity(
    store: WarningStore, scored: Callable
) -> None:
    """Racing requests that each raise the same new warnings: the unique key and a retry
    leave exactly one warning per entity, and every request still gets an id back (each
    request's own score, so the three that lose the race each update the warning)."""
    barrier = threading.Barrier(4)
    answers: list[list[str | None]] = []
    errors: list[BaseException] = []

    def score(worker: int) -> None:
        try:
            barrier.wait()
            answers.append(
                store.record_scores(
                    actor=f"scorer-{worker}",
                    task=TASK,
                    model_name="m",
                    model_version="1",
                    results=[scored(f"N{i:03d}", 0.9 + worker / 100, "red") for i in range(30)],
                )
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=score, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(answers) == 4 and all(answer == answers[0] for answer in answers)
    assert store.list_warnings(task=TASK)["total"] == 30
    history = store.get_warning(str(answers[0][0]))["history"]
    assert [event["event"] for event in history] == ["raised"] + ["score_update"] * 3


@contextmanager
def _writes_held(store: WarningStore, warning_id: str) -> Iterator[None]:
    """Another transaction holding the warning, as a disposition being written does: its row
    locked (PostgreSQL), or the database's one write lock (SQLite)."""
    if store.is_sqlite:
        other = sqlite3.connect(str(store.engine.url.database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("COMMIT")
            other.close()
        return
    with store.engine.connect() as other, other.begin():
        other.execute(text("SELECT id FROM warnings WHERE id = :id FOR UPDATE"), {"id": warning_id})
        yield


def test_a_rescore_that_waited_for_a_warning_is_dated_when_it_was_applied(
    store: WarningStore, scored: Callable
) -> None:
    """A re-score that waited for a warning another transaction held (a disposition being
    written) was dated when it began, not when it was applied: on PostgreSQL a history read
    `disposition` (closed) at 16:00:13.514 followed by `score_after_close` at 16:00:13.501,
    and the warning's `updated_at` went back in time."""
    (warning_id,) = _raise(store, scored, 1)
    errors: list[BaseException] = []

    def rescore() -> None:
        try:
            store.record_scores(
                actor="scorer",
                task=TASK,
                model_name="m",
                model_version="1",
                results=[scored("D000", 0.8, "orange")],
            )
        except BaseException as exc:
            errors.append(exc)

    with _writes_held(store, warning_id):
        waiting = threading.Thread(target=rescore)
        waiting.start()
        time.sleep(0.5)  # the re-score has begun and waits for the warning
        released = datetime.now(UTC)
    waiting.join()
    assert errors == []
    warning = store.get_warning(warning_id)
    assert [event["event"] for event in warning["history"]] == ["raised", "score_update"]
    assert datetime.fromisoformat(warning["history"][-1]["at"]) >= released
    assert datetime.fromisoformat(warning["updated_at"]) >= released


def test_a_warning_read_while_it_is_worked_is_one_moments_warning(
    store: WarningStore, scored: Callable
) -> None:
    """A read of one warning is two statements (the warning, then its history): on
    PostgreSQL each saw its own snapshot, so a step committed in between gave a warning still
    `open` at version 1 whose history already held its dispatch (2 reads in 720 here). The
    warning, its history and a listing's page and total are each read from one snapshot."""
    ids = _raise(store, scored, 60)
    done = threading.Event()
    torn: list[tuple[str, list[str], int]] = []
    reads: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for status, department, outcome in WALK:
                for warning_id in ids:
                    store.add_feedback(
                        warning_id,
                        actor="worker",
                        status=status,
                        department=department,
                        outcome=outcome,
                        note=None,
                    )
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        count = 0
        while not done.is_set():
            for warning_id in ids:
                warning = store.get_warning(warning_id)
                steps = [e["to"] for e in warning["history"] if e["event"] == "disposition"]
                if (steps or ["open"])[-1] != warning["status"] or warning["version"] != len(
                    steps
                ) + 1:
                    torn.append((warning["status"], steps, warning["version"]))
                count += 1
        reads.append(count)

    threads = [threading.Thread(target=work)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(reads) > 1000
    assert torn == []
