"""Group commit: concurrent score writes share transactions, each caller gets its own answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from serving.store import ScoreWrite, WarningStore

from .conftest import SECRET

TASK = "wage-arrears"
N_WRITERS = 6


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.fixture()
def sqlite_store(tmp_path: Path) -> Iterator[WarningStore]:
    """Group commit is SQLite's (one writer at a time), so these tests run on SQLite."""
    with WarningStore(f"sqlite:///{tmp_path / 'store.db'}", SECRET) as store:
        yield store


def _commits(store: WarningStore) -> list[int]:
    counted = [0]

    @event.listens_for(store.engine, "commit")
    def _count(_connection: Any) -> None:
        counted[0] += 1

    return counted


def test_writes_waiting_behind_a_commit_share_the_next_one(
    sqlite_store: WarningStore, scored: Callable
) -> None:
    """The first writer holds its transaction open until the others queue behind it: they
    are then written together, in one transaction, in arrival order, and each caller gets
    its own warning ids; the audit log has every request."""
    store = sqlite_store
    grouped = store._grouped
    assert grouped is not None
    release = threading.Event()
    commits = _commits(store)
    answers: dict[int, list[str | None]] = {}
    errors: list[BaseException] = []

    def first(session: Session) -> list[str | None]:
        session.execute(text("SELECT 1"))  # a transaction that reaches the database
        release.wait(20)
        return ["held"]

    def writer(index: int) -> None:
        try:
            if index == 0:
                answers[index] = grouped.submit(first)
                return
            answers[index] = store.record_scores(
                actor=f"scorer-{index}",
                task=TASK,
                model_name="m",
                model_version="1",
                results=[
                    scored("SHARED", 0.9 + index / 100, "red"),  # a new score: an update each
                    scored(f"OWN{index}", 0.1, "green"),
                ],
            )
        except BaseException as exc:  # surfaced by the assertions below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(0,))]
    threads[0].start()
    _wait_for(lambda: grouped._leading, "the first writer to lead")
    for index in range(1, N_WRITERS):
        threads.append(threading.Thread(target=writer, args=(index,)))
        threads[-1].start()
        _wait_for(lambda index=index: len(grouped._pending) == index, "writers to queue")
    before = commits[0]
    release.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert commits[0] - before == 2  # the held one, then the five queued behind it together
    assert answers[0] == ["held"]
    shared_ids = {answers[i][0] for i in range(1, N_WRITERS)}
    assert len(shared_ids) == 1 and all(answers[i][1] is None for i in range(1, N_WRITERS))
    warning = store.get_warning(str(shared_ids.pop()))
    assert [e["event"] for e in warning["history"]] == ["raised"] + ["score_update"] * 4
    actors = [row["actor"] for row in store.audit_rows() if row["action"] == "score_request"]
    assert actors == [f"scorer-{i}" for i in range(1, N_WRITERS)]  # arrival order


def test_a_failing_write_fails_alone(sqlite_store: WarningStore, scored: Callable) -> None:
    """A write that raises inside a shared transaction gets its own error; the writes grouped
    with it are retried alone and committed."""
    store = sqlite_store
    grouped = store._grouped
    assert grouped is not None
    release = threading.Event()
    outcome: dict[str, Any] = {}

    def held(session: Session) -> str:
        release.wait(20)
        return "held"

    def broken(session: Session) -> str:
        raise ValueError("this write is broken")

    def run(name: str, work: Callable[[], Any]) -> None:
        try:
            outcome[name] = work()
        except BaseException as exc:
            outcome[name] = exc

    jobs = {
        "held": lambda: grouped.submit(held),
        "broken": lambda: grouped.submit(broken),
        "good": lambda: store.record_scores(
            actor="good",
            task=TASK,
            model_name="m",
            model_version="1",
            results=[scored("GOOD", 0.9, "red")],
        ),
    }
    threads = []
    for count, (name, work) in enumerate(jobs.items()):
        threads.append(threading.Thread(target=run, args=(name, work)))
        threads[-1].start()
        if count == 0:
            _wait_for(lambda: grouped._leading, "the first writer to lead")
        else:
            _wait_for(lambda count=count: len(grouped._pending) == count, "writers to queue")
    release.set()
    for thread in threads:
        thread.join()
    assert outcome["held"] == "held"
    assert isinstance(outcome["broken"], ValueError)
    good_id = outcome["good"][0]
    assert store.get_warning(good_id)["risk_level"] == "red"
    assert not grouped._leading and not grouped._pending


def test_writes_queued_without_a_waiting_thread_share_a_commit(
    sqlite_store: WarningStore, scored: Callable
) -> None:
    """`record_prepared_later` (the score route's write from the event loop) queues without a
    thread waiting: writes queued behind a held transaction are committed together by the
    store's writer thread, in arrival order, and each future answers its own ids."""
    store = sqlite_store
    grouped = store._grouped
    assert grouped is not None
    release = threading.Event()
    commits = _commits(store)

    def first(session: Session) -> list[str | None]:
        session.execute(text("SELECT 1"))
        release.wait(20)
        return ["held"]

    held = grouped.submit_future(first)
    _wait_for(lambda: grouped._leading and not grouped._pending, "the writer thread to lead")
    futures = []
    for index in range(1, N_WRITERS):
        prepared = store.prepare_scores(  # SHARED at a new score: raised, then updated
            [scored("SHARED", 0.9 + index / 100, "red"), scored(f"OWN{index}", 0.1, "green")]
        )
        futures.append(
            store.record_prepared_later(ScoreWrite(f"scorer-{index}", TASK, "m", "1", prepared))
        )
    assert not any(future.done() for future in [held, *futures])  # none answered uncommitted
    before = commits[0]
    release.set()
    answers = [future.result(timeout=20) for future in futures]
    assert held.result(timeout=20) == ["held"]
    assert commits[0] - before == 2
    assert len({ids[0] for ids in answers}) == 1 and all(ids[1] is None for ids in answers)
    history = store.get_warning(str(answers[0][0]))["history"]
    assert [e["event"] for e in history] == ["raised"] + ["score_update"] * (N_WRITERS - 2)
    actors = [row["actor"] for row in store.audit_rows() if row["action"] == "score_request"]
    assert actors == [f"scorer-{i}" for i in range(1, N_WRITERS)]
    _wait_for(lambda: not grouped._leading, "the lead to be given up")
    assert not grouped._pending


def test_a_thread_queued_behind_the_writer_thread_leads_the_next_group(
    sqlite_store: WarningStore, scored: Callable
) -> None:
    """A blocking writer queued behind a group the writer thread leads is woken to lead the
    next group on its own thread, with the queued writes behind it; a write in that group that
    fails gets its own error through its future, and the others are still committed."""
    store = sqlite_store
    grouped = store._grouped
    assert grouped is not None
    release = threading.Event()

    def held(session: Session) -> str:
        release.wait(20)
        return threading.current_thread().name

    def ran_on(session: Session) -> str:
        session.execute(text("SELECT 1"))
        return threading.current_thread().name

    def broken(session: Session) -> str:
        raise ValueError("this write is broken")

    first = grouped.submit_future(held)
    _wait_for(lambda: grouped._leading and not grouped._pending, "the writer thread to lead")
    outcome: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: outcome.update(blocking=grouped.submit(ran_on)), name="blocking-writer"
    )
    thread.start()
    _wait_for(lambda: len(grouped._pending) == 1, "the blocking writer to queue")
    behind = grouped.submit_future(ran_on)
    failing = grouped.submit_future(broken)
    good = store.record_prepared_later(
        ScoreWrite("good", TASK, "m", "1", store.prepare_scores([scored("GOOD", 0.9, "red")]))
    )
    release.set()
    thread.join(20)
    assert first.result(timeout=20).startswith("riskloop-store-writer")
    assert outcome["blocking"] == "blocking-writer"
    assert behind.result(timeout=20) == "blocking-writer"  # led by the woken thread
    assert isinstance(failing.exception(timeout=20), ValueError)
    good_id = good.result(timeout=20)[0]
    assert store.get_warning(str(good_id))["risk_level"] == "red"
    _wait_for(lambda: not grouped._leading, "the lead to be given up")
    assert not grouped._pending


def test_close_commits_what_was_queued(tmp_path: Path, scored: Callable) -> None:
    """Closing the store waits for the writes its writer thread still holds: none is lost."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = WarningStore(url, SECRET)
    futures = [
        store.record_prepared_later(
            ScoreWrite(
                "closing", TASK, "m", "1", store.prepare_scores([scored(f"CLOSE{i}", 0.9, "red")])
            )
        )
        for i in range(20)
    ]
    store.close()
    assert all(future.done() for future in futures)
    with WarningStore(url, SECRET) as reopened:
        ids = {str(future.result()[0]) for future in futures}
        assert {reopened.get_warning(i)["risk_level"] for i in ids} == {"red"}


def test_a_write_queued_for_later_is_the_same_write(store: WarningStore, scored: Callable) -> None:
    """On every backend (PostgreSQL: a pool of writer threads), `record_prepared_later`
    stores what `record_prepared` stores: the entity scored again (a new score) updates its
    warning."""
    ids = []
    for call, score in (("record_prepared", 0.9), ("record_prepared_later", 0.95)):
        prepared = store.prepare_scores(
            [scored("TWICE", score, "red"), scored("LOW", 0.1, "green")]
        )
        answer = getattr(store, call)(ScoreWrite(call, TASK, "m", "1", prepared))
        ids.append(answer if call == "record_prepared" else answer.result(timeout=20))
    assert ids[0] == ids[1] and ids[0][1] is None
    warning = store.get_warning(str(ids[0][0]))
    assert [e["event"] for e in warning["history"]] == ["raised", "score_update"]
