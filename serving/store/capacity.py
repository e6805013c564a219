"""A department's month against its capacity: the one count the console's dashboard and
`riskloop screen` both read (`held_in_month`).

A department holds the warnings dispatched to it and, not dispatched (yet, or any more), those
of the tasks it owns. Its month is the warnings raised (`created_at`) in the city's calendar
month that it holds now, counted across tasks: a capacity is the department's, whatever the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from models.departments import department_code
from models.pages import CITY_TIME
from serving.store.common import utc_bound
from serving.store.deadlines import holder
from serving.store.models import RiskWarning


def held_in_month(
    db: Session,
    *,
    is_sqlite: bool,
    now: datetime,
    conditions: Sequence[ColumnElement[bool]] = (),
) -> tuple[date, dict[str, int]]:
    """The city's month of `now` (its first day) and, per department holding them
    (`deadlines.holder`), the warnings raised in it, among those `conditions` allow (a
    console view's scope)."""
    local = now.astimezone(CITY_TIME)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    start, end = (utc_bound(is_sqlite, moment.astimezone(UTC)) for moment in (first, following))
    counts: dict[str, int] = {}
    for task, status, department, n in db.execute(
        select(RiskWarning.task, RiskWarning.status, RiskWarning.department, func.count())
        .where(*conditions, RiskWarning.created_at >= start, RiskWarning.created_at < end)
        .group_by(RiskWarning.task, RiskWarning.status, RiskWarning.department)
    ):
        held = holder(str(task), str(status), department)
        if held is not None:  # a known department's name counted as its code
            code = department_code(held) or held
            counts[code] = counts.get(code, 0) + int(n)
    return first.date(), counts
