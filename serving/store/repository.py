"""`WarningStore`: warnings, dispositions, the audit log and scored records behind SQLAlchemy.

One class, HTTP-free, used by the service and the CLI. Every write runs in one database
transaction; on SQLite the file is in WAL mode with `synchronous=NORMAL` (an acknowledged
commit survives a killed process; `RISKLOOP_STORE_SYNCHRONOUS=FULL` also survives a power
loss) and writers take the lock up front (`BEGIN IMMEDIATE`) so two workers never dead-end on
a read-to-write upgrade. The same code runs on PostgreSQL
(`postgresql+psycopg://...`), where rows being changed are locked with `SELECT ... FOR UPDATE`.

The store is split by job: `scores.py` writes score requests (and `sqlite.py` its SQLite
driver-level path, `group_commit.py` the shared transactions of concurrent ones on SQLite),
`transitions.py` is the disposition state machine, `scrubbing.py` and
`pseudonym.py` keep identifiers out, `people.py` holds users and departments, `privacy.py`
reveals and purges; this module reads and writes warnings and the audit log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Text, cast, false, func, or_, select, true
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from models.departments import department_spellings
from models.secret_keys import load_secrets
from models.settings import Settings, get_settings
from serving.policy import VisibleScope, department_tasks
from serving.store import deadlines, outbox, walk
from serving.store.common import (
    Holder,
    StaleWarning,
    StoreUnavailable,
    T,
    WarningNotFound,
    is_retryable,
    iso_utc,
    timestamps,
    utc_bound,
    utc_now,
    warning_dict,
)
from serving.store.group_commit import GroupCommitter
from serving.store.identity import EntityCipher
from serving.store.models import (
    AuditEntry,
    RiskWarning,
    ScoredRecord,
    WarningEvent,
)
from serving.store.people import PeopleStore
from serving.store.privacy import PrivacyStore
from serving.store.pseudonym import pseudonymise, sanitise
from serving.store.scores import ScoreWriter
from serving.store.scrubbing import MemoScrubber
from serving.store.sqlite import create_store_engine
from serving.store.transitions import TransitionError, check_transition

MAX_PAGE_SIZE = 500
_MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK_KEY = 0x7269736B  # "risk": one advisory lock for schema upgrades
_WRITE_ATTEMPTS = 5


class WarningStore(ScoreWriter, PrivacyStore, PeopleStore):
    """The closed loop's records: warnings, their history, the audit log and scored records,
    and the people and departments who work them (`PeopleStore`)."""

    def __init__(self, url: str, pseudonym_secret: str, cipher: EntityCipher | None = None) -> None:
        """Connect to `url` and bring its schema to the newest revision.

        Args:
            url: SQLAlchemy URL, `sqlite:///path.db` or `postgresql+psycopg://...`.
            pseudonym_secret: HMAC key for identifiers (from the secrets; never stored).
            cipher: encrypts each new warning's entity id for audited re-identification;
                None keeps no encrypted id (tools that never raise warnings).
        """
        if not pseudonym_secret:
            raise ValueError("a pseudonym secret is required")
        self._secret = pseudonym_secret
        self._cipher = cipher
        self._scrub = MemoScrubber(pseudonym_secret)
        try:
            self._engine = create_store_engine(url)
        except (SQLAlchemyError, ImportError, OSError, ValueError) as exc:
            raise StoreUnavailable(url, exc) from exc
        self._is_sqlite = self._engine.dialect.name == "sqlite"
        write_engine = self._engine.execution_options(riskloop_write=True)
        # a read is often several statements (a warning and its history, a page and its
        # total): one snapshot for all of them, as SQLite's read transaction gives; a
        # read-only transaction at this level never fails on a concurrent write
        read_engine = (
            self._engine
            if self._is_sqlite
            else self._engine.execution_options(isolation_level="REPEATABLE READ")
        )
        self._reads = sessionmaker(read_engine, expire_on_commit=False)
        self._writes = sessionmaker(write_engine, expire_on_commit=False)
        # SQLite has one writer at a time: concurrent score requests share transactions
        self._grouped = (
            GroupCommitter(self._writes.begin, partial(self._write, retry_integrity=True))
            if self._is_sqlite
            else None
        )
        self._writers: ThreadPoolExecutor | None = None  # PostgreSQL's `_write_later`; on use
        self._writers_lock = threading.Lock()
        try:
            self.upgrade()
        except (SQLAlchemyError, ImportError, OSError) as exc:
            self._engine.dispose()
            raise StoreUnavailable(url, exc) from exc
        self.sync_departments(department_tasks())

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> WarningStore:
        """The store `RISKLOOP_STORE_URL` names, with the secrets file's keys."""
        settings = settings or get_settings()
        keys = load_secrets(settings)
        cipher = EntityCipher(keys.encryption_keys, keys.current_key_id)
        return cls(settings.store_url, keys.pseudonym_secret, cipher)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools; the product writes through methods)."""
        return self._engine

    def close(self) -> None:
        """Finish the writes queued on writer threads, then release pooled connections."""
        if self._grouped is not None:
            self._grouped.close()
        with self._writers_lock:
            writers, self._writers = self._writers, None
        if writers is not None:
            writers.shutdown(wait=True)
        self._engine.dispose()

    def __enter__(self) -> WarningStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upgrade(self) -> None:
        """Run Alembic `upgrade head` once, even with several workers starting together."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", self._engine.url.render_as_string(False))
        with self._engine.connect() as connection:
            connection.execution_options(riskloop_write=True)
            with connection.begin():
                if self._engine.dialect.name == "postgresql":
                    connection.exec_driver_sql(
                        f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK_KEY})"
                    )
                config.attributes["connection"] = connection
                command.upgrade(config, "head")

    def answers(self) -> bool:
        """Whether the store answers a trivial query now (the service's readiness probe)."""
        try:
            with self._engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError:
            return False
        return True

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite (naive UTC datetimes; see `serving.store.common.utc_bound`)."""
        return self._is_sqlite

    def run_write(self, work: Callable[[Session], T], *, retry_integrity: bool = False) -> T:
        """Run `work` in one write transaction (for the store's companions: outbox, deadlines)."""
        return self._write(work, retry_integrity=retry_integrity)

    def read_session(self) -> Any:
        """A read transaction's session context (`with store.read_session() as session:`)."""
        return self._reads.begin()

    def note_overdue(self, *, actor: str, task: str | None = None) -> list[str]:
        """One `overdue` event (history, audit, notification) per newly missed deadline.

        Returns the ids of the warnings that became overdue now. A read checks first, so the
        service's frequent sweeps take the write lock only when there is something to note.
        """
        now = utc_now()
        with self._reads.begin() as session:
            due = session.scalar(
                select(RiskWarning.id)
                .where(*deadlines.newly_overdue(now=now, is_sqlite=self._is_sqlite, task=task))
                .limit(1)
            )
        if due is None:
            return []
        return self._write(
            lambda session: deadlines.note_overdue(
                session, now=now, actor=actor, is_sqlite=self._is_sqlite, task=task
            )
        )

    def pseudonymise(self, identifier: str) -> str:
        """The stored form of a caller's identifier: HMAC-SHA256(secret, id), 32 hex chars."""
        return pseudonymise(self._secret, identifier)

    def add_feedback(
        self,
        warning_id: str,
        *,
        actor: str,
        status: str,
        department: str | None,
        outcome: str | None,
        note: str | None,
        expected_version: int | None = None,
        expected_holder: Holder | None = None,
    ) -> dict[str, Any]:
        """Move a warning one step through the state machine and record who did it and when.

        `expected_version`, when given, is the version the caller's form was filled against:
        if someone changed the warning since, nothing is written and `StaleWarning` says who.
        `expected_holder`, when given, is the (status, department) a permission was decided
        on: a re-score in between does not matter, a step or re-route by someone else does.

        Raises:
            WarningNotFound: no such warning.
            StaleWarning: the warning is no longer at `expected_version`.
            TransitionError: the step is not allowed; the message says why.
        """

        def write(session: Session) -> None:
            warning = self._locked_warning(session, warning_id, expected_version, expected_holder)
            check_transition(warning.status, status, department, outcome, warning.department)
            now = utc_now()
            previous = warning.status
            warning.status = status
            if status == "dispatched":
                warning.department = department
            if status == "closed":
                warning.outcome = outcome
                warning.closed_at = now
            self._record_disposition(session, warning, actor, previous, outcome, note, now)

        self._write(write)
        return self.get_warning(warning_id)

    def send_back(
        self,
        warning_id: str,
        *,
        actor: str,
        note: str,
        expected_version: int | None = None,
        expected_holder: Holder | None = None,
    ) -> dict[str, Any]:
        """Hand a dispatched or in-progress warning back to its task's supervisors (`open`).

        An officer who cannot act on a case (wrong department, nothing to do) says why in
        `note`; the department is cleared so the supervisor dispatches it afresh.

        Raises:
            WarningNotFound, StaleWarning: as `add_feedback`.
            TransitionError: the warning is open or closed, or the note is empty.
        """
        if not note or not note.strip():
            raise TransitionError("sending a warning back needs a note saying why")

        def write(session: Session) -> None:
            warning = self._locked_warning(session, warning_id, expected_version, expected_holder)
            if warning.status not in {"dispatched", "in_progress"}:
                raise TransitionError(
                    f"only a dispatched or in-progress warning can be sent back; it is "
                    f"{warning.status}"
                )
            previous = warning.status
            warning.status = "open"
            warning.department = None
            self._record_disposition(session, warning, actor, previous, None, note, utc_now())

        self._write(write)
        return self.get_warning(warning_id)

    def _locked_warning(
        self,
        session: Session,
        warning_id: str,
        expected_version: int | None,
        expected_holder: Holder | None = None,
    ) -> RiskWarning:
        """The warning locked for update, checked against the version the caller read and
        the (status, department) a permission was decided on."""
        warning = session.scalars(
            select(RiskWarning).where(RiskWarning.id == warning_id).with_for_update()
        ).one_or_none()
        if warning is None:
            raise WarningNotFound(warning_id)
        moved = expected_holder is not None and (
            (warning.status, warning.department) != expected_holder
        )
        if moved or (expected_version is not None and warning.version != expected_version):
            last = session.scalars(
                select(WarningEvent)
                .where(WarningEvent.warning_id == warning_id)
                .order_by(WarningEvent.id.desc())
                .limit(1)
            ).one_or_none()
            raise StaleWarning(
                warning_id,
                warning.version,
                last.actor if last is not None else "unknown",
                iso_utc(last.at if last is not None else warning.updated_at),
            )
        return warning

    def _record_disposition(
        self,
        session: Session,
        warning: RiskWarning,
        actor: str,
        previous: str,
        outcome: str | None,
        note: str | None,
        now: datetime,
    ) -> None:
        """A disposition's bookkeeping: version + 1, its history event and its audit row, the
        deadline it moves to, and the notification of the department it now waits on."""
        warning.updated_at = now
        warning.version = warning.version + 1
        # each disposition moves the deadline (and a new deadline has not been missed yet)
        warning.due_at = deadlines.due_at(warning.task, warning.risk_level, warning.status, now)
        warning.overdue_noted_at = None
        if warning.status == "dispatched":
            kind = "warning.rerouted" if previous == "dispatched" else "warning.dispatched"
            events = [(kind, warning.department, deadlines.warning_state(warning))]
            outbox.enqueue(session, events, now=now)
        elif warning.status == "open":  # sent back: the task's supervisors must dispatch again
            owner = deadlines.owner_department(warning.task)
            outbox.enqueue(
                session, [("warning.sent_back", owner, deadlines.warning_state(warning))], now=now
            )
        clean_note = sanitise(self._secret, note, self.own_ids(warning)) if note else None
        detail = {
            "from": previous,
            "to": warning.status,
            "department": warning.department,
            "outcome": outcome,
            "note": clean_note,
        }
        session.add(
            WarningEvent(
                warning_id=warning.id, event="disposition", at=now, actor=actor, detail=detail
            )
        )
        self._audit_row(
            session,
            actor,
            "disposition",
            {
                "warning_id": warning.id,
                "from": previous,
                "to": warning.status,
                "department": warning.department,
                "outcome": outcome,
            },
            task=warning.task,
            model_version=warning.model_version,
        )

    def _audit_row(
        self,
        session: Session,
        actor: str,
        action: str,
        detail: Mapping[str, Any],
        *,
        task: str | None = None,
        model_version: str | None = None,
    ) -> None:
        """Append one audit row in the caller's transaction (details scrubbed of id-like values)."""
        session.add(
            AuditEntry(
                at=utc_now(),
                actor=actor,
                action=action,
                task=task,
                model_version=None if model_version is None else str(model_version),
                detail=sanitise(self._secret, dict(detail)),
            )
        )

    def audit(
        self,
        *,
        actor: str,
        action: str,
        task: str | None = None,
        model_version: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one audit row (e.g. `model_reload`, `model_promotion`); details are scrubbed."""

        def write(session: Session) -> None:
            self._audit_row(
                session, actor, action, detail or {}, task=task, model_version=model_version
            )

        self._write(write)

    def refused(
        self,
        *,
        actor: str,
        action: str,
        rule: str,
        warning: Mapping[str, Any] | None = None,
        path: str | None = None,
        step: str | None = None,
    ) -> None:
        """Append the audit row of a refused attempt (`access_refused`): who tried which action
        (and which disposition `step`), on which warning (or route), and the rule that refused
        it. A refused look at a case is a look at a case too: the log shows who tried to see
        what they may not."""
        detail: dict[str, Any] = {"attempted": action, "rule": rule}
        if step is not None:
            detail["step"] = step
        if warning is not None:
            detail["warning_id"] = warning["id"]
        if path is not None:
            detail["path"] = path
        self.audit(
            actor=actor,
            action="access_refused",
            task=None if warning is None else warning.get("task"),
            model_version=None if warning is None else warning.get("model_version"),
            detail=detail,
        )

    # ---------------------------------------------------------------- reads

    def get_warning(self, warning_id: str) -> dict[str, Any]:
        """The warning with its full history, oldest first; raises `WarningNotFound`."""
        with self._reads.begin() as session:
            warning = session.get(RiskWarning, warning_id)
            if warning is None:
                raise WarningNotFound(warning_id)
            events = session.scalars(
                select(WarningEvent)
                .where(WarningEvent.warning_id == warning_id)
                .order_by(WarningEvent.id)
            ).all()
            item = warning_dict(warning)
            item["history"] = [
                {"event": e.event, "at": iso_utc(e.at), "actor": e.actor, **e.detail}
                for e in events
            ]
            return item

    def list_warnings(
        self,
        *,
        task: str | None = None,
        level: str | None = None,
        status: str | None = None,
        department: str | None = None,
        entity_id: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        overdue: bool | None = None,
        page: int = 1,
        page_size: int = 50,
        cursor: str | None = None,
        visible: VisibleScope | None = None,
    ) -> dict[str, Any]:
        """One page of warnings, newest first, filtered; `entity_id` is the caller's raw id.

        `department` is a code or either name; `date_from`/`date_to` bound the warning's as-of
        date, inclusive; `overdue` keeps only warnings past (True) or within (False) their
        response deadline. Items have the shape of `get_warning` without `history`.

        By page number, warnings made in the same instant come highest score first. With a
        `cursor` (`start`, then each page's `next_cursor`) the page is a step of a walk that
        sees each warning once while others arrive (`serving.store.walk`); `page` then counts
        pages after the cursor. `next_cursor` is None on the walk's last page, and always by
        page number. Raises `InvalidCursor`.
        """
        if page < 1:
            raise ValueError("page starts at 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        position = None if cursor is None else walk.decode(cursor)
        conditions = [] if visible is None else [_visible_condition(visible)]
        if task is not None:
            conditions.append(RiskWarning.task == task)
        if level is not None:
            conditions.append(RiskWarning.risk_level == level)
        if status is not None:
            conditions.append(RiskWarning.status == status)
        if department is not None:  # a code or either name, as dispatching takes them
            conditions.append(RiskWarning.department.in_(sorted(department_spellings(department))))
        if entity_id is not None:
            conditions.append(RiskWarning.entity_hash == self.pseudonymise(entity_id))
        if date_from is not None:
            conditions.append(RiskWarning.as_of >= date_from)
        if date_to is not None:
            conditions.append(RiskWarning.as_of <= date_to)
        if overdue is not None:
            late = deadlines.overdue(now=utc_now(), is_sqlite=self._is_sqlite)
            conditions.append(late if overdue else ~late)
        next_cursor = None
        with self._reads.begin() as session:
            total = session.scalar(select(func.count()).select_from(RiskWarning).where(*conditions))
            if cursor is None:
                rows = session.scalars(
                    select(RiskWarning)
                    .where(*conditions)
                    .order_by(
                        RiskWarning.created_at.desc(), RiskWarning.score.desc(), RiskWarning.id
                    )
                    .offset((page - 1) * page_size)
                    .limit(page_size)
                ).all()
            else:
                if position is not None:
                    conditions.append(walk.after(position))
                rows = session.scalars(
                    select(RiskWarning)
                    .where(*conditions)
                    .order_by(*walk.WALK_ORDER)
                    .offset((page - 1) * page_size)
                    .limit(page_size + 1)
                ).all()
                if len(rows) > page_size:
                    rows = rows[:page_size]
                    next_cursor = walk.encode(rows[-1].created_at, rows[-1].id)
            items = [warning_dict(row) for row in rows]
        return {
            "items": items,
            "total": int(total or 0),
            "page": page,
            "page_size": page_size,
            "next_cursor": next_cursor,
        }

    def audit_rows(
        self,
        *,
        since_id: int = 0,
        limit: int | None = None,
        warning_id: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Audit rows with id > `since_id`, in the order they were written.

        `warning_id` keeps the rows about one warning (raised, re-scored, looked at,
        dispositions, reveals); `actor` one actor's rows (`user:alice`, or a bare name matching
        any kind); `since` rows at or after a moment.
        """
        query = select(AuditEntry).where(AuditEntry.id > since_id).order_by(AuditEntry.id)
        if actor is not None:
            names = [actor] if ":" in actor else [f"{kind}:{actor}" for kind in _KINDS] + [actor]
            query = query.where(AuditEntry.actor.in_(names))
        if since is not None:
            query = query.where(AuditEntry.at >= utc_bound(self._is_sqlite, since))
        if warning_id is not None:
            # narrowed in SQL by the id's text, then exactly in Python (JSON differs by dialect)
            query = query.where(cast(AuditEntry.detail, Text).contains(warning_id))
        if limit is not None and warning_id is None:
            query = query.limit(limit)
        with self._reads.begin() as session:
            rows = [
                {
                    "id": row.id,
                    "at": iso_utc(row.at),
                    "actor": row.actor,
                    "action": row.action,
                    "task": row.task,
                    "model_version": row.model_version,
                    "detail": row.detail,
                }
                for row in session.scalars(query)
            ]
        if warning_id is not None:
            rows = [row for row in rows if _mentions(row["detail"], warning_id)][:limit]
        return rows

    def scored_records(self, *, task: str, since: datetime | None = None) -> pd.DataFrame:
        """Scored records of `task` (optionally since a time), one feature per column.

        Columns: entity_hash, as_of (datetime64), model_name, model_version, score, risk_level,
        created_at (UTC), then the features as the service recorded them.
        """
        query = select(ScoredRecord).where(ScoredRecord.task == task).order_by(ScoredRecord.id)
        if since is not None:
            query = query.where(ScoredRecord.created_at >= utc_bound(self._is_sqlite, since))
        with self._reads.begin() as session:
            rows = session.scalars(query).all()
            base = pd.DataFrame(
                {
                    "entity_hash": [row.entity_hash for row in rows],
                    "as_of": pd.to_datetime([row.as_of for row in rows]),
                    "model_name": [row.model_name for row in rows],
                    "model_version": [row.model_version for row in rows],
                    "score": pd.Series([row.score for row in rows], dtype="float64"),
                    "risk_level": [row.risk_level for row in rows],
                    "created_at": timestamps([row.created_at for row in rows]),
                }
            )
            features = pd.DataFrame.from_records([row.features for row in rows], index=base.index)
        return pd.concat([base, features], axis=1)

    def warnings_frame(self, *, task: str, since: datetime | None = None) -> pd.DataFrame:
        """All warnings of `task` (optionally created since a time) as a flat table.

        Columns: id, entity_hash, as_of (datetime64), score, risk_level, status, department,
        outcome, model_version, created_at, closed_at. For monitoring and feedback labels.
        """
        query = select(RiskWarning).where(RiskWarning.task == task).order_by(RiskWarning.created_at)
        if since is not None:
            query = query.where(RiskWarning.created_at >= utc_bound(self._is_sqlite, since))
        with self._reads.begin() as session:
            rows = session.scalars(query).all()
            return pd.DataFrame(
                {
                    "id": [row.id for row in rows],
                    "entity_hash": [row.entity_hash for row in rows],
                    "as_of": pd.to_datetime([row.as_of for row in rows]),
                    "score": pd.Series([row.score for row in rows], dtype="float64"),
                    "risk_level": [row.risk_level for row in rows],
                    "status": [row.status for row in rows],
                    "department": [row.department for row in rows],
                    "outcome": [row.outcome for row in rows],
                    "model_version": [row.model_version for row in rows],
                    "created_at": timestamps([row.created_at for row in rows]),
                    "closed_at": timestamps([row.closed_at for row in rows]),
                }
            )

    # ---------------------------------------------------------------- plumbing

    def _write_shared(self, work: Callable[[Session], T]) -> T:
        """`_write(work, retry_integrity=True)`, in a transaction shared with the writes that
        arrive at the same time on SQLite (`group_commit`); committed before it returns."""
        if self._grouped is None:
            return self._write(work, retry_integrity=True)
        return self._grouped.submit(work)

    def _write_later(self, work: Callable[[Session], T]) -> Future[T]:
        """`_write_shared(work)` on a writer thread: a future of its answer, set after the
        commit (SQLite: the group committer's writer; PostgreSQL: a small pool of them)."""
        if self._grouped is not None:
            return self._grouped.submit_future(work)
        with self._writers_lock:
            if self._writers is None:
                self._writers = ThreadPoolExecutor(4, thread_name_prefix="riskloop-store-writer")
        return self._writers.submit(self._write, work, retry_integrity=True)

    def _write(self, work: Callable[[Session], T], *, retry_integrity: bool = False) -> T:
        """Run `work` in one write transaction, retrying races the database reports.

        Two writers raising the same new warning at once: the loser's insert hits the unique
        (task, entity, period) key and its retry finds the winner's row and updates it.
        PostgreSQL serialization failures and deadlocks are retried the same way.
        """
        for _ in range(_WRITE_ATTEMPTS - 1):
            try:
                with self._writes.begin() as session:
                    return work(session)
            except IntegrityError:
                if not retry_integrity:
                    raise
            except OperationalError as exc:
                if not is_retryable(exc):
                    raise
        with self._writes.begin() as session:  # the last attempt lets any error through
            return work(session)


_KINDS = ("user", "key", "system")


def _mentions(detail: Any, warning_id: str) -> bool:
    """Whether an audit row's detail names the warning (`warning_id` or in `warning_ids`)."""
    if not isinstance(detail, dict):
        return False
    return detail.get("warning_id") == warning_id or warning_id in (detail.get("warning_ids") or ())


def _visible_condition(visible: VisibleScope) -> ColumnElement[bool]:
    """The SQL form of `VisibleScope.contains`."""
    if visible.everything:
        return true()
    parts: list[ColumnElement[bool]] = []
    if visible.tasks:
        parts.append(RiskWarning.task.in_(sorted(visible.tasks)))
    if visible.departments:
        parts.append(RiskWarning.department.in_(sorted(visible.department_values())))
    return or_(*parts) if parts else false()
