"""Cursor walks through the warnings list: a stable order, and a position in it.

Paging by number (`page=2`) counts from the top of a list that moves: a warning raised or
re-scored between two pages shifts the rest, and a client walking the list sees an item twice
or never. A walk orders by what never changes (creation time, newest first, then id) and
starts each page after the last warning of the one before, whatever arrived meanwhile:
every warning that was there when the walk began, and matches its filter throughout, is seen
exactly once; those raised later are not in it (begin a new walk for them).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from serving.store.models import RiskWarning

#: The cursor that begins a walk (`GET /v1/warnings?cursor=start`).
WALK_START = "start"
#: A walk's order: newest first; warnings made in the same instant by id.
WALK_ORDER = (RiskWarning.created_at.desc(), RiskWarning.id)
#: `start`, or a position: the creation time of the last warning seen (microseconds since
#: 1970 UTC), a dot, and its id. Every text of this shape is a position (one made up starts the
#: walk there; the caller's visibility still applies), so nothing the schema allows is refused.
CURSOR_PATTERN = r"^(start|[0-9]{1,18}\.[A-Za-z0-9_-]{1,64})$"
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Position = tuple[datetime, str]


class InvalidCursor(ValueError):
    """A text that is not a cursor (HTTP 422)."""


def encode(created_at: datetime, warning_id: str) -> str:
    """The cursor after a warning: its creation time and its id. (SQLite hands back naive
    datetimes, which the store wrote in UTC.)"""
    moment = created_at if created_at.tzinfo is not None else created_at.replace(tzinfo=UTC)
    return f"{(moment - _EPOCH) // _MICROSECOND}.{warning_id}"


def decode(cursor: str) -> Position | None:
    """The position a cursor stands for; None for `start`. Raises `InvalidCursor`."""
    if not _CURSOR.match(cursor):
        raise InvalidCursor(
            f"not a cursor of this list: send `{WALK_START}` to begin a walk, then each "
            "page's `next_cursor`"
        )
    if cursor == WALK_START:
        return None
    micros, warning_id = cursor.split(".", 1)
    try:
        created_at = _EPOCH + int(micros) * _MICROSECOND
    except OverflowError:  # beyond the year 9999: after every warning
        created_at = datetime.max.replace(tzinfo=UTC)
    return created_at, warning_id


def after(position: Position) -> ColumnElement[bool]:
    """The warnings that come after `position` in `WALK_ORDER`."""
    created_at, warning_id = position
    return or_(
        RiskWarning.created_at < created_at,
        and_(RiskWarning.created_at == created_at, RiskWarning.id > warning_id),
    )
