"""SQLite's WAL is checkpointed by the store's own thread after commits, not by the commit that
outgrew it (which made a 1,000-record write two or three times slower every few requests)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from serving.store import WarningStore
from serving.store.sqlite import AUTOCHECKPOINT_PAGES
from tests.serving.store.conftest import SECRET

THREAD = "riskloop-store-checkpoint"


def _checkpointers() -> int:
    return sum(thread.name == THREAD for thread in threading.enumerate())


def _grows(path: Path, size: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if path.stat().st_size > size:
            return True
        time.sleep(0.02)
    return False


def test_commits_leave_the_checkpoint_to_the_stores_thread(
    tmp_path: Path, scored: Callable[..., dict[str, object]]
) -> None:
    """Each batch's pages reach the database file after its commit, copied by the store's
    checkpoint thread (a commit would not checkpoint below `AUTOCHECKPOINT_PAGES`), so the
    next writer starts the log over: five batches leave a log less than twice the first's
    size (each batch touches a few more index pages), where without the thread it would hold
    all five (and the database file would not grow)."""
    path = tmp_path / "store.db"
    wal = tmp_path / "store.db-wal"
    store = WarningStore(f"sqlite:///{path}", SECRET)
    try:
        with store.engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == AUTOCHECKPOINT_PAGES
        wal_sizes = []
        for batch in range(5):
            results = [
                scored(f"E-{batch}-{i}", 0.9, "red", features={"note": "x" * 200, "i": i})
                for i in range(300)
            ]
            before = path.stat().st_size
            store.record_scores(
                actor="test",
                task="wage-arrears",
                model_name="m",
                model_version="1",
                results=results,
            )
            wal_sizes.append(wal.stat().st_size)
            assert _grows(path, before), f"batch {batch} never reached the database file"
        with sqlite3.connect(path) as reader:
            page_size = reader.execute("PRAGMA page_size").fetchone()[0]
        assert wal_sizes[0] // page_size < AUTOCHECKPOINT_PAGES  # no commit checkpointed
        assert wal_sizes[-1] < wal_sizes[0] * 2, wal_sizes
    finally:
        store.close()


def test_closing_the_store_ends_its_checkpoint_thread(tmp_path: Path) -> None:
    running = _checkpointers()
    store = WarningStore(f"sqlite:///{tmp_path / 'store.db'}", SECRET)
    assert _checkpointers() == running + 1
    store.close()
    assert _checkpointers() == running


def test_an_in_memory_store_has_no_checkpoint_thread() -> None:
    """No WAL to checkpoint, and a thread of its own would open another, empty database."""
    running = _checkpointers()
    store = WarningStore("sqlite://", SECRET)
    try:
        assert _checkpointers() == running
        store.record_scores(
            actor="test", task="wage-arrears", model_name="m", model_version="1", results=[]
        )
    finally:
        store.close()
