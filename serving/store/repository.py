"""`WarningStore`: warnings, dispositions, the audit log and scored records behind SQLAlchemy.

One class, HTTP-free, used by the service and the CLI. Every write runs in one database
transaction; on SQLite the file is in WAL mode with `synchronous=NORMAL` (an acknowledged
commit survives a killed process; `RISKLOOP_STORE_SYNCHRONOUS=FULL` also survives a power
loss) and writers take the lock up front (`BEGIN IMMEDIATE`) so two workers never dead-end on
a read-to-write upgrade. The same code runs on PostgreSQL
(`postgresql+psycopg://...`), where rows being changed are locked with `SELECT ... FOR UPDATE`.

Dispositions follow a state machine (see `ALLOWED_TRANSITIONS`):

    open -> dispatched (department) -> in_progress -> closed (outcome)
    open | dispatched -> closed, only with outcome false_alarm or unreachable (triage)
    dispatched -> dispatched, to re-route to another department

`confirmed` and `prevented` need the case to have been handled (`in_progress`) first: only a
department that worked the case can say the risk was real. Closed warnings are final.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, TypeVar, cast

import pandas as pd
import pydantic_core
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from serving.policy import department_tasks
from serving.store.models import (
    OUTCOMES,
    STATUSES,
    WARNING_LEVELS,
    AuditEntry,
    RiskWarning,
    ScoredRecord,
    WarningEvent,
)
from serving.store.people import PeopleStore
from serving.store.pseudonym import pseudonymise, sanitise, scrub_text

MAX_PAGE_SIZE = 500
SQLITE_BUSY_TIMEOUT_MS = 30_000
_MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK_KEY = 0x7269736B  # "risk": one advisory lock for schema upgrades
_WRITE_ATTEMPTS = 5
STORE_SYNCHRONOUS_ENV = "RISKLOOP_STORE_SYNCHRONOUS"
_SYNCHRONOUS_LEVELS = ("NORMAL", "FULL", "EXTRA")

# status -> statuses it may move to
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"dispatched", "closed"}),
    "dispatched": frozenset({"dispatched", "in_progress", "closed"}),
    "in_progress": frozenset({"closed"}),
    "closed": frozenset(),
}
# outcomes a warning may close with without having been handled (in_progress)
TRIAGE_OUTCOMES = frozenset({"false_alarm", "unreachable"})

T = TypeVar("T")
# one result's stored form (pseudonymised id, period, scrubbed reasons, actions and features),
# as `WarningStore.prepare_scores` makes it for `WarningStore.record_prepared`
PreparedScore = dict[str, Any]


class TransitionError(Exception):
    """A disposition step the state machine refuses (HTTP 409); the message says why."""


class StaleWarning(Exception):
    """The warning changed since the caller read it (HTTP 409): `changed_by` and `changed_at`
    name the last change, so a person can reload and decide again."""

    def __init__(self, warning_id: str, version: int, changed_by: str, changed_at: str | None):
        super().__init__(
            f"warning {warning_id} changed since you read it (now version {version}, by "
            f"{changed_by} at {changed_at}); reload it and decide again"
        )
        self.warning_id = warning_id
        self.version = version
        self.changed_by = changed_by
        self.changed_at = changed_at


class WarningNotFound(KeyError):
    """No warning has this id (HTTP 404)."""

    def __str__(self) -> str:
        return f"no warning with id {self.args[0]!r}" if self.args else "warning not found"


def _table(model: type[Any]) -> Table:
    """An ORM class's `Table`, typed as one (Core bulk statements take the table itself)."""
    return cast(Table, model.__table__)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC; SQLite hands back naive datetimes, which the store wrote in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _as_date(value: Any) -> date:
    """A date from a `date`, `datetime`, pandas Timestamp or ISO string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def check_transition(
    current: str,
    status: str,
    department: str | None,
    outcome: str | None,
    current_department: str | None,
) -> None:
    """Raise `TransitionError` unless `current -> status` with these fields is allowed.

    Pure, so the HTTP layer and tests can ask the same question the store does.
    """
    if status not in STATUSES:
        raise TransitionError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    if outcome is not None and outcome not in OUTCOMES:
        raise TransitionError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    if current == "closed":
        raise TransitionError("the warning is closed; closed warnings are final")
    if status not in ALLOWED_TRANSITIONS[current]:
        if status == current:
            raise TransitionError(f"the warning is already {current}")
        if status == "in_progress":
            raise TransitionError("dispatch the warning to a department before it is in_progress")
        raise TransitionError(f"a warning cannot go from {current} back to {status}")
    if status == "dispatched":
        if not department or not department.strip():
            raise TransitionError("dispatching needs a department")
        if current == "dispatched" and department == current_department:
            raise TransitionError(f"the warning is already dispatched to {department!r}")
    elif department is not None and department != current_department:
        raise TransitionError("a department is set only when dispatching")
    if status == "closed":
        if outcome is None:
            raise TransitionError(f"closing needs an outcome: one of {', '.join(OUTCOMES)}")
        if current != "in_progress" and outcome not in TRIAGE_OUTCOMES:
            raise TransitionError(
                f"outcome {outcome!r} needs the case handled first (in_progress); from {current} "
                f"a warning may only close as {' or '.join(sorted(TRIAGE_OUTCOMES))}"
            )
    elif outcome is not None:
        raise TransitionError("an outcome is given only when closing")


class MemoScrubber:
    """`pseudonym.sanitise(secret, value, {raw_id})`, remembering scrubbed strings and integers.

    A 1,000-record request repeats the same feature names, labels, action texts and small
    counts tens of thousands of times; scrubbing each afresh was most of the store write
    (about 0.3 s of 0.37 s). The result is identical: a string that contains the record's raw
    id, or an integer equal to it, is scrubbed with the id known, as `sanitise` does; any
    other string's scrub does not depend on the id, so one cached answer serves every record.
    Types beyond JSON's go to `sanitise` itself.
    """

    def __init__(self, secret: str, cache_size: int = 65_536) -> None:
        self._secret = secret
        self._text = lru_cache(maxsize=cache_size)(partial(scrub_text, secret))
        self._int = lru_cache(maxsize=cache_size, typed=True)(partial(sanitise, secret))

    def _plain(self, value: Any, raw_id: str) -> Any:
        """The common leaves inline (no extra call): a dict's keys and scalar values."""
        kind = type(value)
        if value is None or kind is bool or (kind is float and math.isfinite(value)):
            return value
        if kind is str and not (raw_id and raw_id in value):
            return self._text(value)
        return self(value, raw_id)

    def __call__(self, value: Any, raw_id: str) -> Any:
        if value is None or value is True or value is False:
            return value
        kind = type(value)
        if kind is str:
            if raw_id and raw_id in value:
                return scrub_text(self._secret, value, frozenset({raw_id}))
            return self._text(value)
        if kind is float:
            return value if math.isfinite(value) else None
        if kind is dict:
            return {
                self._plain(str(key), raw_id): self._plain(item, raw_id)
                for key, item in value.items()
            }
        if kind is list:
            return [self(item, raw_id) for item in value]
        if kind is int and str(value) != raw_id:
            return self._int(value)
        return sanitise(self._secret, value, frozenset({raw_id}))


class WarningStore(PeopleStore):
    """The closed loop's records: warnings, their history, the audit log and scored records,
    and the people and departments who work them (`PeopleStore`)."""

    def __init__(self, url: str, pseudonym_secret: str) -> None:
        """Connect to `url` and bring its schema to the newest revision.

        Args:
            url: SQLAlchemy URL, `sqlite:///path.db` or `postgresql+psycopg://...`.
            pseudonym_secret: HMAC key for identifiers (from settings; never stored).
        """
        if not pseudonym_secret:
            raise ValueError("a pseudonym secret is required")
        self._secret = pseudonym_secret
        self._scrub = MemoScrubber(pseudonym_secret)
        self._engine = _create_engine(url)
        self._is_sqlite = self._engine.dialect.name == "sqlite"
        write_engine = self._engine.execution_options(riskloop_write=True)
        self._reads = sessionmaker(self._engine, expire_on_commit=False)
        self._writes = sessionmaker(write_engine, expire_on_commit=False)
        self.upgrade()
        self.sync_departments(department_tasks())

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools; the product writes through methods)."""
        return self._engine

    def close(self) -> None:
        """Release pooled connections."""
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

    def pseudonymise(self, identifier: str) -> str:
        """The stored form of a caller's identifier: HMAC-SHA256(secret, id), 32 hex chars."""
        return pseudonymise(self._secret, identifier)

    # ---------------------------------------------------------------- writes

    def record_scores(
        self,
        *,
        actor: str,
        task: str,
        model_name: str,
        model_version: str,
        results: list[dict[str, Any]],
        as_of: date | None = None,
        scrubbed_features: list[dict[str, Any]] | None = None,
    ) -> list[str | None]:
        """Store one score request: audit row, scored records, and warnings for yellow and up.

        Each result dict has `entity_id` (the caller's raw id), `score`, `risk_level`, `reasons`,
        `actions`, `features`, and optionally its own `as_of`. A warning is one per task, entity
        and period (the as-of month, default this month): re-scoring updates the open warning and
        keeps the earlier score in its history (`score_update`). A warning already closed for the
        period keeps its closing figures; the new score is appended to its history
        (`score_after_close`) rather than raising a duplicate for a case already handled.

        `scrubbed_features`, when given, are `scrub_features`' answer for the results' ids and
        features (the service computes it while the model runs) and replace their `features`.
        Scrubbing happens before the write transaction, so the lock is held only for the writes.

        Returns:
            The warning id for each result, None where the level raised no warning.
        """
        return self.record_prepared(
            actor=actor,
            task=task,
            model_name=model_name,
            model_version=model_version,
            prepared=self.prepare_scores(results, as_of=as_of, scrubbed_features=scrubbed_features),
        )

    def prepare_scores(
        self,
        results: Sequence[dict[str, Any]],
        *,
        as_of: date | None = None,
        scrubbed_features: Sequence[dict[str, Any]] | None = None,
    ) -> list[PreparedScore]:
        """`record_scores`' CPU part: each result's stored form, with no database access.

        The service prepares a large request's results part by part while the model scores
        the next part (LightGBM releases the GIL), then writes them with `record_prepared`.
        Arguments as in `record_scores`.
        """
        default_as_of = as_of or datetime.now(UTC).date()
        if scrubbed_features is not None and len(scrubbed_features) != len(results):
            raise ValueError("scrubbed_features must have one entry per result")
        return [
            self._prepare(
                result,
                default_as_of,
                None if scrubbed_features is None else scrubbed_features[position],
            )
            for position, result in enumerate(results)
        ]

    def record_prepared(
        self,
        *,
        actor: str,
        task: str,
        model_name: str,
        model_version: str,
        prepared: Sequence[PreparedScore],
    ) -> list[str | None]:
        """`record_scores`' write: one transaction for results made by `prepare_scores`.

        Returns:
            The warning id for each result, None where the level raised no warning.
        """
        rows = list(prepared)

        def write(session: Session) -> list[str | None]:
            return self._record_scores(
                session, actor, task, str(model_name), str(model_version), rows
            )

        return self._write(write, retry_integrity=True)

    def _record_scores(
        self,
        session: Session,
        actor: str,
        task: str,
        model_name: str,
        model_version: str,
        prepared: list[dict[str, Any]],
    ) -> list[str | None]:
        """The request's rows as a handful of bulk statements, not one ORM object per row.

        Warnings are followed in memory through the batch (a unit scored twice in one request
        is raised once, then updated), and written once each in their final state: one INSERT
        for new warnings, one executemany UPDATE for re-scored ones, one INSERT each for the
        history, the audit rows (the request's own row first) and the scored records.
        """
        now = _now()
        if prepared:
            self._insert_scored_records(session, task, model_name, model_version, prepared, now)
        warned = [item for item in prepared if item["risk_level"] in WARNING_LEVELS]
        states = self._existing_warnings(session, task, warned)
        keys = {(item["entity_hash"], item["period"]) for item in warned}
        n_raised = len(keys - set(states))
        # the request's own audit row comes first, so the log reads in the order things happened
        audit_rows: list[dict[str, Any]] = [
            {
                "at": now,
                "actor": actor,
                "action": "score_request",
                "task": task,
                "model_version": model_version,
                "detail": {
                    "model_name": model_name,
                    "n_records": len(prepared),
                    "n_warnings": len(keys),
                    "n_raised": n_raised,
                    "n_updated": len(keys) - n_raised,
                },
            }
        ]
        history_rows: list[dict[str, Any]] = []
        raised: list[dict[str, Any]] = []
        rescored: dict[str, dict[str, Any]] = {}
        ids: list[str | None] = []
        for item in prepared:
            if item["risk_level"] not in WARNING_LEVELS:
                ids.append(None)
                continue
            key = (item["entity_hash"], item["period"])
            state = states.get(key)
            if state is None:
                state = _new_warning(task, model_name, model_version, item, now)
                states[key] = state
                raised.append(state)
                event, action, extra = "raised", "warning_raised", {}
                detail = _score_detail(item, model_name, model_version)
            else:
                detail = {
                    **_score_detail(item, model_name, model_version),
                    "previous_score": state["score"],
                    "previous_risk_level": state["risk_level"],
                    "previous_as_of": state["as_of"].isoformat(),
                    "previous_model_version": state["model_version"],
                }
                applied = state["status"] != "closed"
                event = "score_update" if applied else "score_after_close"
                action, extra = "warning_updated", {"applied": applied}
                if applied:
                    state.update(
                        score=item["score"],
                        risk_level=item["risk_level"],
                        as_of=item["as_of"],
                        reasons=item["reasons"],
                        actions=item["actions"],
                        model_name=model_name,
                        model_version=model_version,
                        updated_at=now,
                        version=state["version"] + 1,
                    )
                    if not state["new"]:
                        rescored[state["id"]] = state
            history_rows.append(
                {
                    "warning_id": state["id"],
                    "event": event,
                    "at": now,
                    "actor": actor,
                    "detail": detail,
                }
            )
            audit_rows.append(_warning_audit(actor, action, state, now, extra))
            ids.append(state["id"])
        warnings = _table(RiskWarning)
        if raised:
            session.execute(
                insert(warnings), [{k: v for k, v in s.items() if k != "new"} for s in raised]
            )
        if rescored:
            session.execute(
                update(warnings).where(warnings.c.id == bindparam("b_id")),
                [
                    {"b_id": s["id"], **{name: s[name] for name in _RESCORED_COLUMNS}}
                    for s in rescored.values()
                ],
            )
        if history_rows:
            session.execute(insert(_table(WarningEvent)), history_rows)
        session.execute(insert(_table(AuditEntry)), audit_rows)
        return ids

    def _insert_scored_records(
        self,
        session: Session,
        task: str,
        model_name: str,
        model_version: str,
        prepared: list[dict[str, Any]],
        now: datetime,
    ) -> None:
        """One executemany INSERT of the request's scored records.

        On SQLite the rows go to the driver as tuples, each value bound by its column type's
        own SQLAlchemy processor (the request's constants and dates once): for 1,000 rows
        Core's per-row parameter handling cost more than SQLite's insert itself.
        """
        table = _table(ScoredRecord)
        if not self._is_sqlite:
            session.execute(
                insert(table),
                [
                    {
                        "task": task,
                        "entity_hash": item["entity_hash"],
                        "as_of": item["as_of"],
                        "model_name": model_name,
                        "model_version": model_version,
                        "score": item["score"],
                        "risk_level": item["risk_level"],
                        "features": item["features"],
                        "created_at": now,
                    }
                    for item in prepared
                ],
            )
            return
        dialect = self._engine.dialect
        bind = {name: _bind_processor(table.c[name], dialect) for name in _SCORED_RECORD_COLUMNS}
        days = {day: bind["as_of"](day) for day in {item["as_of"] for item in prepared}}
        entity, score, level, features = (
            bind[name] for name in ("entity_hash", "score", "risk_level", "features")
        )
        constants = (
            bind["task"](task),
            bind["model_name"](model_name),
            bind["model_version"](model_version),
            bind["created_at"](now),
        )
        columns = ", ".join(_SCORED_RECORD_COLUMNS)
        marks = ", ".join("?" for _ in _SCORED_RECORD_COLUMNS)
        session.connection().exec_driver_sql(
            f"INSERT INTO {table.name} ({columns}) VALUES ({marks})",
            [
                (
                    entity(item["entity_hash"]),
                    days[item["as_of"]],
                    score(item["score"]),
                    level(item["risk_level"]),
                    features(item["features"]),
                    *constants,
                )
                for item in prepared
            ],
        )

    def scrub_features(
        self, entity_ids: Sequence[str], features: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Each record's features as `record_scores` stores them (id-like values pseudonymised).

        Pure CPU work with no database access, so a caller may run it beside the model.
        """
        return [
            self._scrub(dict(row or {}), str(entity_id))
            for entity_id, row in zip(entity_ids, features, strict=True)
        ]

    def _prepare(
        self,
        result: dict[str, Any],
        default_as_of: date,
        scrubbed_features: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One result's stored form: pseudonymised id, period, scrubbed reasons and features.

        The JSON columns' text is made here, before the write lock is taken. Reasons and
        actions are stored only on a warning: a level below yellow skips them (None).
        """
        raw_id = str(result["entity_id"])
        record_as_of = _as_date(result.get("as_of") or default_as_of)
        level = str(result["risk_level"])
        warned = level in WARNING_LEVELS
        features = (
            self._scrub(dict(result.get("features") or {}), raw_id)
            if scrubbed_features is None
            else scrubbed_features
        )
        return {
            "entity_hash": self.pseudonymise(raw_id),
            "as_of": record_as_of,
            "period": _month_start(record_as_of),
            "score": float(result["score"]),
            "risk_level": level,
            "reasons": (
                _serialised(self._scrub(list(result.get("reasons") or []), raw_id))
                if warned
                else None
            ),
            "actions": (
                _serialised(self._scrub(list(result.get("actions") or []), raw_id))
                if warned
                else None
            ),
            "features": _serialised(features),
        }

    def _existing_warnings(
        self, session: Session, task: str, items: list[dict[str, Any]]
    ) -> dict[tuple[str, date], dict[str, Any]]:
        """The batch's existing warnings (locked for update), as plain state dicts."""
        if not items:
            return {}
        hashes = sorted({item["entity_hash"] for item in items})
        periods = sorted({item["period"] for item in items})
        table = RiskWarning.__table__
        columns = [table.c[name] for name in _STATE_COLUMNS]
        found: dict[tuple[str, date], dict[str, Any]] = {}
        # one query for a full request (MAX_RECORDS ids); longer lists within bind limits
        for start in range(0, len(hashes), _IN_LIST_CHUNK):
            query = (
                select(*columns)
                .where(
                    table.c.task == task,
                    table.c.entity_hash.in_(hashes[start : start + _IN_LIST_CHUNK]),
                    table.c.period.in_(periods),
                )
                .order_by(table.c.id)
                .with_for_update()
            )
            for row in session.execute(query).mappings():
                state = {**row, "new": False}
                found[(state["entity_hash"], state["period"])] = state
        return found

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
    ) -> dict[str, Any]:
        """Move a warning one step through the state machine and record who did it and when.

        `expected_version`, when given, is the version the caller's form was filled against:
        if someone changed the warning since, nothing is written and `StaleWarning` says who.

        Raises:
            WarningNotFound: no such warning.
            StaleWarning: the warning is no longer at `expected_version`.
            TransitionError: the step is not allowed; the message says why.
        """

        def write(session: Session) -> None:
            warning = self._locked_warning(session, warning_id, expected_version)
            check_transition(warning.status, status, department, outcome, warning.department)
            now = _now()
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
            warning = self._locked_warning(session, warning_id, expected_version)
            if warning.status not in {"dispatched", "in_progress"}:
                raise TransitionError(
                    f"only a dispatched or in-progress warning can be sent back; it is "
                    f"{warning.status}"
                )
            previous = warning.status
            warning.status = "open"
            warning.department = None
            self._record_disposition(session, warning, actor, previous, None, note, _now())

        self._write(write)
        return self.get_warning(warning_id)

    def _locked_warning(
        self, session: Session, warning_id: str, expected_version: int | None
    ) -> RiskWarning:
        """The warning locked for update, checked against the version the caller read."""
        warning = session.scalars(
            select(RiskWarning).where(RiskWarning.id == warning_id).with_for_update()
        ).one_or_none()
        if warning is None:
            raise WarningNotFound(warning_id)
        if expected_version is not None and warning.version != expected_version:
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
                _iso(last.at if last is not None else warning.updated_at),
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
        """A disposition's bookkeeping: version + 1, its history event and its audit row."""
        warning.updated_at = now
        warning.version = warning.version + 1
        clean_note = sanitise(self._secret, note) if note else None
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
                at=_now(),
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
        clean = sanitise(self._secret, dict(detail or {}))
        version = None if model_version is None else str(model_version)

        def write(session: Session) -> None:
            session.add(
                AuditEntry(
                    at=_now(),
                    actor=actor,
                    action=action,
                    task=task,
                    model_version=version,
                    detail=clean,
                )
            )

        self._write(write)

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
            item = _warning_dict(warning)
            item["history"] = [
                {"event": e.event, "at": _iso(e.at), "actor": e.actor, **e.detail} for e in events
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
        page: int = 1,
        page_size: int = 50,
    ) -> dict[str, Any]:
        """One page of warnings, newest first, filtered; `entity_id` is the caller's raw id.

        `date_from`/`date_to` bound the warning's as-of date, inclusive. Items have the shape of
        `get_warning` without `history`.
        """
        if page < 1:
            raise ValueError("page starts at 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        conditions = []
        if task is not None:
            conditions.append(RiskWarning.task == task)
        if level is not None:
            conditions.append(RiskWarning.risk_level == level)
        if status is not None:
            conditions.append(RiskWarning.status == status)
        if department is not None:
            conditions.append(RiskWarning.department == department)
        if entity_id is not None:
            conditions.append(RiskWarning.entity_hash == self.pseudonymise(entity_id))
        if date_from is not None:
            conditions.append(RiskWarning.as_of >= date_from)
        if date_to is not None:
            conditions.append(RiskWarning.as_of <= date_to)
        with self._reads.begin() as session:
            total = session.scalar(select(func.count()).select_from(RiskWarning).where(*conditions))
            rows = session.scalars(
                select(RiskWarning)
                .where(*conditions)
                .order_by(RiskWarning.created_at.desc(), RiskWarning.score.desc(), RiskWarning.id)
                .offset((page - 1) * page_size)
                .limit(page_size)
            ).all()
            items = [_warning_dict(row) for row in rows]
        return {"items": items, "total": int(total or 0), "page": page, "page_size": page_size}

    def audit_rows(self, *, since_id: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Audit rows with id > `since_id`, in the order they were written."""
        query = select(AuditEntry).where(AuditEntry.id > since_id).order_by(AuditEntry.id)
        if limit is not None:
            query = query.limit(limit)
        with self._reads.begin() as session:
            return [
                {
                    "id": row.id,
                    "at": _iso(row.at),
                    "actor": row.actor,
                    "action": row.action,
                    "task": row.task,
                    "model_version": row.model_version,
                    "detail": row.detail,
                }
                for row in session.scalars(query)
            ]

    def scored_records(self, *, task: str, since: datetime | None = None) -> pd.DataFrame:
        """Scored records of `task` (optionally since a time), one feature per column.

        Columns: entity_hash, as_of (datetime64), model_name, model_version, score, risk_level,
        created_at (UTC), then the features as the service recorded them.
        """
        query = select(ScoredRecord).where(ScoredRecord.task == task).order_by(ScoredRecord.id)
        if since is not None:
            query = query.where(ScoredRecord.created_at >= _utc_naive_for(self._is_sqlite, since))
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
                    "created_at": _timestamps([row.created_at for row in rows]),
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
            query = query.where(RiskWarning.created_at >= _utc_naive_for(self._is_sqlite, since))
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
                    "created_at": _timestamps([row.created_at for row in rows]),
                    "closed_at": _timestamps([row.closed_at for row in rows]),
                }
            )

    # ---------------------------------------------------------------- plumbing

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
                if not _is_retryable(exc):
                    raise
        with self._writes.begin() as session:  # the last attempt lets any error through
            return work(session)


# what re-scoring a warning reads: its identity, state and the figures its history quotes
_STATE_COLUMNS = (
    "id",
    "task",
    "entity_hash",
    "period",
    "status",
    "score",
    "risk_level",
    "as_of",
    "model_version",
    "version",
)
_RESCORED_COLUMNS = (
    "score",
    "risk_level",
    "as_of",
    "reasons",
    "actions",
    "model_name",
    "model_version",
    "updated_at",
    "version",
)
_IN_LIST_CHUNK = 1000
# the SQLite scored-records INSERT's columns, in its tuples' order: per row, then per request
_SCORED_RECORD_COLUMNS = (
    "entity_hash",
    "as_of",
    "score",
    "risk_level",
    "features",
    "task",
    "model_name",
    "model_version",
    "created_at",
)


def _bind_processor(column: Any, dialect: Any) -> Callable[[Any], Any]:
    """The column type's bind processor on `dialect` (identity where the type has none)."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _identity


def _identity(value: Any) -> Any:
    return value


def _score_detail(item: dict[str, Any], model_name: str, model_version: str) -> dict[str, Any]:
    return {
        "score": item["score"],
        "risk_level": item["risk_level"],
        "as_of": item["as_of"].isoformat(),
        "model_name": model_name,
        "model_version": model_version,
    }


def _new_warning(
    task: str, model_name: str, model_version: str, item: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A new open warning's row (`new` marks it for the batch INSERT, not a column)."""
    return {
        "id": f"W-{uuid.uuid4().hex}",
        "task": task,
        "entity_hash": item["entity_hash"],
        "period": item["period"],
        "as_of": item["as_of"],
        "score": item["score"],
        "risk_level": item["risk_level"],
        "status": "open",
        "department": None,
        "outcome": None,
        "reasons": item["reasons"],
        "actions": item["actions"],
        "model_name": model_name,
        "model_version": model_version,
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
        "version": 1,
        "new": True,
    }


def _warning_audit(
    actor: str, action: str, state: dict[str, Any], now: datetime, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "at": now,
        "actor": actor,
        "action": action,
        "task": state["task"],
        "model_version": state["model_version"],
        "detail": {
            "warning_id": state["id"],
            "entity": state["entity_hash"],
            "score": state["score"],
            "risk_level": state["risk_level"],
            **extra,
        },
    }


def _is_retryable(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in {"40001", "40P01"}


def _utc_naive_for(is_sqlite: bool, moment: datetime) -> datetime:
    """A bound for comparisons: SQLite stores UTC without an offset, PostgreSQL with one."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(tzinfo=None) if is_sqlite else aware


def _timestamps(moments: list[datetime | None]) -> pd.Series:
    """UTC timestamps (NaT for None) from the store's datetimes."""
    return pd.to_datetime(pd.Series([_iso(moment) for moment in moments], dtype="object"), utc=True)


def _warning_dict(warning: RiskWarning) -> dict[str, Any]:
    return {
        "id": warning.id,
        "task": warning.task,
        "entity": warning.entity_hash,
        "as_of": warning.as_of.isoformat(),
        "period": warning.period.isoformat(),
        "score": warning.score,
        "risk_level": warning.risk_level,
        "status": warning.status,
        "department": warning.department,
        "outcome": warning.outcome,
        "reasons": warning.reasons,
        "actions": warning.actions,
        "model_name": warning.model_name,
        "model_version": warning.model_version,
        "created_at": _iso(warning.created_at),
        "updated_at": _iso(warning.updated_at),
        "closed_at": _iso(warning.closed_at),
        "version": warning.version,
    }


def _create_engine(url: str) -> Engine:
    """An engine with the durability and locking settings the store relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            json_serializer=_json_text,
        )
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_json_text)


class _SerialisedJSON(str):
    """A JSON column's text made ahead of the write (`_serialised`); written as it is."""


def _serialised(value: Any) -> _SerialisedJSON:
    return _SerialisedJSON(_json_text(value))


def _json_text(value: Any) -> str:
    """JSON columns' text via pydantic-core: about 3x faster than `json.dumps` on a request's
    reasons and features; UTF-8 rather than \\u escapes, the same JSON when read back."""
    if isinstance(value, _SerialisedJSON):
        return str.__str__(value)
    return pydantic_core.to_json(value).decode("utf-8")


def sqlite_synchronous() -> str:
    """SQLite's `synchronous` level: NORMAL unless `RISKLOOP_STORE_SYNCHRONOUS` says FULL/EXTRA.

    In WAL mode NORMAL syncs the log only at checkpoints: a commit still survives the process
    being killed (the WAL is in the OS page cache), and only a power loss or OS crash can lose
    the last transactions. FULL also syncs every commit, which cost most of a single-record
    score request's store write (a few ms per fsync here).
    """
    level = os.environ.get(STORE_SYNCHRONOUS_ENV, "NORMAL").strip().upper()
    if level not in _SYNCHRONOUS_LEVELS:
        raise ValueError(
            f"{STORE_SYNCHRONOUS_ENV}={level!r}; expected one of {', '.join(_SYNCHRONOUS_LEVELS)}"
        )
    return level


def _configure_sqlite(engine: Engine) -> None:
    """WAL + synchronous (`sqlite_synchronous`) + foreign keys + busy timeout, explicit BEGINs.

    pysqlite's own implicit transactions are switched off so the store decides: reads begin a
    deferred transaction (a consistent snapshot), writes `BEGIN IMMEDIATE` (take the write lock
    at once, wait up to the busy timeout, never fail half-way on a lock upgrade).
    """

    synchronous = sqlite_synchronous()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("riskloop_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
