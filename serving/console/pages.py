"""The console's case views, and what every page of case data shares: the policy's refusal
of a whole page, the viewer's scope in words, the note that a step was saved (the queue:
`queue_page`; sign-in, sign-out and language: `sign_in_pages`; dashboard: `dashboard`;
reports: `report_pages`).

Each view runs after `app._guarded` (session, CSRF, account) and asks the policy before it
reads or changes case data. Views are plain functions of (console, request, visit, form), run
in a worker thread because the store is synchronous.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from features.tasks import TASK_NAMES
from models.departments import AUDIT_ONLY_DEPARTMENTS
from models.scorer import reason_rows
from models.spec import get_spec
from serving.console import case as case_view
from serving.console.app import (
    DONE_COOKIE,
    PREFIX,
    UNSAVED_COOKIE,
    Console,
    Visit,
    error_page,
    redirect,
    secured,
)
from serving.console.forms import FIELD_LIMITS
from serving.console.i18n import (
    Messages,
    as_lang,
)
from serving.console.sessions import clear_cookie
from serving.policy import (
    allowed_transitions,
    at_outside_body,
    decide,
    step_offered,
    visible_scope,
)
from serving.store import WarningNotFound
from serving.store.common import WARNING_ID
from serving.store.deadlines import DEADLINE_OF_STATUS
from serving.store.privacy import PURPOSE_MIN_CHARS, PURPOSE_MIN_WEIGHT
from serving.store.reads import SHORT_ID_DIGITS, warning_id_start

_DONE = (
    "dispatch",
    "reroute",
    "start",
    "close",
    "triage_close",
    "send_back",
    "note",
    "note_again",
)


def tasks() -> tuple[str, ...]:
    """Every task of the registry, in its order."""
    return tuple(TASK_NAMES)


# ----------------------------------------------------------------------------- shared


# how much of a send-back's note the queue shows: its first words, the case page has the rest
_NOTE_PREVIEW = 30


def person_namer(console: Console, t: Messages) -> Callable[[str], str]:
    """Actors in words (`case.actor_in_words`), each looked up once per page: a queue or a
    timeline names the same few people many times."""
    names: dict[str, str] = {}

    def person(actor: str) -> str:
        if actor not in names:
            names[actor] = case_view.actor_in_words(actor, t, console.store.display_name)
        return names[actor]

    return person


def sent_back_shown(
    event: dict[str, Any] | None, person: Callable[[str], str], t: Messages
) -> dict[str, str] | None:
    """Who sent an open case back, when, and the start of their note (None: never sent
    back), so the supervisor tells it from a new case before opening it."""
    if event is None:
        return None
    note = case_view.shown_note(
        case_view.note_preview(str(event.get("note") or ""), _NOTE_PREVIEW), t
    )
    return {
        "who": person(str(event["actor"])),
        "when": case_view.local_time(event["at"]),
        "note": note,
    }


def scope_text(console: Console, visit: Visit) -> str:
    """What this person may see, in words: every warning, or some tasks and departments."""
    scope = visible_scope(visit.actor)
    t = visit.t
    if scope.everything:
        return t("scope.everything")
    comma = "、" if visit.lang == "zh" else ", "
    parts = []
    if scope.tasks:
        titles = comma.join(t(f"task.{task}") for task in sorted(scope.tasks))
        parts.append(t("scope.tasks", tasks=titles))
    if scope.departments:
        names = comma.join(
            console.department_name(code, visit.lang) for code in sorted(scope.departments)
        )
        parts.append(t("scope.departments", departments=names))
    return ("；" if visit.lang == "zh" else "; ").join(parts)


def refused_page(console: Console, request: Request, visit: Visit, action: str) -> Response | None:
    """A page the policy refuses this person (`action`: the whole page's, e.g. `audit_read`):
    the 403 page with the rule in their words and an `access_refused` row; None when allowed."""
    decision = decide(visit.actor, action)
    if decision:
        return None
    console.store.refused(
        actor=visit.actor.audit_name, action=action, rule=decision.rule, path=request.url.path[:200]
    )
    return error_page(console, request, visit, 403, refusal_rule(visit, action))


def refusal_rule(visit: Visit, action: str, warning: dict[str, Any] | None = None) -> str:
    """Why the policy refuses `action`, as a sentence in the person's language."""
    return rule_in_words(visit, decide(visit.actor, action, warning=warning))


def rule_in_words(visit: Visit, decision: Any) -> str:
    """A policy decision's rule in the person's language; the English rule, written for logs in
    lower case, starts a sentence on a page with a capital ("Officers see and work only ...")."""
    if visit.lang == "zh" and decision.rule_zh:
        rule = str(decision.rule_zh)
        return rule if rule.endswith("。") else f"{rule}。"
    rule = str(decision.rule)
    return rule[:1].upper() + rule[1:] + ("" if rule.endswith(".") else ".")


# ----------------------------------------------------------------------------- case


def load_case(
    console: Console,
    request: Request,
    visit: Visit,
    action: str,
    drawn_version: int | None = None,
    *,
    moved: bool = False,
    typed: str = "",
    step: str | None = None,
    attempted: str | None = None,
    warning_id: str | None = None,
) -> dict[str, Any] | Response:
    """The warning (the address's, or `warning_id`), if it exists and the policy lets this
    person `action` it.

    A form drawn at `drawn_version`, refused because the case changed since (re-routed or sent
    back away from this person; `moved`: it is known to have changed), says so before the rule,
    and gives back the text the form carried (`typed`). A refusal's audit row names what was
    `attempted` (the look a permitted request records, where it is not the policy's `action`:
    the chart's `warning_chart`) and the `step` the form asked for, if any.
    """
    if warning_id is None:
        warning_id = request.path_params["warning_id"]
    if not WARNING_ID.fullmatch(warning_id):
        return error_page(console, request, visit, 404, visit.t("error.no_case"))
    try:
        warning = console.store.get_warning(warning_id)
    except WarningNotFound:
        return error_page(console, request, visit, 404, visit.t("error.no_case"))
    decision = decide(visit.actor, action, warning=warning)
    if not decision:
        console.store.refused(
            actor=visit.actor.audit_name,
            action=attempted or action,
            rule=decision.rule,
            warning=warning,
            step=step,
        )
        message = refusal_rule(visit, action, warning)
        if moved or (drawn_version is not None and drawn_version < int(warning["version"])):
            # sentences join with a space in English, with none in Chinese
            gap = "" if visit.lang == "zh" else " "
            message = f"{visit.t('error.moved_away')}{gap}{message}"
            return error_page(console, request, visit, 403, message, typed=typed)
        return error_page(console, request, visit, 403, message)
    return warning


def case(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """The case page: summary, forms for the allowed transitions, reasons, waterfall, timeline.

    A case named otherwise than by its id as stored (its short id, another letter case) is
    found and, when this person may see it, sent to its own address (`named_case`).
    """
    named = request.path_params["warning_id"]
    if not WARNING_ID.fullmatch(named):
        return named_case(console, request, visit, named, request.url.query)
    warning = load_case(console, request, visit, "warning_page")
    if isinstance(warning, Response):
        return warning
    ticket = request.query_params.get("shown")
    if ticket is not None:
        shown = console.shown.take(ticket, visit.session.key, warning["id"])
        if shown is not None:
            purpose = case_view.shown_note(shown.purpose, visit.t)
            revealed = {"identity": shown.identity, "purpose": purpose}
            return render_case(console, request, visit, warning, revealed=revealed)
        if console.shown.spent(ticket, visit.session.key, warning["id"]):
            # this person's reveal, reloaded or opened later: the identity was for one page
            gone = {"kind": "note", "text": visit.t("reveal.gone")}
            return render_case(console, request, visit, warning, flash=gone)
        # anyone else's link (or one this process never held): it carries nothing for them,
        # and they never saw an identity to be told it is gone
    given_back = _unsaved_given_back(console, request, visit, warning)
    if given_back is not None:
        return given_back
    response = render_case(console, request, visit, warning, flash=done_flash(request, visit))
    return done_said(console, request, response)


def named_case(
    console: Console,
    request: Request,
    visit: Visit,
    given: str,
    query: str = "",
    refuse: Callable[[int, str], Response] | None = None,
) -> Response:
    """The case `given` names by the start of its id or in other letters (`W-df0010e5`, told
    by phone; `W-DF0010E5...`): a redirect to its page (with `query`) when it names exactly one
    warning and this person may see it. One they may not see is refused exactly as by its full
    id (the same page and audit row: the short form finds out nothing the full id does not); a
    start shared by several warnings says so, and one shorter than the short id asks for more.
    Those answers are `refuse`'s (status, message), an error page by default."""
    in_box = refuse is not None
    answer: Callable[[int, str], Response] = refuse or (
        lambda status, text: error_page(console, request, visit, status, text)
    )
    prefix = warning_id_start(given)
    if prefix is None:
        # an address that is no id is no case's page; typed in the box, it is no id at all
        if in_box:
            return answer(400, visit.t("queue.case_id_format", value=given[:40]))
        return answer(404, visit.t("error.no_case"))
    if len(prefix) - len("W-") < SHORT_ID_DIGITS:
        return answer(400, visit.t("error.case_id_short", n=SHORT_ID_DIGITS))
    found = console.store.warning_ids_starting(prefix, limit=2)
    if not found:
        none = visit.t("queue.case_id_none", prefix=prefix) if in_box else visit.t("error.no_case")
        return answer(404, none)
    if len(found) > 1:
        return answer(400, visit.t("error.several_cases", prefix=prefix))
    warning = load_case(console, request, visit, "warning_page", warning_id=found[0])
    if isinstance(warning, Response):
        return warning
    return redirect(f"{PREFIX}/cases/{warning['id']}{'?' if query else ''}{query}")


def _unsaved_given_back(
    console: Console, request: Request, visit: Visit, warning: dict[str, Any]
) -> Response | None:
    """The case page with the step (or note) this person sent on it after their session ended
    (`ended._keep_unsaved`) back in its form, saying it was not saved and why, once; None when
    this browser holds no such step of theirs for this case. A step the case no longer offers
    (it changed since) is said so, its note shown to copy."""
    ticket = request.cookies.get(UNSAVED_COOKIE)
    step = console.unsaved.take(ticket, visit.user.name, warning["id"]) if ticket else None
    if step is None:
        return None
    offered = step_offered(visit.actor, warning, step.transition)
    kept = {
        "form": step.transition,
        "note": step.note,
        "department": step.department,
        "outcome": step.outcome,
    }
    response = render_case(
        console,
        request,
        visit,
        warning,
        kept=kept if offered else None,
        unsaved={
            "kept": offered,
            "typed": "" if offered else step.note.strip(),
            "reason": step.reason,
        },
    )
    clear_cookie(console, response, request, UNSAVED_COOKIE)
    return response


def done_flash(request: Request, visit: Visit) -> dict[str, str] | None:
    """The note that a step just taken was saved (`DONE_COOKIE`, set by the form's redirect)."""
    done = request.cookies.get(DONE_COOKIE, "")
    return {"kind": "ok", "text": visit.t(f"done.{done}")} if done in _DONE else None


def done_said(console: Console, request: Request, response: Response) -> Response:
    """`response`, the page that said a step was saved, clearing `DONE_COOKIE`: a reload, a
    language switch or Back does not say it again."""
    if DONE_COOKIE in request.cookies:
        clear_cookie(console, response, request, DONE_COOKIE)
    return response


def render_case(
    console: Console,
    request: Request,
    visit: Visit,
    warning: dict[str, Any],
    *,
    status: int = 200,
    stale: dict[str, Any] | None = None,
    form_error: str = "",
    error_field: str = "",
    revealed: dict[str, str] | None = None,
    flash: dict[str, str] | None = None,
    kept: dict[str, str] | None = None,
    unsaved: dict[str, Any] | None = None,
) -> Response:
    """The case page of `warning` as it is now, with what went wrong or was shown, if anything
    (a stale form, a refused step, a revealed identity, a step a time-out left unsaved:
    `unsaved`, whether it is `kept` in its form or its `typed` note shown to copy). `error_field` is the id of the form
    field `form_error` is about: marked invalid and described by the message; `kept` is what
    the person typed into the refused form (`form`: its name, then its fields), given back.

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
    served = console.served_model(warning["task"], str(warning.get("model_version", "")))
    person = person_namer(console, visit.t)
    department_choices = [
        (code, console.department_name(code, lang))
        for code in task_departments(console, warning["task"])
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
    # an open case that was worked before came back: the summary says from whom and why
    back = next(
        (
            event
            for event in reversed(warning.get("history") or [])
            if event.get("event") == "disposition" and event.get("to") == "open"
        ),
        None,
    )
    waterfall_note = ""
    waterfall_text: dict[str, Any] = {}
    waterfall_size = (0, 0)
    if served is not None and reasons:
        model, version = served
        margin = case_view.waterfall_margin(warning, model, version)
        waterfall_note = case_view.waterfall_note(warning, version, margin, t)
        waterfall_text = case_view.waterfall_in_words(
            warning, model, version, margin, reasons, lang
        )
        # the image's own size, declared so the page does not jump as it loads: drawn here
        # (once: the chart's request that follows is answered from the same drawing)
        waterfall_size = case_view.png_size(case_view.waterfall(warning, model, version, lang))
    return console.render(
        "console/case.html",
        lang,
        request,
        visit=visit,
        status=status,
        section="queue",
        case=case_data,
        # dispatched over the API to a body riskloop has no account for: said beside its name
        outside_body=at_outside_body(warning),
        reasons=reasons,
        actions=case_view.localised_actions(warning.get("actions") or [], spec, lang),
        timeline=case_view.timeline(
            case_view.with_reveals(
                warning.get("history") or [], console.store.reveals_of(warning["id"])
            ),
            t,
            person,
            lambda c: console.department_name(c, lang),
        ),
        transitions=case_view.transition_forms(allowed, warning, department_choices),
        can_reveal=bool(decide(visit.actor, "reveal", warning=warning)),
        purpose_chars=PURPOSE_MIN_CHARS,
        purpose_weight=PURPOSE_MIN_WEIGHT,
        limits=FIELD_LIMITS,
        sent_back=sent_back_shown(back, person, t) if warning["status"] == "open" else None,
        kept={"form": "", **(kept or {})},
        waterfall=served is not None,
        waterfall_note=waterfall_note,
        waterfall_text=waterfall_text,
        waterfall_size=waterfall_size,
        stale=stale,
        form_error=form_error,
        error_field=error_field,
        revealed=revealed,
        flash=flash,
        unsaved=unsaved,
    )


def task_departments(console: Console, task: str) -> list[str]:
    """The departments a case of `task` may be dispatched to: those that handle the task, but
    those that only audit (the data office), which work no case."""
    return [
        code
        for code, row in console.departments().items()
        if task in (row.get("tasks") or ()) and code not in AUDIT_ONLY_DEPARTMENTS
    ]


def waterfall(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """The case's waterfall chart as a PNG (a separate request keeps the page light)."""
    warning = load_case(console, request, visit, "warning_page", attempted="warning_chart")
    if isinstance(warning, Response):
        return warning
    served = console.served_model(warning["task"], str(warning.get("model_version", "")))
    if served is None:
        return error_page(console, request, visit, 404, visit.t("case.no_model"))
    model, version = served
    # the chart shows the case's feature values: opened with the page or alone, it is a look
    console.store.audit(
        actor=visit.actor.audit_name,
        action="warning_chart",
        task=warning["task"],
        model_version=warning["model_version"],
        detail={"warning_id": warning["id"], "view": "console_chart"},
    )
    lang = as_lang(request.query_params.get("lang", visit.lang))
    png = case_view.waterfall(warning, model, version, lang)
    return secured(Response(png, media_type="image/png"))


def visible_tasks(console: Console, visit: Visit, scope: Any) -> tuple[str, ...]:
    """The tasks whose warnings this person may see: all, or their scope's and department's."""
    if scope.everything:
        return tasks()
    handled = set(scope.tasks)
    for code in scope.departments:
        handled |= set((console.departments().get(code) or {}).get("tasks") or ())
    return tuple(task for task in tasks() if task in handled)
