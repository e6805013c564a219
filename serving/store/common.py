"""What the store's modules share: time and date helpers, errors, a warning's public form."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

import pandas as pd
from sqlalchemy import (
    Table,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from models.pages import CITY_TIME
from models.settings import first_line, hide_password
from serving.store.models import (
    RiskWarning,
)

T = TypeVar("T")
#: Who holds a warning as a permission saw it: (status, department); see `_locked_warning`.
Holder = tuple[str, str | None]

#: A warning id as the store makes them (`W-` and a UUID4's 32 hex digits).
WARNING_ID = re.compile(r"^W-[0-9a-f]{32}$")
_WARNING_ID_ANY_CASE = re.compile(r"[Ww]-[0-9A-Fa-f]{32}")


def canonical_warning_id(text: str) -> str:
    """A warning id as the store keeps it: one written in capitals (`W-CBBA…`, as a system
    that prints hexadecimal in upper case sends it) is that warning's; any other text as sent."""
    if _WARNING_ID_ANY_CASE.fullmatch(text):
        return "W-" + text[2:].lower()
    return text


class StaleWarning(Exception):
    """The warning changed since the caller read it (HTTP 409): `changed_by` and `changed_at`
    name the last change, so a person can reload and decide again."""

    def __init__(self, warning_id: str, version: int, changed_by: str, changed_at: str | None):
        super().__init__(
            f"warning {warning_id} changed since you read it (now version {version}, by "
            f"{changed_by} at {city_moment(changed_at)}); reload it and decide again"
        )
        self.warning_id = warning_id
        self.version = version
        self.changed_by = changed_by
        self.changed_at = changed_at


def city_moment(moment: str | datetime | None) -> str | None:
    """A stored UTC moment as people read it everywhere: the city's time with its offset, to
    the second (`2026-12-05T12:28:09+08:00`, as `riskloop audit` and the console print it)."""
    if not moment:
        return None
    parsed = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if parsed.tzinfo is None:  # SQLite hands back naive datetimes, which the store wrote in UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(CITY_TIME).isoformat(timespec="seconds")


class StoreUnavailable(ValueError):
    """The configured warnings store cannot be opened: a malformed or unsupported URL, a server
    that does not answer, a file that is not a database, a bad `RISKLOOP_STORE_SYNCHRONOUS`.
    The message names the URL (password hidden) and the first line of the cause, for a CLI's
    one error line or a service's refusal to start."""

    def __init__(self, url: str, cause: BaseException) -> None:
        super().__init__(
            f"cannot open the warnings store {hide_password(url)} (RISKLOOP_STORE_URL): "
            f"{first_line(cause)}"
        )


class KeyMismatch(ValueError):
    """The store was made under another pseudonym key than the one this process holds (a
    secrets file lost and made anew, or another `RISKLOOP_PSEUDONYM_SECRET`): its pseudonyms
    would not meet new ones, so it is not opened (the cause of a `StoreUnavailable`)."""

    def __init__(self) -> None:
        super().__init__(
            "it was made with another pseudonym key than this process's (a secrets file lost "
            "and made anew, or another RISKLOOP_PSEUDONYM_SECRET): the pseudonyms made now "
            "would not meet the stored ones. Restore the secrets file backed up with the "
            "store (RISKLOOP_SECRETS_FILE; docs/privacy.md), or set the pseudonym secret the "
            "other machines use (with no backup at all: riskloop secrets start-over); nothing "
            "was written"
        )


class WarningNotFound(KeyError):
    """No warning has this id (HTTP 404)."""

    def __str__(self) -> str:
        return f"no warning with id {self.args[0]!r}" if self.args else "warning not found"


def table_of(model: type[Any]) -> Table:
    """An ORM class's `Table`, typed as one (Core bulk statements take the table itself)."""
    return cast(Table, model.__table__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC; SQLite hands back naive datetimes, which the store wrote in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def is_past(moment: datetime | None) -> bool:
    """True for a stored time (naive UTC on SQLite) that has passed; False for None."""
    return moment is not None and utc_bound(False, moment) <= utc_now()


def month_start(day: date) -> date:
    return day.replace(day=1)


def as_date(value: Any) -> date:
    """A date from a `date`, `datetime`, pandas Timestamp or ISO string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


#: Seconds a client is asked to wait (`Retry-After`) when the store does not answer.
OUTAGE_RETRY_AFTER_S = 5
OUTAGE_MESSAGE = "the warnings store is not answering (restarting or busy); try again shortly"


def is_outage(exc: BaseException) -> bool:
    """An error of the store's connection, not of a statement: the database server went away or
    refused the connection, or SQLite's lock outlasted the busy timeout. The request's
    transaction did not commit; the service answers 503 with `Retry-After` and recovers by
    itself when the store answers again (pooled connections are checked before use)."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def outage_cause(exc: BaseException) -> str:
    """The driver's first line for the log (never the statement or its parameters)."""
    return f"{type(getattr(exc, 'orig', None) or exc).__name__}: {first_line(exc)}"


def is_retryable(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in {"40001", "40P01"}


def utc_bound(is_sqlite: bool, moment: datetime) -> datetime:
    """A bound for comparisons: SQLite stores UTC without an offset, PostgreSQL with one."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(tzinfo=None) if is_sqlite else aware


def timestamps(moments: list[datetime | None]) -> pd.Series:
    """UTC timestamps (NaT for None) from the store's datetimes. Read as ISO 8601 whatever the
    first one looks like: a moment on a whole second is written without its fraction, and
    pandas took the first row's shape for every row (`riskloop monitor` failed on the rest)."""
    return pd.to_datetime(
        pd.Series([iso_utc(moment) for moment in moments], dtype="object"),
        utc=True,
        format="ISO8601",
    )


def warning_dict(warning: RiskWarning) -> dict[str, Any]:
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
        "district": warning.district,
        "outcome": warning.outcome,
        "reasons": warning.reasons,
        "actions": warning.actions,
        "model_name": warning.model_name,
        "model_version": warning.model_version,
        "created_at": iso_utc(warning.created_at),
        "updated_at": iso_utc(warning.updated_at),
        "closed_at": iso_utc(warning.closed_at),
        "version": warning.version,
        "due_at": iso_utc(warning.due_at),
        "overdue": is_past(warning.due_at),
    }
