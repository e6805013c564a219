"""The store's reads: a warning with its history, pages and walks of warnings, the audit log,
and the flat tables monitoring and feedback labels read.

A mixin of `WarningStore` (`serving.store.repository`), which opens the read sessions; every
read here is one snapshot (`_reads`), and none writes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Text, cast, false, func, or_, select, true
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from models.departments import OUTSIDE_BODIES, department_code, department_spellings
from models.pages import CITY_TIME
from serving.policy import VisibleScope
from serving.store import capacity, deadlines, walk
from serving.store.common import (
    WARNING_ID,
    WarningNotFound,
    city_moment,
    iso_utc,
    timestamps,
    utc_bound,
    utc_now,
    warning_dict,
)
from serving.store.free_text import one_line
from serving.store.key_check import START_OVER_ACTION
from serving.store.models import AuditEntry, RiskWarning, ScoredRecord, WarningEvent
from serving.store.people import typed_user_name

MAX_PAGE_SIZE = 500


#: a warning as people name it: its id or a start of it, letters in either case, `W-`
#: optional (its dash may be a space, or left out); `W-` alone is a start without digits
_NAMED_WARNING = re.compile(r"(?:w\s*-?\s*(?P<after_w>[0-9a-f]{0,32})|(?P<digits>[0-9a-f]{1,32}))")
#: the dashes NFKC leaves as they are, which a Chinese input method or a word processor types
#: for the hyphen-minus (hyphen, en and em dash, minus sign)
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))
#: the fewest digits that name a warning: those of the short id screens show
SHORT_ID_DIGITS = 8


#: What a warning id is, said to someone who named none
FULL_ID = "a full id is 'W-' and 32 hex digits; its first 8, the short id screens show, are enough"
#: Every action riskloop writes to the audit log, which a filter by action may name (a store
#: written by an older release may hold others: those it holds are named too)
AUDIT_ACTIONS: tuple[str, ...] = (
    "access_refused",
    "api_key_created",
    "api_key_revoked",
    "audit_read",
    "case_note",
    "department_capacity",
    "department_webhook",
    "disposition",
    "encryption_key_rotated",
    "identity_reveal",
    "model_promotion",
    "model_reload",
    "notification_requeue",
    "password_change_failed",
    "score_offline",
    "score_request",
    "screen",
    START_OVER_ACTION,
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "store_purge",
    "user_created",
    "user_disabled",
    "user_enabled",
    "user_lang",
    "user_list",
    "user_password_changed",
    "user_password_reset",
    "user_unlocked",
    "warning_chart",
    "warning_list",
    "warning_overdue",
    "warning_page",
    "warning_raised",
    "warning_read",
    "warning_updated",
)
#: At most this many characters of a filter that names nothing are repeated in its refusal.
_ECHO_CHARS = 40


class AuditFilterError(ValueError):
    """A filter of the audit log that names nothing: the API's 4xx and the CLI's one line.

    `parameter`: the filter (`warning_id`, `action`, `since`, `until`); `kind`: `format` (no
    warning id at all), `short` (fewer digits than the short id), `ambiguous` (a start several
    ids share), `unknown` (no warning has the id: a 404 on the API), `range` (a date outside
    `FIRST_DAY`..`LAST_DAY`), `value` (any other)."""

    def __init__(
        self,
        parameter: str,
        message: str,
        kind: Literal["format", "short", "ambiguous", "unknown", "range", "value"] = "value",
    ) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.kind = kind


#: The days a date or moment the store is asked about may fall on (the city's days): the
#: store's rows are stamped by the clock when written, never before 1970 (the Unix epoch);
#: 9998-12-31 is the last day whose end (the next midnight, where an `until` day stops) a
#: moment can hold. An earlier or later bound named nothing but a typo (or overflowed).
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)
_FIRST_MOMENT = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=CITY_TIME)
_AFTER_LAST_MOMENT = datetime(LAST_DAY.year + 1, 1, 1, tzinfo=CITY_TIME)


def out_of_range(value: datetime | date, name: str) -> str | None:
    """Why `value` (a day of the city, or a moment with its zone), given as `name`, is not a
    bound the store can answer (`FIRST_DAY` to `LAST_DAY`); None when it is one."""
    if isinstance(value, datetime):
        inside = value.tzinfo is None or _FIRST_MOMENT <= value < _AFTER_LAST_MOMENT
    else:
        inside = FIRST_DAY <= value <= LAST_DAY
    if inside:
        return None
    return (
        f"{name} {value.isoformat()} is out of range: give a date from {FIRST_DAY} to "
        f"{LAST_DAY} (days of the city, UTC+8: the store holds nothing outside them)"
    )


def audit_window(
    since: datetime | date | None,
    until: datetime | date | None,
    *,
    now: datetime,
    names: tuple[str, str] = ("since", "until"),
) -> tuple[datetime | None, datetime | None]:
    """The moments (UTC) an audit read is bounded by: rows at or after `since`, before `until`.

    A date is a day of the city (`models.pages.CITY_TIME`, as people and the console count
    days): `since` from its midnight, `until` through its end (before the next day's midnight),
    so `since=2026-11-23&until=2026-11-29` is that whole week. A `since` after `now` asks for
    rows not yet written, and a `since` not before `until` for a window holding no moment:
    both are refused (an empty answer would read as "nobody did anything"). `names` are the
    two filters as the caller spells them (`--since`, `--until` on the CLI). A bound outside
    `FIRST_DAY`..`LAST_DAY` is refused (`out_of_range`)."""
    for value, name in zip((since, until), names, strict=True):
        problem = None if value is None else out_of_range(value, name)
        if problem is not None:
            raise AuditFilterError(name.lstrip("-"), problem, kind="range")

    def moment(value: datetime | date | None, *, end: bool) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return None if value is None else value.astimezone(UTC)
        day = value + timedelta(days=1) if end else value
        return datetime(day.year, day.month, day.day, tzinfo=CITY_TIME).astimezone(UTC)

    def shown(value: datetime | date) -> str:
        return (city_moment(value) or "") if isinstance(value, datetime) else value.isoformat()

    start, end = moment(since, end=False), moment(until, end=True)
    if since is not None and start is not None and start > now:
        raise AuditFilterError(
            names[0].lstrip("-"),
            f"{names[0]} {shown(since)} is after now ({city_moment(now)}): the log holds no row "
            "written later; give a past date or moment",
        )
    if since is not None and until is not None and start and end and start >= end:
        raise AuditFilterError(
            names[1].lstrip("-"),
            f"{names[1]} {shown(until)} is not after {names[0]} {shown(since)}: no moment is in "
            f"that window; give {names[1]} after {names[0]}",
        )
    return start, end


def warning_id_start(given: str) -> str | None:
    """The start of a warning id `given` names, as ids are stored (`W-6481df4c` from
    `6481DF4C`, `w-6481df4c...` or `Ｗ－６４８１ｄｆ４ｃ`, typed by an input method in full-width
    mode), or None when it is neither an id nor a start of one (its digits may be fewer than
    `SHORT_ID_DIGITS`, none at all after `W-`: the caller says how many a start needs)."""
    typed = unicodedata.normalize("NFKC", given).translate(_DASHES).strip().lower()
    named = _NAMED_WARNING.fullmatch(typed)
    if named is None:
        return None
    return f"W-{named['digits'] if named['after_w'] is None else named['after_w']}"


class StoreReads:
    """Reads of warnings, the audit log and scored records (mixed into `WarningStore`)."""

    _reads: sessionmaker[Session]
    _is_sqlite: bool
    pseudonymise: Callable[[str], str]
    scrub_actor: Callable[[str], str]
    scrub_department: Callable[[str], str]

    def get_warning(self, warning_id: str) -> dict[str, Any]:
        """The warning with its full history, oldest first; raises `WarningNotFound`."""
        with self._reads.begin() as session:
            warning = session.get(RiskWarning, warning_id)
            if warning is None:
                raise WarningNotFound(warning_id)
            return with_history(session, warning)

    def warning_ids_starting(self, prefix: str, limit: int = 2) -> list[str]:
        """The ids of the warnings whose id begins with `prefix` (`W-` and lower-case hex
        digits), in order, at most `limit`: a case named by the short id a screen shows."""
        # a range over the primary key (its index) and, for any collation, the prefix itself
        # (hex digits sort below "g" everywhere, so every id beginning with it lies below)
        query = (
            select(RiskWarning.id)
            .where(
                RiskWarning.id >= prefix,
                RiskWarning.id < f"{prefix}g",
                RiskWarning.id.startswith(prefix, autoescape=True),
            )
            .order_by(RiskWarning.id)
            .limit(limit)
        )
        with self._reads.begin() as session:
            return list(session.scalars(query))

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

        `department` is a code or either name, or several comma-separated when each names a
        department riskloop knows or is `outside` (every outside body's cases; any of them;
        otherwise the whole is one outside body's name, which may hold a comma); `date_from`/`date_to` bound the warning's as-of date,
        inclusive; `overdue` keeps only warnings past (True) or within (False) their response
        deadline. Items have the shape of `get_warning` without `history`.

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
            named = [part.strip() for part in department.split(",") if part.strip()]
            outside = [part for part in named if part.casefold() == OUTSIDE_BODIES]
            known = [part for part in named if department_code(part)]
            if named and len(outside) + len(known) == len(named) and (outside or "," in department):
                # several departments riskloop knows (any of them), as `/v1/audit?action=` takes
                # several actions, and `outside` for every outside body's cases, as the console's
                # filter and `riskloop overdue --department outside` (QA, 2026-12-07: the API
                # read it as one outside body's name and listed none)
                spellings = frozenset().union(*map(department_spellings, known))
                either = [RiskWarning.department.in_(sorted(spellings))] if known else []
                conditions.append(or_(*either, *([deadlines.at_outside_body()] if outside else [])))
            else:  # one; an outside body's name (it may hold a comma) is stored scrubbed (its
                # raw form: a row of before that)
                spellings = department_spellings(department) | {self.scrub_department(department)}
                conditions.append(RiskWarning.department.in_(sorted(spellings)))
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

    def audit_actions(self) -> list[str]:
        """The actions a filter of the audit log may name: `AUDIT_ACTIONS`, and any other the
        log holds (written by an older release), in alphabetical order."""
        with self._reads.begin() as session:
            held = session.scalars(select(AuditEntry.action).distinct())
            return sorted({*AUDIT_ACTIONS, *held})

    def checked_audit_actions(self, given: Sequence[str]) -> list[str]:
        """The actions `given` names (each may list several, comma-separated), checked against
        `audit_actions`: an unknown one raises `AuditFilterError` listing those known."""
        wanted = [part.strip() for text in given for part in text.split(",") if part.strip()]
        if not wanted:
            raise AuditFilterError("action", "needs an action's name, e.g. identity_reveal")
        if all(name in AUDIT_ACTIONS for name in wanted):
            return sorted(set(wanted))  # no scan of the whole log for the actions written now
        known = self.audit_actions()
        unknown = [one_line(name, _ECHO_CHARS) for name in wanted if name not in known]
        if unknown:
            raise AuditFilterError(
                "action",
                f"unknown audit action {', '.join(map(repr, unknown))}; the audit log's actions "
                f"are {', '.join(known)}",
            )
        return sorted(set(wanted))

    def audit_warning(self, given: str) -> str:
        """The warning id `given` names for a read of the audit log: its whole id, or a start
        of it (at least the short id screens show, `W-` optional, any case: `warning_id_start`)
        that begins one warning's id. A whole id no warning has is taken when the log tells its
        story (a row other than a read of the log mentions it). Anything else raises
        `AuditFilterError`: an empty story would read as "nobody looked at it"."""
        shown = one_line(given.strip(), _ECHO_CHARS)
        prefix = warning_id_start(given)
        if prefix is None:
            raise AuditFilterError(
                "warning_id", f"{shown!r} is not a warning id: {FULL_ID}", "format"
            )
        if len(prefix) - len("W-") < SHORT_ID_DIGITS:
            raise AuditFilterError(
                "warning_id",
                f"{shown} is too short to name a warning: give at least the {SHORT_ID_DIGITS} "
                f"digits after W- ({FULL_ID})",
                "short",
            )
        found = self.warning_ids_starting(prefix, limit=2)
        if len(found) > 1:
            raise AuditFilterError(
                "warning_id",
                f"more than one warning's id begins with {prefix}: give more of its digits "
                f"({FULL_ID})",
                "ambiguous",
            )
        if found:
            return found[0]
        if WARNING_ID.fullmatch(prefix) and any(
            row["action"] != "audit_read" for row in self.audit_rows(warning_id=prefix)
        ):
            return prefix
        raise AuditFilterError(
            "warning_id",
            f"no audit rows mention {prefix}: no warning has that id or begins with it ({FULL_ID})",
            "unknown",
        )

    def audit_rows(
        self,
        *,
        since_id: int = 0,
        limit: int | None = None,
        warning_id: str | None = None,
        actor: str | None = None,
        actions: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        task: str | None = None,
        before_id: int | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Audit rows with id > `since_id` (and < `before_id`), in the order they were written
        (`newest_first`: the reverse, so `limit` keeps the newest: the console's first page).

        `warning_id` keeps the rows about one warning (raised, re-scored, looked at,
        dispositions, reveals); `actor` one actor's rows (`user:alice`, or a bare name matching
        any kind; a name with a colon also as a CLI actor's `cli:NAME`; a person's name folded
        as a sign-in folds it, `user:Alice` is `user:alice`); `actions` the rows of those
        actions; `since` rows at or after a moment, `until` rows before one; `task` the rows
        about one task (its warnings, scorings, screens, models; rows about no task, such as
        sign-ins and account changes, are left out). The filters
        combine (every one given holds), and the order by id keeps `since_id` paging complete.
        """
        query = (
            select(AuditEntry)
            .where(AuditEntry.id > since_id)
            .order_by(AuditEntry.id.desc() if newest_first else AuditEntry.id)
        )
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        if actions is not None:
            query = query.where(AuditEntry.action.in_(list(actions)))
        if task is not None:
            query = query.where(AuditEntry.task == task)
        if until is not None:
            query = query.where(AuditEntry.at < utc_bound(self._is_sqlite, until))
        if actor is not None:
            actor = actor.strip()
            # a person's name also as a sign-in folds it (Zhao is zhao), besides as written (an
            # actor recorded before folding, or a name typed at a failed sign-in)
            if ":" not in actor:
                names = [f"{kind}:{actor}" for kind in _KINDS] + [actor]
                names.append(f"user:{typed_user_name(actor)}")
            elif actor.startswith("user:"):
                folded = typed_user_name(actor.removeprefix("user:"))
                names = [actor, f"user:{folded}", f"cli:{actor}"]
            else:  # also a RISKLOOP_ACTOR holding a colon, recorded after `cli:`
                names = [actor] if actor.startswith("cli:") else [actor, f"cli:{actor}"]
            # as written: an id in a name (typed at a failed sign-in) is kept pseudonymised
            query = query.where(AuditEntry.actor.in_([self.scrub_actor(name) for name in names]))
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
        created_at (UTC), features_purged (bool), district (None where the record came without
        one, or was scored before records kept it), then the features as the service recorded
        them. `features_purged` marks the records retention emptied (`purge` leaves `{}`; the
        service always records the model's features): their feature columns are NaN, but not
        because the values were missing when scored, so feature drift must leave them out.
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
                    "features_purged": pd.Series([not row.features for row in rows], dtype=bool),
                    "district": [row.district for row in rows],
                }
            )
            features = pd.DataFrame.from_records([row.features for row in rows], index=base.index)
        return pd.concat([base, features], axis=1)

    def warnings_frame(self, *, task: str, since: datetime | None = None) -> pd.DataFrame:
        """All warnings of `task` (optionally created since a time) as a flat table.

        Columns: id, entity_hash, as_of (datetime64), score, risk_level, status, department,
        outcome, model_version, created_at, closed_at, district (None where the request sent
        none). For monitoring (by group too) and feedback labels.
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
                    "district": [row.district for row in rows],
                }
            )

    def held_in_month(
        self, now: datetime, conditions: Sequence[ColumnElement[bool]] = ()
    ) -> tuple[date, dict[str, int]]:
        """The city's month of `now` and each department's warnings raised in it that it
        holds (`serving.store.capacity.held_in_month`: the dashboard's and `screen`'s count)."""
        with self._reads.begin() as session:
            return capacity.held_in_month(
                session, is_sqlite=self._is_sqlite, now=now, conditions=conditions
            )


_KINDS = ("user", "key", "system", "cli")


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


def with_history(session: Session, warning: RiskWarning) -> dict[str, Any]:
    """`warning` as the API shows it, with its full history, oldest first, as `session` sees
    it: a step's answer is the case as its own transaction left it, never a later change
    (another department's re-route landing after the commit) the caller may not see."""
    session.flush()
    events = session.scalars(
        select(WarningEvent).where(WarningEvent.warning_id == warning.id).order_by(WarningEvent.id)
    ).all()
    item = warning_dict(warning)
    item["history"] = [
        {"event": e.event, "at": iso_utc(e.at), "actor": e.actor, **e.detail} for e in events
    ]
    return item
