"""The SQLite side of the store: engine settings (WAL, synchronous, busy timeout, explicit
BEGINs), the WAL's checkpoints on a thread of their own, whether a write could take the lock
now (readiness), JSON columns' text, and the driver-level INSERT of a request's scored
records."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import (
    Engine,
    Table,
    create_engine,
    event,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from models.settings import get_settings, postgres_connect_args
from serving.store.common import table_of
from serving.store.models import ScoredRecord

logger = logging.getLogger("riskloop.store")

#: The WAL's size (pages) at which a commit checkpoints it itself (SQLite's default is 1,000):
#: the store's `WalCheckpointer` checkpoints after commits (at most every `CHECKPOINT_EVERY_S`),
#: off the committing thread, and this is only the fallback should it fall behind (a reader
#: holding an old snapshot).
AUTOCHECKPOINT_PAGES = 10_000
#: The least time between two of `WalCheckpointer`'s checkpoints (seconds).
CHECKPOINT_EVERY_S = 0.25

#: How long readiness waits for the write lock (and how recent a commit of this process's
#: spares it the wait): longer than a write of the service's own, short for a probe's timeout.
WRITE_LOCK_GRACE_S = 1.0


def bind_processor(column: Any, dialect: Any) -> Callable[[Any], Any]:
    """The column type's bind processor on `dialect` (identity where the type has none)."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else unchanged


def unchanged(value: Any) -> Any:
    return value


def create_store_engine(url: str) -> Engine:
    """An engine with the durability and locking settings the store relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": sqlite_busy_timeout_s()},
            json_serializer=json_text,
        )
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_owner_only(Path(database))
        configure_sqlite(engine)
        return engine
    return create_engine(
        url, pool_pre_ping=True, json_serializer=json_text, connect_args=postgres_connect_args(url)
    )


def _create_owner_only(path: Path) -> None:
    """Create the database file readable by its owner only (0600) if it does not exist.

    It holds pseudonyms, encrypted ids, notes and the audit log; SQLite would create it under
    the process umask (often 0644), and gives its WAL and shared-memory files the database
    file's mode, so creating it first covers all three.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class SerialisedJSON(str):
    """A JSON column's text made ahead of the write (`serialised`); written as it is."""


def serialised(value: Any) -> SerialisedJSON:
    return SerialisedJSON(json_text(value))


def json_text(value: Any) -> str:
    """JSON columns' text via pydantic-core: about 3x faster than `json.dumps` on a request's
    reasons and features; UTF-8 rather than \\u escapes, the same JSON when read back."""
    if isinstance(value, SerialisedJSON):
        return str.__str__(value)
    return pydantic_core.to_json(value).decode("utf-8")


def sqlite_synchronous() -> str:
    """SQLite's `synchronous` level: NORMAL unless `RISKLOOP_STORE_SYNCHRONOUS` says FULL/EXTRA.

    In WAL mode NORMAL syncs the log only at checkpoints: a commit still survives the process
    being killed (the WAL is in the OS page cache), and only a power loss or OS crash can lose
    the last transactions. FULL also syncs every commit, which cost most of a single-record
    score request's store write (a few ms per fsync here).
    """
    return get_settings().store_synchronous


def sqlite_busy_timeout_s() -> float:
    """How long a write waits for SQLite's write lock before it fails (the request: 503 with
    `Retry-After`): 30 s unless `RISKLOOP_STORE_BUSY_TIMEOUT_S` says otherwise."""
    return get_settings().store_busy_timeout_s


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite's write lock outlasted the busy timeout (SQLITE_BUSY): the transaction never took
    the lock, so every write waiting for it now would wait out the busy timeout too."""
    cause = getattr(exc, "orig", None) or exc
    code = getattr(cause, "sqlite_errorcode", None)
    return (
        isinstance(cause, sqlite3.OperationalError)
        and code is not None
        and (code & 0xFF == sqlite3.SQLITE_BUSY)
    )


class WriteOutcomes:
    """When this process's last write transaction on the store committed, and when one last
    failed on the busy timeout (monotonic seconds), as the engine's events report them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._committed_at: float | None = None
        self._lock_timeout_at: float | None = None

    def committed(self) -> None:
        with self._lock:
            self._committed_at = time.monotonic()

    def timed_out(self) -> None:
        with self._lock:
            self._lock_timeout_at = time.monotonic()

    def committed_within(self, seconds: float) -> bool:
        """A write committed in the last `seconds`, and none failed on the lock since."""
        with self._lock:
            committed, timed_out = self._committed_at, self._lock_timeout_at
        if committed is None or (timed_out is not None and timed_out >= committed):
            return False
        return time.monotonic() - committed <= seconds


def watch_writes(engine: Engine) -> WriteOutcomes:
    """The outcomes of the engine's write transactions (`riskloop_write`), from now on."""
    outcomes = WriteOutcomes()

    @event.listens_for(engine, "commit")
    def _on_commit(connection: Any) -> None:
        if connection.get_execution_options().get("riskloop_write", False):
            outcomes.committed()

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        if is_lock_timeout(context.original_exception):
            outcomes.timed_out()

    return outcomes


def write_lock_free(engine: Engine, outcomes: WriteOutcomes, grace_s: float) -> bool:
    """Whether a write could take SQLite's write lock now: one of this process's own committed
    within `grace_s` (under steady write traffic the lock is taken and let go all the time, and
    a probe could lose every race for it), or `BEGIN IMMEDIATE` gets it within `grace_s` and
    lets it go at once (`ROLLBACK`; nothing is written).

    A read (`SELECT 1`) succeeds in WAL mode while another connection holds the write lock, so
    it cannot tell; and the full busy timeout is too long for a readiness probe to wait.

    Raises:
        SQLAlchemyError: no pooled connection could be had (the store does not answer).
    """
    if outcomes.committed_within(grace_s):
        return True
    with engine.connect() as connection:
        driver = connection.connection.dbapi_connection
        assert driver is not None  # checked out for this block
        restored = False
        try:
            (usual,) = driver.execute("PRAGMA busy_timeout").fetchone()
            driver.execute(f"PRAGMA busy_timeout={round(grace_s * 1000)}")
            try:
                driver.execute("BEGIN IMMEDIATE")
                driver.execute("ROLLBACK")
            finally:
                driver.execute(f"PRAGMA busy_timeout={usual}")
                restored = True
        except sqlite3.Error:  # the lock is held (or the file cannot be written at all)
            if not restored:  # never hand a write a connection with the probe's short wait
                connection.invalidate()
            return False
    return True


def configure_sqlite(engine: Engine) -> None:
    """WAL + synchronous (`sqlite_synchronous`) + foreign keys + busy timeout, explicit BEGINs.

    pysqlite's own implicit transactions are switched off so the store decides: reads begin a
    deferred transaction (a consistent snapshot), writes `BEGIN IMMEDIATE` (take the write lock
    at once, wait up to the busy timeout, never fail half-way on a lock upgrade).
    """

    synchronous = sqlite_synchronous()
    busy_timeout_ms = round(sqlite_busy_timeout_s() * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("riskloop_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_file_database(engine: Engine) -> bool:
    """Whether an SQLite engine's database is a file (not `:memory:` nor a memory URI)."""
    database = engine.url.database
    memory = engine.url.query.get("mode") == "memory" or (database or "").find("mode=memory") >= 0
    return bool(database) and database != ":memory:" and not memory


def truncate_wal(cursor: Any, within_s: float) -> bool:
    """`PRAGMA wal_checkpoint(TRUNCATE)` on a driver cursor, again while another connection's
    checkpoint (another worker's `WalCheckpointer`) makes it answer busy, for up to
    `within_s`: a busy TRUNCATE copies nothing and leaves the log's bytes in the file.
    Whether it got through."""
    deadline = time.monotonic() + within_s
    while True:
        busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


class WalCheckpointer:
    """Checkpoints the store's WAL on a thread of its own after writes commit.

    SQLite checkpoints in the commit that takes the WAL past `wal_autocheckpoint` pages: that
    commit copies the log into the database file first, and a 1,000-record score request's
    write took 25-35 ms instead of 10-12 every few requests. Here a commit only wakes this
    thread, which runs a PASSIVE checkpoint (it takes no lock a writer or reader waits for,
    and copies what no reader still needs) on a connection of its own; the next writer then
    starts the log over. At most one checkpoint runs every `CHECKPOINT_EVERY_S`: the commits
    in between (hundreds a second of single-record requests) are copied together.
    `AUTOCHECKPOINT_PAGES` remains, should it fall behind.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._running = threading.Lock()  # held for each checkpoint (`paused`)
        self._said = False  # an unexpected failure, logged once
        self._thread = threading.Thread(
            target=self._run, name="riskloop-store-checkpoint", daemon=True
        )
        self._thread.start()

    def committed(self, *_: Any) -> None:
        """A write committed (a session's `after_commit`): checkpoint soon."""
        self._wake.set()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No checkpoint of this thread's runs in the block (one running is waited for): a
        purge's own TRUNCATE checkpoint would find it busy and leave the log as it is."""
        with self._running:
            yield

    def close(self) -> None:
        """Stop the thread (SQLite checkpoints once more as the last connection closes)."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                self._checkpoint()
            except (sqlite3.Error, SQLAlchemyError):
                # the database is gone or unreadable: the writes say so; a commit's own
                # checkpoint (`AUTOCHECKPOINT_PAGES`) still bounds the log
                pass
            except Exception:  # a defect: said once, and the thread goes on
                if not self._said:
                    self._said = True
                    logger.exception("the store's WAL checkpoint failed")
            self._stop.wait(CHECKPOINT_EVERY_S)  # commits meanwhile: one checkpoint after

    def _checkpoint(self) -> None:
        # the connection first: a pool at its limit makes this wait, not a purge's `paused`
        connection = self._engine.raw_connection()
        try:
            with self._running:
                driver = connection.driver_connection
                assert driver is not None  # checked out for this block
                driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()


@lru_cache(maxsize=256)
def _processors(
    table: Table, columns: tuple[str, ...], dialect: Any
) -> tuple[Callable[[Any], Any], ...]:
    """The bind processors of `table`'s `columns` on `dialect`, looked up once per statement
    shape (the lookup cost more than binding a single-record request's values)."""
    return tuple(bind_processor(table.c[name], dialect) for name in columns)


def _bound_rows(
    table: Table, columns: tuple[str, ...], rows: Sequence[dict[str, Any]], dialect: Any
) -> list[tuple[Any, ...]]:
    """Each row's values in `columns` order, bound by the columns' processors.

    Columns without a processor are taken as they are, and a value repeated from the row
    before (the request's `now` in every audit and history row) is bound once.
    """
    processors = _processors(table, columns, dialect)
    processed = [i for i, process in enumerate(processors) if process is not unchanged]
    if not processed:
        return [tuple(row[name] for name in columns) for row in rows]
    out: list[tuple[Any, ...]] = []
    last: list[tuple[Any, Any]] = [(_NOTHING, None)] * len(columns)
    for row in rows:
        values = [row[name] for name in columns]
        for i in processed:
            value = values[i]
            seen, bound = last[i]
            if value is not seen:
                bound = processors[i](value)
                last[i] = (value, bound)
            values[i] = bound
        out.append(tuple(values))
    return out


_NOTHING = object()


def _driver_connection(session: Session) -> Any:
    """The session's own DBAPI connection, inside its transaction."""
    connection = session.connection().connection.dbapi_connection
    assert connection is not None  # checked out for the session's transaction
    return connection


def _executemany(session: Session, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """`statement` for each row on the session's own DBAPI connection, in its transaction
    (SQLAlchemy's execution context cost more than a one-row insert itself)."""
    _driver_connection(session).executemany(statement, rows)


def insert_rows_sqlite(
    session: Session, dialect: Any, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """`session.execute(insert(table), rows)` straight to the SQLite driver: one executemany
    whose values are bound by each column's own SQLAlchemy processor, as Core binds them.

    Every row has the first row's keys (Core's executemany asks the same); the store's tables
    have no Python-side column defaults, so nothing else is filled in. For a 1,000-record
    request Core's per-row parameter handling cost more than SQLite's inserts.
    """
    if not rows:
        return
    columns = tuple(rows[0])
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    _executemany(
        session,
        f"INSERT INTO {table.name} ({names}) VALUES ({marks})",
        _bound_rows(table, columns, rows, dialect),
    )


def update_rows_sqlite(
    session: Session, dialect: Any, table: Table, key: str, rows: Sequence[dict[str, Any]]
) -> None:
    """`UPDATE table SET <the rows' other keys> WHERE key = ?` for each row, one executemany."""
    if not rows:
        return
    columns = tuple(name for name in rows[0] if name != key)
    assignments = ", ".join(f"{name} = ?" for name in columns)
    _executemany(
        session,
        f"UPDATE {table.name} SET {assignments} WHERE {key} = ?",
        _bound_rows(table, (*columns, key), rows, dialect),
    )


@lru_cache(maxsize=64)
def _result_processors(
    table: Table, columns: tuple[str, ...], dialect: Any
) -> tuple[Callable[[Any], Any], ...]:
    """The result processors of `table`'s `columns` on `dialect` (identity where none)."""
    out = []
    for name in columns:
        column = table.c[name]
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        out.append(process if process is not None else unchanged)
    return tuple(out)


def select_in_sqlite(
    session: Session,
    dialect: Any,
    table: Table,
    columns: tuple[str, ...],
    equal: dict[str, Any],
    within: dict[str, Sequence[Any]],
    order_by: str,
) -> list[dict[str, Any]]:
    """`SELECT columns FROM table WHERE k = v AND k2 IN (...) ORDER BY order_by` on the
    session's own SQLite connection, values bound and results converted by each column's
    SQLAlchemy processors, as Core does: the rows as dicts. (For a one-record score request
    the ORM session's statement handling cost more than the query.)"""
    names = (*equal, *within)
    clauses = [f"{name} = ?" for name in equal] + [
        f"{name} IN ({', '.join('?' for _ in values)})" for name, values in within.items()
    ]
    binders = _processors(table, names, dialect)
    params: list[Any] = [bind(value) for bind, value in zip(binders, equal.values(), strict=False)]
    for bind, values in zip(binders[len(equal) :], within.values(), strict=True):
        params.extend(bind(value) for value in values)
    sql = (
        f"SELECT {', '.join(columns)} FROM {table.name} WHERE {' AND '.join(clauses)} "
        f"ORDER BY {order_by}"
    )
    processors = _result_processors(table, columns, dialect)
    return [
        {
            name: process(value)
            for name, process, value in zip(columns, processors, row, strict=True)
        }
        for row in _driver_connection(session).execute(sql, params)
    ]


# the SQLite scored-records INSERT's columns, in its tuples' order: per row, then per request
_SCORED_RECORD_COLUMNS = (
    "entity_hash",
    "as_of",
    "score",
    "risk_level",
    "features",
    "district",
    "task",
    "model_name",
    "model_version",
    "created_at",
)


def insert_scored_records_sqlite(
    session: Session,
    dialect: Any,
    task: str,
    model_name: str,
    model_version: str,
    prepared: list[dict[str, Any]],
    now: datetime,
) -> None:
    """One executemany INSERT of a request's scored records, straight to the SQLite driver.

    The rows go to the driver as tuples, each value bound by its column type's own SQLAlchemy
    processor (the request's constants and dates once): for 1,000 rows Core's per-row
    parameter handling cost more than SQLite's insert itself.
    """
    table = table_of(ScoredRecord)
    entity, as_of, score, level, features, district, *per_request = _processors(
        table, _SCORED_RECORD_COLUMNS, dialect
    )
    days = {day: as_of(day) for day in {item["as_of"] for item in prepared}}
    constants = tuple(
        process(value)
        for process, value in zip(per_request, (task, model_name, model_version, now), strict=True)
    )
    columns = ", ".join(_SCORED_RECORD_COLUMNS)
    marks = ", ".join("?" for _ in _SCORED_RECORD_COLUMNS)
    _executemany(
        session,
        f"INSERT INTO {table.name} ({columns}) VALUES ({marks})",
        [
            (
                entity(item["entity_hash"]),
                days[item["as_of"]],
                score(item["score"]),
                level(item["risk_level"]),
                # text made ahead (`serialised`) is what the JSON processor would make of it
                text if type(text := item["features"]) is SerialisedJSON else features(text),
                district(item["district"]),
                *constants,
            )
            for item in prepared
        ],
    )
