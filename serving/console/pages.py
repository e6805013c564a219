"""The console's views: sign-in, queue, case and dashboard (reports: `report_pages`).

Each view runs after `app._guarded` (session, CSRF, account) and asks the policy before it
reads or changes case data. Views are plain functions of (console, request, visit, form), run
in a worker thread because the store is synchronous.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from features.tasks import TASK_NAMES
from models.scorer import reason_rows
from models.spec import get_spec
from serving.console import case as case_view
from serving.console.app import (
    PREFIX,
    Console,
    FormFieldError,
    Visit,
    actor_for,
    clear_cookie,
    error_page,
    field_problem,
    form_text,
    pre_session_token,
    redirect,
    safe_next,
    secured,
    set_cookie,
)
from serving.console.i18n import LANGS, Lang, Messages, as_lang
from serving.console.queries import (
    LEVEL_ORDER,
    SORTS,
    FilterError,
    QueueFilters,
)
from serving.console.sessions import COOKIE, PRE_COOKIE, tokens_match
from serving.policy import TRANSITIONS, allowed_transitions, decide, visible_scope
from serving.store import StaleWarning, TransitionError, WarningNotFound
from serving.store.deadlines import DEADLINE_OF_STATUS
from serving.store.identity import IdentityUnavailable
from serving.store.models import OUTCOMES, STATUSES
from serving.store.people import SignInRefused
from serving.store.privacy import MIN_PURPOSE_CHARS, RevealLimited

_WARNING_ID = re.compile(r"^W-[0-9a-f]{32}$")
_DONE = ("dispatch", "reroute", "start", "close", "triage_close", "send_back")
# the history events that give a warning a new version (an `overdue` note or a re-score after
# closing does not): the lost-update message names whoever wrote the last of these
_NEW_VERSION_EVENTS = frozenset({"raised", "disposition", "score_update"})
_TRANSITION_STEPS = {
    "dispatch": "dispatched",
    "reroute": "dispatched",
    "start": "in_progress",
    "close": "closed",
    "triage_close": "closed",
}


def _tasks() -> tuple[str, ...]:
    """Every task of the registry, in its order."""
    return tuple(TASK_NAMES)


# ----------------------------------------------------------------------------- sign in / out


def sign_in(console: Console, request: Request, form: FormData | None) -> Response:
    """The sign-in form; a good password starts a session and returns to the page asked for."""
    token, fresh = pre_session_token(request)
    params = request.query_params
    # the form carries the page's language, so a refusal answers in the language it was asked in
    lang = as_lang((form.get("lang") if form is not None else None) or params.get("lang"))
    t = Messages(lang)
    notice = ""
    if params.get("expired") == "1":
        notice = t("sign_in.expired")
    elif params.get("out") == "1":
        notice = t("sign_in.signed_out")
    next_page = safe_next(params.get("next"))
    if form is None:
        response = console.render(
            "console/sign_in.html",
            lang,
            request,
            csrf=token,
            next=next_page,
            notice=notice,
            error="",
            name="",
        )
        if fresh:
            set_cookie(response, request, PRE_COOKIE, token)
        return response
    if not tokens_match(request.cookies.get(PRE_COOKIE), form.get("csrf")):  # type: ignore[arg-type]
        return error_page(console, request, None, 403, t("error.csrf"), lang=lang)
    try:
        next_page = safe_next(form_text(form, "next") or next_page)
        name = form_text(form, "name")[:64]
    except FormFieldError as exc:
        return error_page(console, request, None, 400, field_problem(exc, t), lang=lang)
    password = str(form.get("password") or "")[:200]
    try:
        user = console.store.sign_in(
            name, password, lockout=timedelta(seconds=console.backend.settings.lockout_s)
        )
    except SignInRefused:
        error = t("sign_in.failed")
        locked_until = _locked_until(console, name)
        if locked_until is not None:
            error = t("sign_in.locked", until=case_view.local_time(locked_until.isoformat()))
        response = console.render(
            "console/sign_in.html",
            lang,
            request,
            status=401,
            csrf=token,
            next=next_page,
            notice="",
            error=error,
            name=name,
        )
        return response
    if next_page == f"{PREFIX}/queue" and not decide(actor_for(user), "warning_list"):
        next_page = f"{PREFIX}/reports"  # the default page would only refuse an administrator
    session_token, _session = console.sessions.start(user.name)
    response = redirect(next_page)
    set_cookie(response, request, COOKIE, session_token)
    clear_cookie(response, request, PRE_COOKIE)
    return response


def _locked_until(console: Console, name: str) -> datetime | None:
    """When a locked account opens again (None if it is not locked or does not exist)."""
    try:
        user = console.store.get_user(name)
    except KeyError:
        return None
    if user.locked_until is None or user.locked_until <= datetime.now(UTC):
        return None
    return user.locked_until


def sign_out(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """End the session server-side and clear the cookie."""
    console.sessions.end(visit.session.key, "signed_out")
    console.store.sign_out(visit.user.name)
    response = redirect(f"{PREFIX}/sign-in?{urlencode({'lang': visit.lang, 'out': '1'})}")
    clear_cookie(response, request, COOKIE)
    return response


def switch_lang(
    console: Console, request: Request, visit: Visit, form: FormData | None
) -> Response:
    """Switch the person's language and remember it on their account."""
    assert form is not None
    try:
        lang = form_text(form, "lang")
        next_page = safe_next(form_text(form, "next"))
    except FormFieldError as exc:
        return error_page(console, request, visit, 400, field_problem(exc, visit.t))
    if lang not in LANGS:
        return error_page(console, request, visit, 400, visit.t("error.bad_lang"))
    console.store.set_user_lang(visit.user.name, lang)
    return redirect(next_page)


# ----------------------------------------------------------------------------- queue


def queue(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """The warnings this person may see: filters in the URL, level counts, one page."""
    t = visit.t
    if not decide(visit.actor, "warning_list"):
        return error_page(console, request, visit, 403, refusal_rule(visit, "warning_list"))
    tasks = _tasks()
    try:
        filters = QueueFilters.parse(request.query_params, tasks)
        scope = visible_scope(visit.actor)
        found = console.queries.queue(scope, filters)
    except FilterError as exc:
        return error_page(console, request, visit, 400, filter_problem(exc, t))
    console.store.audit(
        actor=visit.actor.audit_name,
        action="warning_list",
        detail={"view": "console_queue", "query": filters.query(), "total": found.total},
    )
    rows = [
        {
            **row,
            "short_id": case_view.short_id(row["id"]),
            "reason": case_view.top_reason(row["reasons"], row["task"], visit.lang),
            "age": case_view.age_text(row["created_at"], t),
            "overdue": bool(row.get("overdue")),
            "due": case_view.local_time(row["due_at"]) if row.get("due_at") else None,
            "deadline": DEADLINE_OF_STATUS.get(row["status"]),
        }
        for row in found.rows
    ]
    handled = set(_visible_tasks(console, visit, scope))
    departments = sorted(
        code for code, row in console.departments().items() if handled & set(row.get("tasks") or ())
    )
    if not scope.everything and not scope.tasks:
        # an officer sees only their department's cases: any other choice is always empty
        departments = sorted(scope.departments)
    return console.render(
        "console/queue.html",
        visit.lang,
        request,
        visit=visit,
        section="queue",
        page=found,
        rows=rows,
        filters=filters,
        scope_text=_scope_text(console, visit),
        task_options=[(task, t(f"task.{task}")) for task in sorted(handled)],
        level_options=[(level, t(f"level.{level}")) for level in LEVEL_ORDER],
        status_options=[(status, t(f"status.{status}")) for status in STATUSES],
        department_options=[
            (code, console.department_name(code, visit.lang)) for code in departments
        ],
        district_options=[
            (code, t.word("district", code)) for code in console.queries.districts(scope)
        ],
        sort_options=[(sort, t(f"sort.{sort}")) for sort in SORTS],
        flash=_flash(request, visit),
    )


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
    "sort": "filter.sort",
    "page": "filter.page",
}


def filter_problem(exc: FilterError, t: Messages) -> str:
    """A bad filter in the person's words: which field (and parameter), what was wrong."""
    label = t(_FILTER_LABELS.get(exc.name, "filter.page"))
    detail = t(f"filter_error.{exc.problem}", value=exc.value)
    return t("error.filter", field=f"{label} ({exc.name})", detail=detail)


def _scope_text(console: Console, visit: Visit) -> str:
    """What this person may see, in words: every warning, or some tasks and departments."""
    scope = visible_scope(visit.actor)
    t = visit.t
    if scope.everything:
        return t("scope.everything")
    comma = "、" if visit.lang == "zh" else ", "
    parts = []
    if scope.tasks:
        tasks = comma.join(t(f"task.{task}") for task in sorted(scope.tasks))
        parts.append(t("scope.tasks", tasks=tasks))
    if scope.departments:
        names = comma.join(
            console.department_name(code, visit.lang) for code in sorted(scope.departments)
        )
        parts.append(t("scope.departments", departments=names))
    return ("；" if visit.lang == "zh" else "; ").join(parts)


def refusal_rule(visit: Visit, action: str, warning: dict[str, Any] | None = None) -> str:
    """Why the policy refuses `action`, as a sentence in the person's language."""
    return rule_in_words(visit, decide(visit.actor, action, warning=warning))


def rule_in_words(visit: Visit, decision: Any) -> str:
    """A policy decision's rule in the person's language; the English rule, written for logs in
    lower case, starts a sentence on a page with a capital ("Officers see and work only ...")."""
    if visit.lang == "zh" and decision.rule_zh:
        return str(decision.rule_zh)
    rule = str(decision.rule)
    return rule[:1].upper() + rule[1:]


# ----------------------------------------------------------------------------- case


def _load_case(
    console: Console, request: Request, visit: Visit, action: str
) -> dict[str, Any] | Response:
    """The warning, if it exists and the policy lets this person `action` it."""
    warning_id = request.path_params["warning_id"]
    if not _WARNING_ID.match(warning_id):
        return error_page(console, request, visit, 404, visit.t("error.no_case"))
    try:
        warning = console.store.get_warning(warning_id)
    except WarningNotFound:
        return error_page(console, request, visit, 404, visit.t("error.no_case"))
    decision = decide(visit.actor, action, warning=warning)
    if not decision:
        console.store.refused(
            actor=visit.actor.audit_name, action=action, rule=decision.rule, warning=warning
        )
        return error_page(console, request, visit, 403, refusal_rule(visit, action, warning))
    return warning


def case(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """The case page: summary, forms for the allowed transitions, reasons, waterfall, timeline."""
    warning = _load_case(console, request, visit, "warning_page")
    if isinstance(warning, Response):
        return warning
    return render_case(console, request, visit, warning, flash=_flash(request, visit))


def _flash(request: Request, visit: Visit) -> dict[str, str] | None:
    """The note that a step just taken was saved (`?done=` after a form's redirect)."""
    done = request.query_params.get("done", "")
    return {"kind": "ok", "text": visit.t(f"done.{done}")} if done in _DONE else None


def render_case(
    console: Console,
    request: Request,
    visit: Visit,
    warning: dict[str, Any],
    *,
    status: int = 200,
    stale: dict[str, str] | None = None,
    form_error: str = "",
    error_field: str = "",
    revealed: dict[str, str] | None = None,
    flash: dict[str, str] | None = None,
) -> Response:
    """The case page of `warning` as it is now, with what went wrong or was shown, if anything
    (a stale form, a refused step, a revealed identity). `error_field` is the id of the form
    field `form_error` is about: marked invalid and described by the message.

    Every answer that shows the case is a look, recorded here: the page opened, and the page
    drawn again after a form (a stale version, a refused step or reveal).
    """
    console.store.audit(
        actor=visit.actor.audit_name,
        action="warning_page",
        task=warning["task"],
        model_version=warning["model_version"],
        detail={"warning_id": warning["id"], "view": "console_case", "status": status},
    )
    t = visit.t
    lang = visit.lang
    spec = get_spec(warning["task"])
    served = console.served_model(warning["task"])
    names: dict[str, str] = {}

    def person(actor: str) -> str:
        if actor not in names:
            names[actor] = case_view.actor_in_words(actor, visit.t, console.store.display_name)
        return names[actor]

    department_choices = [
        (code, console.department_name(code, lang))
        for code in _task_departments(console, warning["task"])
    ]
    allowed = allowed_transitions(visit.actor, warning)
    case_data = {
        **warning,
        "short_id": case_view.short_id(warning["id"]),
        "due_at": case_view.local_time(warning["due_at"]) if warning.get("due_at") else None,
        "overdue": bool(warning.get("overdue")),
        "deadline": DEADLINE_OF_STATUS.get(warning["status"]),
    }
    reasons = reason_rows(warning.get("reasons") or [], spec, lang)
    waterfall_note = ""
    if served is not None and reasons:
        model, version = served
        margin = case_view.waterfall_margin(warning, model, version)
        waterfall_note = case_view.waterfall_note(warning, version, margin, t)
    return console.render(
        "console/case.html",
        lang,
        request,
        visit=visit,
        status=status,
        section="queue",
        case=case_data,
        reasons=reasons,
        actions=case_view.localised_actions(warning.get("actions") or [], spec, lang),
        timeline=case_view.timeline(
            warning.get("history") or [], t, person, lambda c: console.department_name(c, lang)
        ),
        transitions=case_view.transition_forms(allowed, warning, department_choices),
        can_reveal=bool(decide(visit.actor, "reveal", warning=warning)),
        purpose_chars=MIN_PURPOSE_CHARS,
        waterfall=served is not None,
        waterfall_note=waterfall_note,
        waterfall_height=int(90 + 38 * (len(reasons) + 3)),
        stale=stale,
        form_error=form_error,
        error_field=error_field,
        revealed=revealed,
        flash=flash,
    )


def _task_departments(console: Console, task: str) -> list[str]:
    """The departments that handle `task`: the dispatch chooser's choices."""
    return [code for code, row in console.departments().items() if task in (row.get("tasks") or ())]


def waterfall(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """The case's waterfall chart as a PNG (a separate request keeps the page light)."""
    warning = _load_case(console, request, visit, "warning_page")
    if isinstance(warning, Response):
        return warning
    served = console.served_model(warning["task"])
    if served is None:
        return error_page(console, request, visit, 404, visit.t("case.no_model"))
    model, version = served
    lang = as_lang(request.query_params.get("lang", visit.lang))
    png = case_view.waterfall(warning, model, version, lang)
    return secured(Response(png, media_type="image/png"))


def act(console: Console, request: Request, visit: Visit, form: FormData | None) -> Response:
    """Apply one transition from the case page's forms, guarded by the version it was drawn at."""
    assert form is not None
    warning = _load_case(console, request, visit, "warning_read")
    if isinstance(warning, Response):
        return warning
    t = visit.t
    try:
        transition = form_text(form, "transition")
        version_text = form_text(form, "version")
        note = form_text(form, "note") or None
        department = form_text(form, "department") or None
        outcome = form_text(form, "outcome") or None
    except FormFieldError as exc:
        return error_page(console, request, visit, 400, field_problem(exc, visit.t))
    if not version_text.isdigit():
        return error_page(console, request, visit, 400, t("error.no_version"))
    if int(warning.get("version", 0)) != int(version_text):
        return _stale(console, request, visit, warning)  # drawn before someone's step
    decision = decide(visit.actor, "feedback", warning=warning, transition=transition)
    if not decision or transition not in allowed_transitions(visit.actor, warning):
        console.store.refused(
            actor=visit.actor.audit_name,
            action="feedback",
            step=transition if transition in TRANSITIONS else None,
            rule=decision.rule,
            warning=warning,
        )
        return error_page(console, request, visit, 403, rule_in_words(visit, decision))
    # what the form offered is all the server takes; the store's refusal of anything else
    # would reach the person as an English sentence
    choices = [(code, code) for code in _task_departments(console, warning["task"])]
    offered = case_view.transition_forms([transition], warning, choices)[0]
    if offered.outcomes and outcome not in offered.outcomes:
        return error_page(console, request, visit, 400, t("error.bad_outcome"))
    if offered.note_required and not note:
        # 409 as the store's refusal was, in the person's words
        return render_case(
            console,
            request,
            visit,
            warning,
            status=409,
            form_error=t("error.note_required"),
            error_field=f"{transition}-note",
        )
    if offered.departments and department not in {code for code, _ in offered.departments}:
        # one that does not handle the task would put the case in the queue of officers who
        # cannot work it; the department holding it cannot be re-routed to
        return error_page(console, request, visit, 400, t("error.bad_department"))
    try:
        if transition == "send_back":
            console.store.send_back(
                warning["id"],
                actor=visit.actor.audit_name,
                note=note or "",
                expected_version=int(version_text),
            )
        else:
            console.store.add_feedback(
                warning["id"],
                actor=visit.actor.audit_name,
                status=_TRANSITION_STEPS[transition],
                department=department if transition in ("dispatch", "reroute") else None,
                outcome=outcome if transition in ("close", "triage_close") else None,
                note=note,
                expected_version=int(version_text),
            )
    except StaleWarning:
        return _stale(console, request, visit)
    except TransitionError as exc:
        fresh = console.store.get_warning(warning["id"])
        return render_case(
            console,
            request,
            visit,
            fresh,
            status=409,
            form_error=t("error.transition", detail=str(exc)),
        )
    fresh = console.store.get_warning(warning["id"])
    if not decide(visit.actor, "warning_page", warning=fresh):
        # sent back (or re-routed) out of this person's sight: back to their queue
        return redirect(f"{PREFIX}/queue?done={transition}")
    return redirect(f"{PREFIX}/cases/{warning['id']}?done={transition}")


def _stale(
    console: Console, request: Request, visit: Visit, warning: dict[str, Any] | None = None
) -> Response:
    """The lost-update answer: the case as it is now (`warning`, or read again), and who changed
    it when. Read again, it is shown only if this person may still see it: a case re-routed
    to another department meanwhile is a 403."""
    if warning is None:
        loaded = _load_case(console, request, visit, "warning_page")
        if isinstance(loaded, Response):
            return loaded
        warning = loaded
    last = next(
        (
            event
            for event in reversed(warning.get("history") or [])
            if event.get("actor") and event.get("event") in _NEW_VERSION_EVENTS
        ),
        None,
    )
    who = (
        case_view.actor_in_words(str(last["actor"]), visit.t, console.store.display_name)
        if last
        else "–"
    )
    when = case_view.local_time(last.get("at")) if last else "–"
    return render_case(
        console, request, visit, warning, status=409, stale={"who": who, "when": when}
    )


def reveal(console: Console, request: Request, visit: Visit, form: FormData | None) -> Response:
    """Show the case's real identity to someone allowed, for a stated purpose (audited)."""
    assert form is not None
    warning = _load_case(console, request, visit, "reveal")
    if isinstance(warning, Response):
        return warning
    try:
        purpose = form_text(form, "purpose")
    except FormFieldError as exc:
        return error_page(console, request, visit, 400, field_problem(exc, visit.t))
    if len(purpose) < MIN_PURPOSE_CHARS:
        return render_case(
            console,
            request,
            visit,
            warning,
            status=400,
            form_error=visit.t("reveal.too_short", n=MIN_PURPOSE_CHARS),
            error_field="reveal-purpose",
        )
    try:
        identity = console.store.reveal(
            warning["id"],
            actor=visit.actor.audit_name,
            purpose=purpose,
            limit=console.backend.settings.reveal_limit_per_hour,
            expected_version=int(warning["version"]),  # the version the policy decided on
        )
    except StaleWarning:  # changed (perhaps re-routed away) since the policy said yes
        return _stale(console, request, visit)
    except RevealLimited as exc:
        message = visit.t("reveal.limited", seconds=exc.retry_after)
        limited = render_case(console, request, visit, warning, status=429, form_error=message)
        limited.headers["Retry-After"] = str(exc.retry_after)  # as the API's 429 says
        return limited
    except IdentityUnavailable:  # the store says why in English; the page says it in words
        message = visit.t("reveal.unavailable")
        return render_case(console, request, visit, warning, status=409, form_error=message)
    return render_case(
        console, request, visit, warning, revealed={"identity": identity, "purpose": purpose}
    )


# ----------------------------------------------------------------------------- dashboard


def dashboard(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """Per task: open warnings, overdue, precision, this month's load, model and monitoring."""
    if not decide(visit.actor, "warning_list"):
        return error_page(console, request, visit, 403, refusal_rule(visit, "warning_list"))
    scope = visible_scope(visit.actor)
    tasks = _visible_tasks(console, visit, scope)
    figures = console.queries.dashboard(scope, tasks)
    reports_dir = console.backend.settings.reports_dir
    rows = []
    for task in tasks:
        served = console.served_model(task)
        version = served[1] if served else None
        report = f"{task}-v{version}.html" if version else None
        if report is not None and not (reports_dir / report).is_file():
            report = None
        rows.append(
            {
                "name": task,
                "figures": figures[task],
                "champion": version,
                "report": report,
                "monitor": _monitor(reports_dir / "monitor" / f"{task}.json", task, visit.lang),
            }
        )
    month, volumes = console.queries.month_volume(scope, datetime.now(UTC))
    return console.render(
        "console/dashboard.html",
        visit.lang,
        request,
        visit=visit,
        section="dashboard",
        tasks=rows,
        month=month.strftime("%Y-%m"),
        capacity=_capacity_rows(console, visit, volumes),
        scope_text=_scope_text(console, visit),
        open_statuses=STATUSES[:-1],
        outcomes=OUTCOMES,
        queue_link=lambda **query: QueueFilters(**query).query(),
    )


def _capacity_rows(console: Console, visit: Visit, volumes: dict[str, int]) -> list[dict[str, Any]]:
    """This month's volume against capacity for each department that has either."""
    # read fresh, not from the minute's cache: an administrator's new capacity shows at once
    rows = []
    for row in console.store.list_departments():
        volume, capacity = volumes.get(row["code"], 0), row["capacity"]
        if not volume and capacity is None:
            continue
        rows.append(
            {
                "code": row["code"],
                "name": row["name_zh"] if visit.lang == "zh" else row["name_en"],
                "volume": volume,
                "capacity": capacity,
                "over": capacity is not None and volume > capacity,
            }
        )
    return rows


def _visible_tasks(console: Console, visit: Visit, scope: Any) -> tuple[str, ...]:
    """The tasks whose warnings this person may see: all, or their scope's and department's."""
    if scope.everything:
        return _tasks()
    handled = set(scope.tasks)
    for code in scope.departments:
        handled |= set((console.departments().get(code) or {}).get("tasks") or ())
    return tuple(task for task in _tasks() if task in handled)


def _monitor(path: Any, task: str, lang: Lang) -> dict[str, Any] | None:
    """The latest `riskloop monitor` result of a task (None when it never ran); the drifted
    features by their catalog labels in `lang`, as the reasons name them, not column names."""
    try:
        report = json.loads(path.read_text("utf-8"))
        when = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
    except (OSError, ValueError):
        return None
    spec = get_spec(task)
    labels = []
    for name in report.get("drifted") or []:
        try:
            feature = spec.feature(str(name))
        except KeyError:  # a feature the served model no longer has: as recorded
            labels.append(str(name))
            continue
        labels.append(feature.label_zh if lang == "zh" else feature.label_en)
    return {
        "drift": bool(report.get("drift")),
        "drifted": ("、" if lang == "zh" else ", ").join(labels),
        "when": case_view.local_time(when),
    }
