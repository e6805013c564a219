"""The store's one clock and its time conversions.

Every store time is UTC. SQLite keeps datetimes without an offset (the store wrote them in UTC),
PostgreSQL with one: `aware` reads either back, `bound` makes a comparison value of the right
form. Tests freeze `datetime.now` (time-machine) to move this clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as aware UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def bound(is_sqlite: bool, moment: datetime) -> datetime:
    """A comparison bound in the store's own form (naive UTC on SQLite, aware elsewhere)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.replace(tzinfo=None) if is_sqlite else utc


def iso(moment: Any) -> str | None:
    """ISO 8601 for a stored datetime (as UTC) or a date; None stays None."""
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return (
            moment.replace(tzinfo=UTC).isoformat()
            if moment.tzinfo is None
            else (moment.astimezone(UTC).isoformat())
        )
    if isinstance(moment, date):
        return moment.isoformat()
    return str(moment)
