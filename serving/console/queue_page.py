"""The console's queue (`/console/queue`): the warnings a person may see, filtered, sorted and
paged by the address, and the boxes opening a case by its id (`/console/cases?id=`) and
finding a unit's cases (`units.find_unit`), whose refusals draw the queue again with what was
typed and what is wrong with it.

Views are plain functions of (console, request, visit, form) like `pages`' (run in a worker
thread).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from features.tasks import TASK_NAMES
from models.departments import AUDIT_ONLY_DEPARTMENTS, OUTSIDE_BODIES
from serving.console import case as case_view
from serving.console.app import PREFIX, Console, Visit, error_page, redirect
from serving.console.i18n import DEFAULT_LANG, LANGS, Messages, catalog, outside_bodies_spellings
from serving.console.pages import (
    done_flash,
    done_said,
    named_case,
    person_namer,
    refused_page,
    scope_text,
    sent_back_shown,
    tasks,
    visible_tasks,
)
from serving.console.queries import LEVEL_ORDER, SORTS, FilterError, QueueFilters
from serving.policy import decide, visible_scope
from serving.store.deadlines import DEADLINE_OF_STATUS
from serving.store.free_text import code_points, refused_characters, without_refused
from serving.store.models import STATUSES


def queue(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """The warnings this person may see: filters in the URL, level counts, one page.

    Filters it cannot read draw the same page (400) with the form as typed and each problem
    beside its field, and no warnings: a list under a filter half applied would mislead.
    """
    return _queue(console, request, visit)


def _queue(
    console: Console,
    request: Request,
    visit: Visit,
    case_id: dict[str, str] | None = None,
    status: int = 200,
    unit_id: dict[str, str] | None = None,
) -> Response:
    """`queue`'s page; `case_id` (`typed`, `text`): the id typed in the box opening a case,
    given back with what is wrong with it, in an answer of `status`; `unit_id` the same for
    the box finding a unit's cases (`units.find_unit`)."""
    t = visit.t
    not_theirs = refused_page(console, request, visit, "warning_list")
    if not_theirs is not None:
        return not_theirs
    scope = visible_scope(visit.actor)
    spellings = _filter_spellings(console, scope)
    params = dict(request.query_params)
    for name, codes in spellings.items():
        value = params.get(name, "").strip()
        params[name] = codes.get(value.casefold(), value)
    try:
        filters = QueueFilters.parse(
            params,
            tasks(),
            departments=sorted({*spellings["department"].values(), OUTSIDE_BODIES}),
            districts=sorted(set(spellings["district"].values())),
        )
    except FilterError as exc:
        problems = {
            problem.name: {
                "label": t(_FILTER_LABELS[problem.name]),
                "text": t(f"filter_error.{problem.problem}", value=problem.value),
            }
            for problem in exc.problems
        }
        return _queue_page(
            console,
            request,
            visit,
            scope,
            status=400,
            typed=exc.typed,
            problems=problems,
            case_id=case_id,
            unit_id=unit_id,
        )
    found = console.queries.queue(scope, filters, actor=visit.actor.audit_name)
    # the ids of the rows shown (score, top reason, a note's start), under the key the API's
    # list uses: `riskloop audit --warning` then finds this look in the case's story
    console.store.audit(
        actor=visit.actor.audit_name,
        action="warning_list",
        detail={
            "view": "console_queue",
            "query": filters.query(),
            "warning_ids": [row["id"] for row in found.rows],
            "total": found.total,
        },
    )
    person = person_namer(console, t)
    rows = [
        {
            **row,
            "short_id": case_view.short_id(row["id"]),
            "reason": case_view.top_reason(row["reasons"], row["task"], visit.lang),
            "age": case_view.age_text(row["created_at"], t, status=row["status"]),
            "overdue": bool(row.get("overdue")),
            "due": case_view.local_time(row["due_at"]) if row.get("due_at") else None,
            "deadline": DEADLINE_OF_STATUS.get(row["status"]),
            "sent_back": sent_back_shown(row["sent_back"], person, t),
        }
        for row in found.rows
    ]
    response = _queue_page(
        console,
        request,
        visit,
        scope,
        status=status,
        case_id=case_id,
        unit_id=unit_id,
        typed=filters.values(),
        filters=filters,
        page=found,
        rows=rows,
        flash=done_flash(request, visit),
    )
    return done_said(console, request, response)


def unit_refused(
    console: Console, request: Request, visit: Visit, typed: str, text: str
) -> Response:
    """The queue again (400), the box finding a unit's cases holding `typed` and `text`
    beside it saying what is wrong with it."""
    return _queue(console, request, visit, status=400, unit_id={"typed": typed, "text": text})


def _filter_spellings(console: Console, scope: Any) -> dict[str, dict[str, str]]:
    """For the department and district filters, each spelling the console reads (letter case
    aside) -> its code: the code, and the name the console shows for it in either language
    (a link written by hand from what the page shows). The districts are those the console
    has names for and those of the warnings this person sees."""
    spellings: dict[str, dict[str, str]] = {"department": {}, "district": {}}
    for code, row in console.departments().items():
        for spelling in (code, str(row["name_zh"]), str(row["name_en"])):
            spellings["department"].setdefault(spelling.casefold(), code)
    # every outside body: its code, and the chooser's label in either language, whole or its
    # short name before the explanation in brackets (外部机构, "Outside bodies")
    for spelling in outside_bodies_spellings():
        spellings["department"].setdefault(spelling, OUTSIDE_BODIES)
    named = {
        key.removeprefix("district.")
        for key in catalog(DEFAULT_LANG)
        if key.startswith("district.")
    }
    for code in sorted(named | set(console.queries.districts(scope))):
        for spelling in (code, *(Messages(lang).word("district", code) for lang in LANGS)):
            spellings["district"].setdefault(spelling.casefold(), code)
    return spellings


def _queue_page(
    console: Console,
    request: Request,
    visit: Visit,
    scope: Any,
    *,
    typed: dict[str, str],
    problems: dict[str, dict[str, str]] | None = None,
    status: int = 200,
    case_id: dict[str, str] | None = None,
    **shown: Any,
) -> Response:
    """The queue page with its filter form: `typed` holds the form's values, and either
    `problems` (by parameter: its field's label and what to correct) or `shown`, a page of
    warnings (`filters`, `page`, `rows`, `flash`); `case_id`, an id the box opening a case
    could not open (`typed`, and the `text` saying why)."""
    t = visit.t
    handled = set(visible_tasks(console, visit, scope))
    # a department holding a case this person sees: any that works a task they see in full
    # (everything, or their scope's tasks), and their own; any other choice is always empty
    seen_in_full = handled if scope.everything else set(scope.tasks)
    departments = sorted(
        {
            code
            for code, row in console.departments().items()
            if seen_in_full & set(row.get("tasks") or ()) and code not in AUDIT_ONLY_DEPARTMENTS
        }  # no case is ever dispatched to a department that only audits
        | {code for code in scope.departments if code}
    )
    # a case at an outside body is seen by its task's owners and the city's view only
    outside = [(OUTSIDE_BODIES, t("filter.outside_bodies"))] if seen_in_full else []
    return console.render(
        "console/queue.html",
        visit.lang,
        request,
        visit=visit,
        status=status,
        section="queue",
        scope_text=scope_text(console, visit),
        task_options=[(task, t(f"task.{task}")) for task in sorted(console.queries.tasks(scope))],
        level_options=[(level, t(f"level.{level}")) for level in LEVEL_ORDER],
        status_options=[(status, t(f"status.{status}")) for status in held_statuses(scope)],
        department_options=[
            (code, console.department_name(code, visit.lang)) for code in departments
        ]
        + outside,
        district_options=[
            (code, t.word("district", code)) for code in console.queries.districts(scope)
        ],
        sort_options=[(sort, t(f"sort.{sort}")) for sort in SORTS],
        # a shared link's choice outside this person's options, named in words where known
        known_names={
            "task": {task: t(f"task.{task}") for task in TASK_NAMES},
            "department": {
                **{
                    code: console.department_name(code, visit.lang)
                    for code in console.departments()
                },
                OUTSIDE_BODIES: t("filter.outside_bodies"),
            },
        },
        typed=typed,
        problems=problems or {},
        case_id=case_id,
        **shown,
    )


def held_statuses(scope: Any) -> tuple[str, ...]:
    """The statuses of the cases this person may see: an open case is held by no department
    (not dispatched yet, or sent back), so one who sees only their department's cases (an
    officer) never holds one."""
    if scope.everything or scope.tasks:
        return tuple(STATUSES)
    return tuple(status for status in STATUSES if status != "open")


# the label of each queue parameter, for a bad filter's message
_FILTER_LABELS = {
    "task": "field.task",
    "level": "field.level",
    "status": "field.status",
    "department": "field.department",
    "district": "field.district",
    "date_from": "filter.date_from",
    "date_to": "filter.date_to",
    "overdue": "filter.overdue",
    "sent_back": "filter.sent_back",
    "mine": "filter.mine",
    "entity": "filter.entity",
    "sort": "filter.sort",
    "page": "filter.page",
}


def open_named_case(
    console: Console, request: Request, visit: Visit, _form: FormData | None
) -> Response:
    """The queue's box opening a case by its id (`?id=`, as `pages.named_case` reads it); an
    empty box, the queue. An id that opens no case draws the queue again with the id in its
    box and what is wrong with it beside it: not an id at all, too short, no such warning,
    several; or holding a character no text may hold (a bidirectional override, which would
    turn the echo of the id backwards, a pasted zero-width space), named, the id given back
    without it."""
    given = request.query_params.get("id", "").strip()
    refused = refused_characters(given)
    typed = without_refused(given).strip()[:40]

    def refuse(status: int, text: str) -> Response:
        if not decide(visit.actor, "warning_list"):  # no queue to draw it on
            return error_page(console, request, visit, status, text)
        return _queue(console, request, visit, {"typed": typed, "text": text}, status)

    if refused:
        return refuse(400, visit.t("queue.case_id_characters", chars=code_points(refused)))
    if not given:
        return redirect(f"{PREFIX}/queue")
    return named_case(console, request, visit, given, refuse=refuse)
