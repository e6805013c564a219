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
reveals and purges, `reads.py` reads warnings (pages and walks), the audit log and the flat
tables; this module opens the store and writes dispositions and the audit log.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from models.departments import DEPARTMENTS, department_code
from models.secret_keys import load_secrets
from models.settings import Settings, database_url_problem, get_settings
from serving.audit_channel import with_channel
from serving.policy import department_tasks
from serving.store import deadlines, outbox
from serving.store.common import (
    Holder,
    KeyMismatch,
    StaleWarning,
    StoreUnavailable,
    T,
    WarningNotFound,
    is_retryable,
    iso_utc,
    utc_now,
)
from serving.store.free_text import one_line
from serving.store.group_commit import GroupCommitter
from serving.store.identity import EntityCipher
from serving.store.key_check import StartedOver, hold_key_check
from serving.store.models import (
    AuditEntry,
    RiskWarning,
    WarningEvent,
)
from serving.store.notes import CaseNotes
from serving.store.people import PeopleStore
from serving.store.privacy import PrivacyStore
from serving.store.pseudonym import (
    NAME_FINGERPRINT_CHARS,
    name_fingerprint,
    pseudonymise,
    sanitise,
    scrub_text,
)
from serving.store.reads import StoreReads, with_history
from serving.store.scores import ScoreWriter
from serving.store.sqlite import (
    WRITE_LOCK_GRACE_S,
    WalCheckpointer,
    create_store_engine,
    is_file_database,
    sqlite_busy_timeout_s,
    watch_writes,
    write_lock_free,
)
from serving.store.stored_forms import StoredForms
from serving.store.transitions import TransitionError, check_transition

_MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK_KEY = 0x7269736B  # "risk": one advisory lock for schema upgrades
_WRITE_ATTEMPTS = 5
# how much of a refused attempt's own value (a department, an outcome, a step) the audit row keeps
REFUSED_VALUE_CHARS = 64
# the actor of a failed sign-in with a name that is no user's (`unknown_name_actor`)
_UNKNOWN_NAME_ACTOR = re.compile(rf"user:\?[0-9a-f]{{{NAME_FINGERPRINT_CHARS}}}")
# the department codes riskloop knows (a dispatch to any other name is an outside body's)
KNOWN_DEPARTMENTS = frozenset(department.code for department in DEPARTMENTS)


@cache
def _head_revision() -> str | None:
    """The newest revision this riskloop knows, found once per process: Alembic loads every
    revision file (and runs env.py) to learn it, about half of opening a store that is already
    at it."""
    return ScriptDirectory(str(_MIGRATIONS_DIR)).get_current_head()


#: How to write a password SQLAlchemy reads as written.
def _refuse_unreadable(url: str) -> None:
    """Refuse, in our own words, a URL SQLAlchemy cannot read or whose host holds `@`
    (`models.settings.database_url_problem`)."""
    problem = database_url_problem(url)
    if problem is not None:
        raise ValueError(problem)


class NewerStore(RuntimeError):
    """The store's schema is at a revision this riskloop does not know (made by a newer
    version): upgrading riskloop, not the store, is the way on."""

    def __init__(self, alembic_message: str) -> None:
        found = re.search(r"identified by '([^']+)'", alembic_message)
        revision = found.group(1) if found else "unknown"
        super().__init__(
            f"its schema is at revision {revision}, which this riskloop does not know (a newer "
            "version made it): run a riskloop at least as new as the one that made the store"
        )


class WarningStore(StoreReads, ScoreWriter, PrivacyStore, PeopleStore, CaseNotes):
    """The closed loop's records: warnings, their history, the audit log and scored records,
    and the people and departments who work them (`PeopleStore`)."""

    def __init__(
        self,
        url: str,
        pseudonym_secret: str,
        cipher: EntityCipher | None = None,
        *,
        start_over_by: str | None = None,
    ) -> None:
        """Connect to `url` and bring its schema to the newest revision.

        Args:
            url: SQLAlchemy URL, `sqlite:///path.db` or `postgresql+psycopg://...`.
            pseudonym_secret: HMAC key for identifiers (from the secrets; never stored).
            cipher: encrypts each new warning's entity id for audited re-identification;
                None keeps no encrypted id (tools that never raise warnings).
            start_over_by: the actor of `riskloop secrets start-over`: a store made under
                another pseudonym key takes this one instead of refusing it, audited
                (`serving.store.key_check`); `started_over` says what was left behind.
        """
        if not pseudonym_secret:
            raise ValueError("a pseudonym secret is required")
        self._secret = pseudonym_secret
        self._cipher = cipher
        self._start_over_by = start_over_by
        self.started_over: StartedOver | None = None
        self.forms = StoredForms(pseudonym_secret)  # results' stored forms (one secret)
        try:
            _refuse_unreadable(url)
            self._engine = create_store_engine(url)
        except (SQLAlchemyError, ImportError, OSError, ValueError) as exc:
            raise StoreUnavailable(url, exc) from exc
        self._is_sqlite = self._engine.dialect.name == "sqlite"
        # what readiness knows of SQLite's write lock (PostgreSQL has none to wait for), and
        # how long it waits for it: a grace, or the busy timeout if shorter
        self._write_outcomes = watch_writes(self._engine) if self._is_sqlite else None
        self._lock_grace_s = min(WRITE_LOCK_GRACE_S, sqlite_busy_timeout_s())
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
        # SQLite's WAL is checkpointed after commits, not in the commit that outgrew it
        self._checkpointer = (
            WalCheckpointer(self._engine)
            if self._is_sqlite and is_file_database(self._engine)
            else None
        )
        if self._checkpointer is not None:
            event.listen(self._writes, "after_commit", self._checkpointer.committed)
        # SQLite has one writer at a time: concurrent score requests share transactions
        self._grouped = (
            GroupCommitter(self._writes.begin, partial(self._write, retry_integrity=True))
            if self._is_sqlite
            else None
        )
        self._writers: ThreadPoolExecutor | None = None  # PostgreSQL's `_write_later`; on use
        self._writers_lock = threading.Lock()
        try:
            try:
                self.upgrade()
            except (SQLAlchemyError, ImportError, OSError, KeyMismatch, NewerStore) as exc:
                raise StoreUnavailable(url, exc) from exc
            self.sync_departments(department_tasks())
        except BaseException:  # no store: its thread and connections go with it
            if self._checkpointer is not None:
                self._checkpointer.close()
            self._engine.dispose()
            raise

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
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._engine.dispose()

    def __enter__(self) -> WarningStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upgrade(self) -> None:
        """Run Alembic `upgrade head` once, even with several workers starting together (not at
        all on a store already at the head)."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS_DIR))
        # an option's value is read with configparser's interpolation: a percent-encoded
        # password (`%2F`) must reach it as `%%2F`
        url = self._engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        with self._engine.connect() as connection:
            connection.execution_options(riskloop_write=True)
            with connection.begin():
                if self._engine.dialect.name == "postgresql":
                    connection.exec_driver_sql(
                        f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK_KEY})"
                    )
                # read under the lock: a store at the head has nothing to run; any other
                # revision (none yet, an older one, one this code does not know) goes to Alembic
                stored = MigrationContext.configure(connection).get_current_revision()
                if stored != _head_revision():
                    config.attributes["connection"] = connection
                    try:
                        command.upgrade(config, "head")
                    except CommandError as exc:  # a revision this code does not know
                        raise NewerStore(str(exc)) from None
                self.started_over = hold_key_check(
                    connection, self._secret, self._cipher, start_over_by=self._start_over_by
                )

    def can_record(self) -> bool:
        """Whether a write could be recorded now (the service's readiness probe).

        The store must answer a trivial query; on SQLite its write lock must also be free
        within `WRITE_LOCK_GRACE_S` (the busy timeout if shorter): a read succeeds in WAL
        mode while another connection holds the lock, which a write waits for and, past the
        busy timeout, fails on. A write of this process's own committed within that time
        answers for the lock without a probe, so steady write traffic never reads as locked.
        """
        try:
            with self._engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            if self._write_outcomes is None:
                return True
            return write_lock_free(self._engine, self._write_outcomes, self._lock_grace_s)
        except SQLAlchemyError:
            return False

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

    def note_overdue(
        self, *, actor: str, task: str | None = None, department: str | None = None
    ) -> list[str]:
        """One `overdue` event (history, audit, notification) per newly missed deadline; of
        `task`'s cases and those waiting on `department` (a code) when given.

        Returns the ids of the warnings that became overdue now. A read checks first, so the
        service's frequent sweeps take the write lock only when there is something to note.
        """
        now = utc_now()
        narrow = {"task": task, "department": department}
        with self._reads.begin() as session:
            due = session.scalar(
                select(RiskWarning.id)
                .where(*deadlines.newly_overdue(now=now, is_sqlite=self._is_sqlite, **narrow))
                .limit(1)
            )
        if due is None:
            return []
        return self._write(
            lambda session: deadlines.note_overdue(
                session, now=now, actor=actor, is_sqlite=self._is_sqlite, **narrow
            )
        )

    def pseudonymise(self, identifier: str) -> str:
        """The stored form of a caller's identifier: HMAC-SHA256(secret, id), 32 hex chars."""
        return pseudonymise(self._secret, identifier)

    def scrub_actor(self, actor: str) -> str:
        """An actor as the audit log keeps it: with any id-like value pseudonymised, like every
        audit detail. Users and keys cannot be named so, so their names are kept as they are;
        an unknown name's fingerprint (`unknown_name_actor`) is kept whole too (its hex digits
        are no id, and a run of them could look like one)."""
        if _UNKNOWN_NAME_ACTOR.fullmatch(actor):
            return actor
        return scrub_text(self._secret, actor)

    def unknown_name_actor(self, name: str) -> str:
        """The audit actor of a name typed at a failed sign-in that is no user's:
        `user:?<16 hex>`, HMAC-SHA256 of the name under the store's secret, never the name
        (it may be a password typed in the wrong field). The same name gives the same actor,
        so repeated attempts can be correlated."""
        return f"user:?{name_fingerprint(self._secret, name)}"

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

        def write(session: Session) -> dict[str, Any]:
            warning = self._locked_warning(session, warning_id, expected_version, expected_holder)
            # an outside body's name is free text, scrubbed like a note before it is compared
            # or written ("lawyer 138…" is stored and shown with the number's pseudonym)
            sent = self._outside_department(department, warning) if department else department
            check_transition(
                warning.status, status, sent, outcome, warning.department, warning.task
            )
            now = utc_now()
            previous = (warning.status, warning.department)
            warning.status = status
            if status == "dispatched":
                warning.department = sent
            if status == "closed":
                warning.outcome = outcome
                warning.closed_at = now
            self._record_disposition(session, warning, actor, previous, outcome, note, now)
            return with_history(session, warning)

        return self._write(write)

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

        def write(session: Session) -> dict[str, Any]:
            warning = self._locked_warning(session, warning_id, expected_version, expected_holder)
            if warning.status not in {"dispatched", "in_progress"}:
                raise TransitionError(
                    f"only a dispatched or in-progress warning can be sent back; it is "
                    f"{warning.status}"
                )
            previous = (warning.status, warning.department)
            warning.status = "open"
            warning.department = None
            self._record_disposition(session, warning, actor, previous, None, note, utc_now())
            return with_history(session, warning)

        return self._write(write)

    def scrub_department(self, department: str) -> str:
        """A department named without a case (a list's filter) as an outside body's is stored:
        a code or name riskloop knows as it is, any other name with its id-like values as
        pseudonyms (`_outside_department`; a case's own id typed in it cannot be known here)."""
        if department_code(department) is not None:
            return department
        return scrub_text(self._secret, department)

    def _outside_department(self, department: str, warning: RiskWarning) -> str:
        """A dispatch's department as stored: a code riskloop knows as it is, any other name
        (an outside body's, typed freely) with its id-like values and the case's own id as
        pseudonyms, as a note's are."""
        if department in KNOWN_DEPARTMENTS:
            return department
        return scrub_text(self._secret, department, self.own_ids(warning))

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
                select(WarningEvent)  # a progress note changes no version: not who changed it
                .where(WarningEvent.warning_id == warning_id, WarningEvent.event != "note")
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
        before: tuple[str, str | None],
        outcome: str | None,
        note: str | None,
        now: datetime,
    ) -> None:
        """A disposition's bookkeeping: version + 1, its history event and its audit row, the
        deadline it moves to, and the notifications of the departments that gain or lose the
        case (`before`: its status and department before the step)."""
        previous, previous_department = before
        warning.updated_at = now
        warning.version = warning.version + 1
        # each disposition moves the deadline (and a new deadline has not been missed yet)
        warning.due_at = deadlines.due_at(warning.task, warning.risk_level, warning.status, now)
        warning.overdue_noted_at = None
        events = outbox.disposition_events(
            {**deadlines.warning_state(warning), "department": warning.department},
            previous_status=previous,
            previous_department=previous_department,
            owner=deadlines.owner_department(warning.task),
            outcome=outcome,
        )
        outbox.enqueue(session, events, now=now)
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
        # the note as history keeps it (scrubbed with the case's own ids known), so the
        # audit log alone tells why a case was sent back or closed
        noted = {"note": clean_note} if clean_note else {}
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
                **noted,
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
        """Append one audit row in the caller's transaction (details scrubbed of id-like values),
        saying which channel the action came through (`with_channel`)."""
        session.add(
            AuditEntry(
                at=utc_now(),
                actor=self.scrub_actor(actor),
                action=action,
                task=task,
                model_version=None if model_version is None else str(model_version),
                detail=sanitise(self._secret, with_channel(detail)),
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

    def audit_read(
        self,
        *,
        actor: str,
        rows: int,
        warning_id: str | None = None,
        of_actor: str | None = None,
        task: str | None = None,
        actions: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_id: int | None = None,
        before_id: int | None = None,
    ) -> None:
        """Append the `audit_read` row of a read of the audit log (the API's, the console's, the
        CLI's alike): the filter asked, its unset parts left out, and the rows returned."""
        asked = {
            "warning_id": warning_id,
            "of_actor": of_actor,
            "task": task,
            "actions": actions,
            "since": since and since.isoformat(),
            "until": until and until.isoformat(),
            "after_id": after_id or None,
            "before_id": before_id or None,
        }
        detail = {key: value for key, value in asked.items() if value is not None}
        self.audit(actor=actor, action="audit_read", detail={**detail, "rows": rows})

    def refused(
        self,
        *,
        actor: str,
        action: str,
        rule: str,
        warning: Mapping[str, Any] | None = None,
        path: str | None = None,
        step: str | None = None,
        given: Mapping[str, str] | None = None,
    ) -> None:
        """Append the audit row of a refused attempt (`access_refused`): who tried which action
        (and which disposition `step`), on which warning (or route), and the rule that refused
        it. A refused look at a case is a look at a case too: the log shows who tried to see
        what they may not. `given`: what the attempt named that the rule refused (a department,
        an outcome), as sent, which may be anything: each one clean line of bounded length,
        as a failed sign-in's name is kept."""
        detail: dict[str, Any] = {"attempted": action, "rule": rule}
        if step is not None:
            detail["step"] = one_line(step, REFUSED_VALUE_CHARS)
        for name, value in (given or {}).items():
            detail[name] = one_line(value, REFUSED_VALUE_CHARS)
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
