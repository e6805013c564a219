"""The console's dashboard: per task the open warnings, overdue, precision, the champion with
its report and the latest monitoring; this month's volume per department against capacity.

A view like those of `pages` (run after `app._guarded`), asking the policy first.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from features.tasks import DISTRICT_COLUMN
from models.departments import OUTSIDE_BODIES, department_code
from models.pages import REPORT_LANGS, report_file_name
from models.spec import get_spec
from serving.console import case as case_view
from serving.console.app import Console, Visit
from serving.console.i18n import Lang, Messages
from serving.console.pages import refused_page, scope_text, visible_tasks
from serving.console.queries import QueueFilters, scope_conditions
from serving.policy import VisibleScope, owned_tasks, visible_scope
from serving.store.models import OUTCOMES, STATUSES


def dashboard(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """Per task: open warnings, overdue, precision, this month's load, model and monitoring."""
    not_theirs = refused_page(console, request, visit, "warning_list")
    if not_theirs is not None:
        return not_theirs
    scope = visible_scope(visit.actor)
    tasks = visible_tasks(console, visit, scope)
    figures = console.queries.dashboard(scope, tasks)
    reports_dir = console.backend.settings.reports_dir
    rows = []
    for task in tasks:
        served = console.served_model(task)
        version = served[1] if served else None
        # the report's page opens the edition in the visitor's language
        report = report_file_name(task, version) if version else None
        if version and not any(
            (reports_dir / report_file_name(task, version, lang)).is_file() for lang in REPORT_LANGS
        ):
            report = None
        rows.append(
            {
                "name": task,
                "figures": figures[task],
                "champion": version,
                "report": report,
                "monitor": _monitor(reports_dir / "monitor" / f"{task}.json", task, visit.lang),
                # a task seen only through the department's own cases: not the city's figures
                "partial": not scope.everything and task not in scope.tasks,
            }
        )
    comma = "、" if visit.lang == "zh" else ", "
    own = comma.join(
        console.department_name(code, visit.lang) for code in sorted(scope.departments)
    )
    month, volumes = console.store.held_in_month(datetime.now(UTC), scope_conditions(scope))
    # read fresh, not from the minute's cache: an administrator's new capacity shows at once
    departments = console.store.list_departments()
    in_view = departments_in_view(scope, departments)
    return console.render(
        "console/dashboard.html",
        visit.lang,
        request,
        visit=visit,
        section="dashboard",
        tasks=rows,
        month=month.strftime("%Y-%m"),
        capacity=capacity_rows(
            departments,
            volumes,
            visit.lang,
            visit.t("dash.unlisted"),
            in_view=in_view,
            own_unlisted=visit.t("dash.unlisted_own"),
        ),
        outside_view=_outside_view(in_view, departments),
        scope_text=scope_text(console, visit),
        own_departments=own,
        open_statuses=STATUSES[:-1],
        outcomes=OUTCOMES,
        queue_link=lambda **query: QueueFilters(**query).query(),
        outside_bodies=OUTSIDE_BODIES,  # the outside bodies' row lists their cases there
    )


def departments_in_view(
    scope: VisibleScope, departments: list[dict[str, Any]]
) -> frozenset[str] | None:
    """The departments whose month `scope` sees whole (None: every one, the city's view).

    A department holds the warnings dispatched to it and, not dispatched, those of the tasks
    it owns. A view takes them all in when it holds the department (its dispatched warnings)
    and every task the department owns, or every task the department handles (the console
    dispatches a task only to a department that handles it). A view that sees only part of a
    department's warnings would show a part as the department's month: a 0 where it has 3.
    """
    if scope.everything:
        return None
    return frozenset(
        row["code"]
        for row in departments
        if owned_tasks(row["code"]) <= scope.tasks
        and (row["code"] in scope.departments or set(row.get("tasks") or ()) <= scope.tasks)
    )


def _outside_view(in_view: frozenset[str] | None, departments: list[dict[str, Any]]) -> str:
    """Whose month the capacity table leaves out, for the page to say: "" (nobody's), "some"
    or "all" departments'."""
    if in_view is None or all(row["code"] in in_view for row in departments):
        return ""
    return "some" if in_view else "all"


def capacity_rows(
    departments: list[dict[str, Any]],
    volumes: Mapping[str, int],
    lang: str,
    unlisted: str,
    *,
    in_view: Collection[str] | None = None,
    own_unlisted: str | None = None,
) -> list[dict[str, Any]]:
    """Each department's volume (warnings it holds) against its capacity, for those with
    either; a department stored by either name counts as its code. Cases dispatched over the
    API to a name no department has (an outside body's, kept as sent, scrubbed) add up in one
    last row, `unlisted`, so the rows add up to the month's warnings.

    `in_view`: the departments whose month the viewer sees whole (`departments_in_view`;
    None: all of them). The others are left out rather than showing the part the viewer sees
    as their figure. `own_unlisted`: the last row's name in such a view. Its outside bodies'
    cases are those of the tasks it owns, every one of them (the policy shows such a case only
    to its task's owners and to the city's view), so they add up there too,
    named as theirs, not as every outside body's month; None leaves that row out.
    """
    listed = {row["code"] for row in departments}
    by_code: dict[str, int] = {}
    elsewhere = 0
    for holder, n in volumes.items():
        code = holder if holder in listed else department_code(holder)
        if code in listed:
            by_code[str(code)] = by_code.get(str(code), 0) + n
        else:
            elsewhere += n
    rows = []
    for row in departments:
        volume, capacity = by_code.get(row["code"], 0), row["capacity"]
        if in_view is not None and row["code"] not in in_view:
            continue
        if not volume and capacity is None:
            continue
        rows.append(
            {
                "code": row["code"],
                "name": row["name_zh"] if lang == "zh" else row["name_en"],
                "volume": volume,
                "capacity": capacity,
                "over": capacity is not None and volume > capacity,
            }
        )
    name = unlisted if in_view is None else own_unlisted
    if elsewhere and name is not None:
        rows.append(
            {
                "code": "unlisted",
                "name": name,
                "volume": elsewhere,
                "capacity": None,
                "over": False,
            }
        )
    return rows


def _monitor(path: Any, task: str, lang: Lang) -> dict[str, Any] | None:
    """The latest `riskloop monitor` result of a task (None when it never ran, or when the file
    holds no report of this task: another task's, an older version's or one written by hand);
    the drifted features by their catalog labels in `lang`, as the reasons name them."""
    try:
        report = json.loads(path.read_text("utf-8"))
        when = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
    except (OSError, ValueError):
        return None
    if not isinstance(report, dict) or report.get("task") != task:
        return None
    spec = get_spec(task)

    def named(names: Any) -> str:
        labels = []
        for name in names or []:
            if name == "score":  # the score's own distribution, as the monitor names it
                labels.append(Messages(lang)("dash.score_distribution"))
                continue
            try:
                feature = spec.feature(str(name))
            except KeyError:  # a feature the served model no longer has: as recorded
                labels.append(str(name))
                continue
            labels.append(feature.label_zh if lang == "zh" else feature.label_en)
        return ("、" if lang == "zh" else ", ").join(labels)

    return {
        "drift": bool(report.get("drift")),
        "drifted": named(report.get("drifted")),
        # moved, not above the alarm (`riskloop monitor`'s "watch"; older reports hold none)
        "watched": named(report.get("watched")),
        **_district_flags(report.get("groups"), Messages(lang)),
        "when": case_view.local_time(when),
    }


def _district_flags(groups: Any, t: Messages) -> dict[str, Any]:
    """`districts`: the districts whose warning rate the monitor flagged against the whole's,
    a sentence each in the person's language, highest rate first (none from a report without
    groups, or one written before records kept the district: its district rows have no rate);
    `districts_help`: the rule that flagged them, with the report's own bounds."""
    none: dict[str, Any] = {"districts": [], "districts_help": ""}
    if not isinstance(groups, dict):
        return none
    whole = groups.get("whole")
    overall = _rate(whole.get("warning_rate")) if isinstance(whole, dict) else None
    if overall is None:
        return none
    flagged = []
    for entry in groups.get("columns") or []:
        if not isinstance(entry, dict) or entry.get("column") != DISTRICT_COLUMN:
            continue
        for row in entry.get("groups") or []:
            if not isinstance(row, dict) or row.get("flag") not in ("high", "low"):
                continue
            rate = _rate(row.get("warning_rate"))
            if rate is None or row.get("group") == "missing":
                continue
            flagged.append((rate, str(row.get("group")), str(row["flag"])))
    lines = [
        t(
            "dash.district_rate",
            district=t.word("district", district),
            rate=f"{rate:.1%}",
            whole=f"{overall:.1%}",
            flag=t(f"dash.rate_{flag}"),
        )
        for rate, district, flag in sorted(flagged, reverse=True)
    ]
    bounds, units = groups.get("bounds"), groups.get("min_units")
    rule = ""
    if lines and isinstance(bounds, dict) and isinstance(units, int):
        rule = t("dash.districts_help", high=bounds.get("high"), low=bounds.get("low"), units=units)
    return {"districts": lines, "districts_help": rule}


def _rate(value: Any) -> float | None:
    """A warning rate as the monitor writes it (a number from 0 to 1), None for anything else
    (NaN, a missing figure, a hand-written file's text)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None
