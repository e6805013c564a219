"""The console's read queries: the queue (filters, sort, paging, level counts) and the dashboard.

Filters arrive as URL query parameters so a view can be bookmarked and shared; `QueueFilters`
parses and validates them (bad values are one `FilterError` naming every problem, so the queue
page can mark them all beside their fields), and turns them back into a query string for links.
The SQL runs read-only on the store's engine; what a person may see at all comes from the
policy as a `Scope` and is applied before any filter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Engine, case, exists, false, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from models.departments import OUTSIDE_BODIES
from serving.policy import VisibleScope
from serving.store import deadlines
from serving.store.common import is_past
from serving.store.free_text import code_points, refused_characters, without_refused
from serving.store.models import OUTCOMES, STATUSES, WARNING_LEVELS, RiskWarning, WarningEvent
from serving.store.pseudonym import PSEUDONYM_CHARS

PAGE_SIZE = 50
SORTS = ("newest", "score", "level", "age")
LEVEL_ORDER = ("red", "orange", "yellow")
_MAX_PAGE = 100_000
#: a yes/no filter's spellings: the console's checkbox (1) and the API's booleans
_FLAGS = {"1": True, "true": True, "0": False, "false": False}
#: a unit's pseudonym as the store keeps it and a case page shows it (`pseudonym.pseudonymise`)
_PSEUDONYM = re.compile(rf"^[0-9a-f]{{{PSEUDONYM_CHARS}}}$")


# the queue's URL parameters, in the order of the filter form (the page number last: no field)
FILTER_NAMES = (
    "task",
    "level",
    "status",
    "department",
    "district",
    "date_from",
    "date_to",
    "overdue",
    "sent_back",
    "mine",
    "entity",
    "sort",
    "page",
)
# what the form gives back of a value it could not read: enough to see the typo, not a page
_TYPED_MAX = 200


@dataclass(frozen=True)
class FilterProblem:
    """One queue filter the console cannot read.

    `name` is the URL parameter, `problem` one of `characters` (`value`: the refused characters
    by code point), `choice`, `date`, `date_order`, `page`, `too_long`, `pseudonym` (the
    console's catalogs say each in words), `value` what was sent (cut short).
    """

    name: str
    problem: str
    value: str = ""


class FilterError(ValueError):
    """Queue filters the console cannot read (HTTP 400).

    Carries every problem, not the first, so the person corrects them in one go, and the
    filters as typed (`typed`: parameter -> trimmed text), so the form gives back what they wrote.
    """

    def __init__(self, problems: Sequence[FilterProblem], typed: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{p.name}={p.value!r}: {p.problem}" for p in problems))
        self.problems = tuple(problems)
        self.typed = dict(typed)


def scope_conditions(scope: VisibleScope) -> list[ColumnElement[bool]]:
    """SQL conditions for the warnings `scope` allows (applied before any filter)."""
    if scope.everything:
        return []
    if scope.nothing:
        return [false()]
    parts: list[ColumnElement[bool]] = []
    if scope.tasks:
        parts.append(RiskWarning.task.in_(sorted(scope.tasks)))
    values = scope.department_values()
    if values:
        parts.append(RiskWarning.department.in_(sorted(values)))
    return [or_(*parts)]


@dataclass(frozen=True)
class QueueFilters:
    """One queue view: filters, sort and page, as they appear in the URL."""

    task: str | None = None
    level: str | None = None
    status: str | None = None
    department: str | None = None
    district: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    overdue: bool = False
    sent_back: bool = False
    mine: bool = False  # the cases the viewer recorded a step or a note on (`conditions`' actor)
    entity: str | None = None  # one unit's cases: its pseudonym, as its case pages show it
    sort: str = "newest"
    page: int = 1

    @classmethod
    def parse(
        cls,
        params: Mapping[str, str],
        tasks: Sequence[str],
        *,
        departments: Sequence[str],
        districts: Sequence[str],
    ) -> QueueFilters:
        """Read and check the URL's parameters; empty values mean "any". A department or
        district must be one of the codes the console knows (`departments`, `districts`): an
        unknown one would only list nothing, as if no warning were there. Every bad value is
        found before the one `FilterError` that lists them is raised; a value holding a
        character no text may hold (a bidirectional override that turns the page's echo of
        it backwards, a pasted zero-width space) is that problem alone, and the form gives it
        back without them."""
        given = {name: params.get(name, "") for name in FILTER_NAMES}
        refused = {name: refused_characters(value) for name, value in given.items()}
        problems = [
            FilterProblem(name, "characters", code_points(chars))
            for name, chars in refused.items()
            if chars
        ]

        def text(name: str) -> str | None:
            value = "" if refused[name] else given[name].strip()
            return value or None

        def choice(name: str, allowed: Sequence[str]) -> str | None:
            value = text(name)
            if value is not None and value not in allowed:
                problems.append(FilterProblem(name, "choice", value[:64]))
                return None
            return value

        def day(name: str) -> date | None:
            value = text(name)
            if value is None:
                return None
            try:
                return typed_day(value)
            except ValueError:
                problems.append(FilterProblem(name, "date", value[:64]))
                return None

        def code(name: str, known: Sequence[str]) -> str | None:
            value = text(name)
            if value is not None and len(value) > 64:
                problems.append(FilterProblem(name, "too_long", value[:64] + "…"))
                return None
            return choice(name, known)

        def flag(name: str) -> bool:
            # the console's checkbox sends 1; a link written for the API says true or false
            return _FLAGS.get(choice(name, tuple(_FLAGS)) or "", False)

        task = choice("task", tasks)
        level = choice("level", WARNING_LEVELS)
        status = choice("status", STATUSES)
        department = code("department", departments)
        district = code("district", districts)
        date_from = day("date_from")
        date_to = day("date_to")
        if date_from and date_to and date_from > date_to:
            problems.append(FilterProblem("date_from", "date_order", str(date_from)))
        overdue = flag("overdue")
        sent_back = flag("sent_back")
        mine = flag("mine")
        entity = (text("entity") or "").lower() or None
        if entity is not None and not _PSEUDONYM.match(entity):
            problems.append(FilterProblem("entity", "pseudonym", entity[:64]))
        sort = choice("sort", SORTS) or "newest"
        page_text = text("page") or "1"
        page = _page_number(page_text)
        if page is None:
            problems.append(FilterProblem("page", "page", page_text[:20]))
        if problems:
            problems.sort(key=lambda problem: FILTER_NAMES.index(problem.name))
            typed = {
                name: without_refused(value).strip()[:_TYPED_MAX] for name, value in given.items()
            }
            raise FilterError(problems, {name: value for name, value in typed.items() if value})
        assert page is not None  # else a problem above
        return cls(
            task=task,
            level=level,
            status=status,
            department=department,
            district=district,
            date_from=date_from,
            date_to=date_to,
            overdue=overdue,
            sent_back=sent_back,
            mine=mine,
            entity=entity,
            sort=sort,
            page=page,
        )

    @property
    def narrows(self) -> bool:
        """Whether a filter is set (sort and page only order and cut the same cases)."""
        return any(name not in ("sort", "page") for name in self.values())

    def values(self) -> dict[str, str]:
        """This view's parameters as the URL writes them (defaults left out): the filter form's
        values, and, encoded, its links."""
        pairs = {
            "task": self.task,
            "level": self.level,
            "status": self.status,
            "department": self.department,
            "district": self.district,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "overdue": "1" if self.overdue else None,
            "sent_back": "1" if self.sent_back else None,
            "mine": "1" if self.mine else None,
            "entity": self.entity,
            "sort": None if self.sort == "newest" else self.sort,
            "page": None if self.page == 1 else str(self.page),
        }
        return {name: value for name, value in pairs.items() if value}

    def query(self, **changes: Any) -> str:
        """This view's query string, with `changes` applied (a page link, a level count)."""
        return urlencode(replace(self, **changes).values())

    def conditions(
        self, *, with_level: bool = True, is_sqlite: bool = True, actor: str | None = None
    ) -> list[ColumnElement[bool]]:
        """SQL conditions for these filters (`is_sqlite`: how the store keeps times; `actor`:
        the viewer as the history names them, `user:<name>`, whose cases `mine` keeps)."""
        found: list[ColumnElement[bool]] = []
        if self.task:
            found.append(RiskWarning.task == self.task)
        if self.level and with_level:
            found.append(RiskWarning.risk_level == self.level)
        if self.status:
            found.append(RiskWarning.status == self.status)
        if self.department == OUTSIDE_BODIES:
            found.append(deadlines.at_outside_body())
        elif self.department:
            found.append(RiskWarning.department == self.department)
        if self.district:
            found.append(RiskWarning.district == self.district)
        if self.date_from:
            found.append(RiskWarning.as_of >= self.date_from)
        if self.date_to:
            found.append(RiskWarning.as_of <= self.date_to)
        if self.overdue:
            found.append(deadlines.overdue(now=datetime.now(UTC), is_sqlite=is_sqlite))
        if self.sent_back:
            # open again after a disposition: sending back is the only step that leads to open
            found.append(RiskWarning.status == "open")
            found.append(exists().where(*_DISPOSED))
        if self.mine:
            # a step or a note of theirs in the case's history (none without a viewer)
            found.append(
                exists().where(
                    WarningEvent.warning_id == RiskWarning.id, WarningEvent.actor == actor
                )
                if actor
                else false()
            )
        if self.entity:
            found.append(RiskWarning.entity_hash == self.entity)
        return found


def _page_number(text: str) -> int | None:
    """A page number as the queue's links write it, 1 to `_MAX_PAGE`; None for any other text.
    ASCII digits only: `str.isdigit` takes `²`, which `int` refuses, and `int` reads other
    scripts' digits (`١`) and full-width ones, which no link writes."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(_MAX_PAGE)):
        return None
    number = int(text)
    return number if 1 <= number <= _MAX_PAGE else None


# the warning's dispositions (history rows found through the `warning_id` index)
_DISPOSED = (WarningEvent.warning_id == RiskWarning.id, WarningEvent.event == "disposition")


# a day as the filter box takes it: YYYY-MM-DD (what a date input sends), and as a phone's
# numeric keypad, which has no dash, lets it be typed: YYYYMMDD, YYYY/MM/DD
def typed_day(value: str) -> date:
    """A day as the console's date boxes take it: YYYY-MM-DD, YYYYMMDD or YYYY/MM/DD, also as an
    input method in full-width mode types it (`２０２５－１０－０１`).

    Raises:
        ValueError: the text is no such day.
    """
    written = _DAY.match(unicodedata.normalize("NFKC", value).strip())
    if written is None:
        raise ValueError(value)
    return date(*(int(part) for part in written.group("year", "month", "day")))


_DAY = re.compile(r"^(?P<year>[0-9]{4})(?P<gap>[-/]?)(?P<month>[0-9]{2})(?P=gap)(?P<day>[0-9]{2})$")


_LEVEL_RANK = case(
    *((RiskWarning.risk_level == level, rank) for rank, level in enumerate(LEVEL_ORDER)), else_=9
)
_ORDER = {
    "newest": (RiskWarning.created_at.desc(), RiskWarning.score.desc(), RiskWarning.id),
    "score": (RiskWarning.score.desc(), RiskWarning.id),
    "level": (_LEVEL_RANK, RiskWarning.score.desc(), RiskWarning.id),
    # longest waiting first: a closed case waits no more, after every case still waiting
    "age": (
        case((RiskWarning.status == "closed", 1), else_=0),
        RiskWarning.created_at.asc(),
        RiskWarning.id,
    ),
}
_ROW_COLUMNS = (
    RiskWarning.id,
    RiskWarning.task,
    RiskWarning.as_of,
    RiskWarning.score,
    RiskWarning.risk_level,
    RiskWarning.status,
    RiskWarning.department,
    RiskWarning.district,
    RiskWarning.reasons,
    RiskWarning.created_at,
    RiskWarning.due_at,
)


def _last_send_backs(db: Session, open_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """For the page's open warnings, the send-back that reopened each (when, who, the note).

    An open warning with any disposition was sent back (no other step leads to open), and its
    latest disposition is that send-back: one indexed look-up for the page's rows only, so a
    sent-back case reads differently from a new one without slowing a 10,000-row queue.
    """
    if not open_ids:
        return {}
    latest = (
        select(func.max(WarningEvent.id))
        .where(WarningEvent.warning_id.in_(open_ids), WarningEvent.event == "disposition")
        .group_by(WarningEvent.warning_id)
    )
    found: dict[str, dict[str, Any]] = {}
    for event in db.scalars(select(WarningEvent).where(WarningEvent.id.in_(latest))):
        detail = event.detail or {}
        if detail.get("to") == "open":
            found[event.warning_id] = {
                "at": event.at,
                "actor": event.actor,
                "note": detail.get("note") or "",
            }
    return found


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue with the counts shown above it."""

    rows: list[dict[str, Any]]
    total: int
    level_counts: dict[str, int]
    pages: int


class ConsoleQueries:
    """Read-only queries over the warnings table for the queue and the dashboard."""

    def __init__(self, engine: Engine) -> None:
        self._reads = sessionmaker(engine)
        self._is_sqlite = engine.dialect.name == "sqlite"

    def queue(
        self,
        scope: VisibleScope,
        filters: QueueFilters,
        page_size: int = PAGE_SIZE,
        *,
        actor: str | None = None,
    ) -> QueuePage:
        """The page of warnings this person may see under these filters, plus level counts
        (`actor`: the viewer's audit name, for `mine`)."""
        allowed = scope_conditions(scope)
        everything_but_level = [
            *allowed,
            *filters.conditions(with_level=False, is_sqlite=self._is_sqlite, actor=actor),
        ]
        chosen = [*allowed, *filters.conditions(is_sqlite=self._is_sqlite, actor=actor)]
        with self._reads.begin() as db:
            counts = dict(
                db.execute(
                    select(RiskWarning.risk_level, func.count())
                    .where(*everything_but_level)
                    .group_by(RiskWarning.risk_level)
                ).all()
            )
            total = counts.get(filters.level, 0) if filters.level else sum(counts.values())
            # the page's ids first: sorting narrow rows, not their reasons' JSON, keeps a deep
            # page of a sorted 10,000-row queue fast; then those 50 rows in full
            page_ids = list(
                db.scalars(
                    select(RiskWarning.id)
                    .where(*chosen)
                    .order_by(*_ORDER[filters.sort])
                    .offset((filters.page - 1) * page_size)
                    .limit(page_size)
                )
            )
            found = {
                row.id: {**row._mapping, "overdue": is_past(row.due_at), "sent_back": None}
                for row in db.execute(select(*_ROW_COLUMNS).where(RiskWarning.id.in_(page_ids)))
            }
            reopened = [key for key, row in found.items() if row["status"] == "open"]
            for warning_id, event in _last_send_backs(db, reopened).items():
                found[warning_id]["sent_back"] = event
            rows = [found[warning_id] for warning_id in page_ids]
        level_counts = {level: int(counts.get(level, 0)) for level in LEVEL_ORDER}
        pages = max(1, -(-int(total) // page_size))
        return QueuePage(rows, int(total), level_counts, pages)

    def tasks(self, scope: VisibleScope) -> set[str]:
        """The tasks of the warnings this person may see (the queue's task choices): a task
        their department could hold but holds no case of would only list nothing."""
        with self._reads.begin() as db:
            return set(
                db.scalars(select(RiskWarning.task).where(*scope_conditions(scope)).distinct())
            )

    def districts(self, scope: VisibleScope) -> list[str]:
        """The districts of the warnings this person may see (the queue's district choices)."""
        with self._reads.begin() as db:
            return list(
                db.scalars(
                    select(RiskWarning.district)
                    .where(*scope_conditions(scope), RiskWarning.district.is_not(None))
                    .distinct()
                    .order_by(RiskWarning.district)
                )
            )

    def dashboard(self, scope: VisibleScope, tasks: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Per task: open warnings by level and status, overdue now, precision of closed ones."""
        allowed = scope_conditions(scope)
        figures: dict[str, dict[str, Any]] = {
            task: {
                "open": {level: dict.fromkeys(STATUSES[:-1], 0) for level in LEVEL_ORDER},
                "closed": {level: dict.fromkeys(OUTCOMES, 0) for level in LEVEL_ORDER},
                "overdue": 0,
            }
            for task in tasks
        }
        late = deadlines.overdue(now=datetime.now(UTC), is_sqlite=self._is_sqlite)
        with self._reads.begin() as db:
            for task, level, status, outcome, n in db.execute(
                select(
                    RiskWarning.task,
                    RiskWarning.risk_level,
                    RiskWarning.status,
                    RiskWarning.outcome,
                    func.count(),
                )
                .where(*allowed)
                .group_by(
                    RiskWarning.task,
                    RiskWarning.risk_level,
                    RiskWarning.status,
                    RiskWarning.outcome,
                )
            ):
                entry = figures.get(task)
                if entry is None or level not in LEVEL_ORDER:
                    continue
                if status == "closed":
                    entry["closed"][level][outcome] += int(n)
                else:
                    entry["open"][level][status] += int(n)
            for task, n in db.execute(
                select(RiskWarning.task, func.count())
                .where(*allowed, late)
                .group_by(RiskWarning.task)
            ):
                if task in figures:
                    figures[task]["overdue"] = int(n)
        for entry in figures.values():
            entry["precision"] = {level: precision(entry["closed"][level]) for level in LEVEL_ORDER}
        return figures


def precision(outcomes: Mapping[str, int]) -> tuple[float | None, int]:
    """(confirmed + prevented) / (confirmed + prevented + false_alarm), and that denominator.

    `unreachable` is left out: nobody learned whether the risk was real (as in monitoring).
    """
    hits = outcomes.get("confirmed", 0) + outcomes.get("prevented", 0)
    judged = hits + outcomes.get("false_alarm", 0)
    return (hits / judged if judged else None), judged
