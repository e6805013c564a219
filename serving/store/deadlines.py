"""Response deadlines: when a warning must be dispatched, when handling must start.

The rules come from the task's spec (`TaskSpec.deadlines`, per level). A warning carries the
deadline it is racing now as `due_at`:

    open        -> raised (or last re-opened) + dispatch_hours
    dispatched  -> dispatched (or re-routed) + first_action_hours
    in_progress, closed -> no deadline

A re-score that changes a warning's level tightens the deadline it races to the new level's,
counted from the re-score, and never relaxes one already running (`rescored_due_at`).

A warning past its `due_at` is overdue (computed when read, so the API, the console and the
CLI agree at any moment). `note_overdue` appends one `overdue` history event per deadline
missed, with its audit row and its notification, and marks the deadline as noted
(`overdue_noted_at`); a disposition that moves the deadline clears the mark, so the next
deadline, if missed too, raises its own event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from models.spec import TaskSpec, UnknownTaskError, get_spec
from serving.audit_channel import with_channel
from serving.store import outbox
from serving.store.common import iso_utc, utc_bound
from serving.store.models import AuditEntry, RiskWarning, WarningEvent

OVERDUE_EVENT = "overdue"
# which deadline a status races: the name an `overdue` event and the CLI report
DEADLINE_OF_STATUS = {"open": "dispatch", "dispatched": "first_action"}


@lru_cache(maxsize=8)
def _spec(task: str) -> TaskSpec | None:
    try:
        return get_spec(task)
    except UnknownTaskError:  # a warning of a task no longer in the registry keeps no clock
        return None


def due_at(task: str, level: str, status: str, since: datetime) -> datetime | None:
    """The deadline a warning in `status` races, counted from `since` (when it got there)."""
    spec = _spec(task)
    deadline = None if spec is None else spec.deadline(level)
    if deadline is None:
        return None
    if status == "open":
        return since + timedelta(hours=deadline.dispatch_hours)
    if status == "dispatched":
        return since + timedelta(hours=deadline.first_action_hours)
    return None


def rescored_due_at(
    task: str, level: str, status: str, current: datetime | None, now: datetime
) -> datetime | None:
    """The deadline of a warning a re-score moved to `level` at `now`: the stricter of the one
    it races (`current`) and the new level's for its status counted from `now`. A rise to red
    must not wait out orange's days, yet a rise is no reason to expect what was already due
    earlier, and a fall leaves a running deadline as it is. A status with no deadline keeps
    `current` (None)."""
    tightened = due_at(task, level, status, now)
    if tightened is None:
        return current
    if current is None:
        return tightened
    return min(utc_bound(False, current), tightened)


def owner_department(task: str) -> str | None:
    """The department whose supervisors receive new warnings of `task` and dispatch them
    (the task registry's `owner`)."""
    from features.tasks import get_task

    try:
        return get_task(task).owner
    except ValueError:  # a warning of a task no longer in the registry has no owner to tell
        return None


def holder(task: str, status: str, department: str | None) -> str | None:
    """The department holding a case, the one it waits on: the one it was dispatched to or,
    not dispatched (an open case, one sent back, or one closed at triage), its task's owner."""
    return owner_department(task) if status == "open" or department is None else department


def overdue(*, now: datetime, is_sqlite: bool) -> ColumnElement[bool]:
    """The condition of a warning past its deadline at `now` (in progress and closed warnings
    race none). The API's `overdue` filter, the console's queue filter and its dashboard
    counts all read this one condition."""
    return and_(
        RiskWarning.due_at.is_not(None),
        RiskWarning.due_at <= utc_bound(is_sqlite, now),
        RiskWarning.status.in_(tuple(DEADLINE_OF_STATUS)),
    )


def at_outside_body() -> ColumnElement[bool]:
    """The condition of a case dispatched to an outside body (`serving.policy.at_outside_body`
    as SQL: a stored department naming none riskloop knows), not sent back: the console's
    outside bodies' filter and dashboard row, and `riskloop overdue --department outside`."""
    from models.departments import known_spellings

    return and_(
        RiskWarning.status != "open",
        RiskWarning.department.is_not(None),
        RiskWarning.department != "",
        func.lower(func.trim(RiskWarning.department)).not_in(known_spellings()),
    )


def waiting_on(department: str) -> ColumnElement[bool]:
    """The condition of a case waiting on `department` (a code, or `OUTSIDE_BODIES` for every
    outside body): `holder` as SQL. An open case waits on its task's owner; a dispatched one on
    the department it went to, stored as its code or, for warnings dispatched before codes were
    enforced, one of its names."""
    from features.tasks import TASKS
    from models.departments import OUTSIDE_BODIES, department_spellings

    if department == OUTSIDE_BODIES:
        return at_outside_body()
    owned = sorted(
        name
        for task in TASKS.values()
        if task.owner == department
        for name in (task.name, task.slug)
    )
    return or_(
        and_(RiskWarning.status == "open", RiskWarning.task.in_(owned)),
        and_(
            RiskWarning.status != "open",
            RiskWarning.department.in_(sorted(department_spellings(department))),
        ),
    )


def newly_overdue(
    *, now: datetime, is_sqlite: bool, task: str | None = None, department: str | None = None
) -> list[Any]:
    """The conditions of a warning whose deadline passed and has no `overdue` event yet; of
    `task` and waiting on `department` when given."""
    conditions = [
        RiskWarning.due_at.is_not(None),
        RiskWarning.due_at <= utc_bound(is_sqlite, now),
        RiskWarning.overdue_noted_at.is_(None),
        RiskWarning.status.in_(tuple(DEADLINE_OF_STATUS)),
    ]
    if task is not None:
        conditions.append(RiskWarning.task == task)
    if department is not None:
        conditions.append(waiting_on(department))
    return conditions


def note_overdue(
    session: Session,
    *,
    now: datetime,
    actor: str,
    is_sqlite: bool,
    task: str | None = None,
    department: str | None = None,
) -> list[str]:
    """Write one `overdue` event (history, audit, notification) per newly missed deadline.

    Runs inside the caller's write transaction, in the caller's thread (its audit rows say the
    channel set there, as `with_channel` adds it); rows are locked so two sweepers (the
    service's thread and `riskloop overdue`) never note the same deadline twice. `task` and
    `department` (the code of the department a case waits on) narrow the sweep to those
    cases, as `riskloop overdue --task --department` asks; without them every late case is
    noted.

    Returns:
        The ids of the warnings that became overdue in this sweep.
    """
    query = (
        select(RiskWarning)
        .where(*newly_overdue(now=now, is_sqlite=is_sqlite, task=task, department=department))
        .order_by(RiskWarning.due_at, RiskWarning.id)
        .with_for_update()
    )
    noted: list[str] = []
    events: list[tuple[str, str | None, dict[str, Any]]] = []
    for warning in session.scalars(query):
        deadline = DEADLINE_OF_STATUS[warning.status]
        waiting_on = holder(warning.task, warning.status, warning.department)
        detail = {
            "deadline": deadline,
            "due_at": iso_utc(warning.due_at),
            "status": warning.status,
            "department": waiting_on,
        }
        session.add(
            WarningEvent(
                warning_id=warning.id, event=OVERDUE_EVENT, at=now, actor=actor, detail=detail
            )
        )
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action="warning_overdue",
                task=warning.task,
                model_version=warning.model_version,
                # the channel of `riskloop overdue` (`cli`); the service's own sweep has none
                detail=with_channel({"warning_id": warning.id, **detail}),
            )
        )
        warning.overdue_noted_at = now
        events.append(("warning.overdue", waiting_on, warning_state(warning)))
        noted.append(warning.id)
    outbox.enqueue(session, events, now=now)
    return noted


def warning_state(warning: RiskWarning) -> dict[str, Any]:
    """The fields a notification quotes, from an ORM warning."""
    return {
        "id": warning.id,
        "task": warning.task,
        "entity_hash": warning.entity_hash,
        "risk_level": warning.risk_level,
        "status": warning.status,
        "as_of": warning.as_of,
        "due_at": warning.due_at,
    }
