"""The case page's forms: a step in the warning's life (dispatch, start, close, send back, ...)
and an identity reveal, each guarded by the version of the case the page was drawn at.

A form the server refuses for what the person typed (too long, a character no text may hold, a
purpose too short, a missing reason) draws the case page again with the message beside the
field and the text kept, so nothing typed is lost.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from models.departments import department_code
from serving.console import case as case_view
from serving.console.app import (
    DONE_COOKIE,
    DONE_COOKIE_MAX_AGE_S,
    PREFIX,
    Console,
    Visit,
    error_page,
    redirect,
)
from serving.console.forms import FIELD_LIMITS, FormFieldError, field_problem, form_text
from serving.console.i18n import Messages
from serving.console.pages import load_case, render_case, rule_in_words, task_departments
from serving.console.sessions import set_cookie
from serving.console.shown import Shown, UnsavedStep
from serving.policy import (
    DECISIONS,
    NOTE_STEP,
    REVEAL_STEP,
    TRANSITIONS,
    Decision,
    allowed_transitions,
    decide,
    may_note,
    step_offered,
)
from serving.store import RepeatedNote, StaleWarning, TransitionError
from serving.store.free_text import plain_line_breaks, without_refused
from serving.store.identity import IdentityUnavailable
from serving.store.privacy import (
    PURPOSE_MIN_CHARS,
    PURPOSE_MIN_WEIGHT,
    RevealLimited,
    states_a_purpose,
)

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
#: a number as people write one, which a version need not be (`-1`, `+2`, `1.5`)
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_CHOICE_CHARS = 64  # a department's or an outcome's code is far shorter
# the rules of the refused steps the case's forms never send (for the audit log, in English)
_RULE_FIELD = "a form field no page sends (too long, or holding a refused character)"
_RULE_VERSION = "a step carries the case version its page was drawn at"
_RULE_OUTCOME = "a step closes a case only with an outcome its form offers"
_RULE_NO_OUTCOME = "a close names the outcome the case was closed with"
_RULE_NO_DEPARTMENT = "a dispatch or re-route names the department to send the case to"
_RULE_DEPARTMENT = "a case goes only to a department that handles its task"
_RULE_SAME_DEPARTMENT = "a case is not re-routed to the department already holding it"


def _is_version(text: str) -> bool:
    """Whether `text` is a version a case page writes: ASCII digits (`str.isdigit` takes `²`,
    which `int` refuses, and `-1` is a number no version is)."""
    return text.isascii() and text.isdigit()


def _drawn_version(form: FormData) -> int | None:
    """The case version a form was drawn at, if it carries a well-formed one."""
    value = form.get("version")
    return int(value) if isinstance(value, str) and _is_version(value) and len(value) < 12 else None


def _typed(form: FormData, name: str) -> str:
    """What the person typed into `name`, to give back with a refusal: whole, its line breaks
    as the box counts them, and the characters no text may hold taken out (the message names
    them). Never cut: a text over the limit comes back to be shortened, not shortened here."""
    value = form.get(name)
    return without_refused(plain_line_breaks(value)) if isinstance(value, str) else ""


def form_step(form: FormData, form_of: str) -> tuple[str, str] | None:
    """The step a case form asks for and the field its text is typed in, by the form's address
    (`form_of`: `act`, whose `transition` names one of the policy's transitions; `note`;
    `reveal`, whose text is the purpose); None for a step no case page draws."""
    step = form.get("transition") if form_of == "act" else form_of
    known = TRANSITIONS if form_of == "act" else (NOTE_STEP, REVEAL_STEP)
    if not isinstance(step, str) or step not in known:
        return None
    return step, "purpose" if step == REVEAL_STEP else "note"


def unsaved_step(form: FormData, reason: str, form_of: str) -> UnsavedStep | None:
    """A case form's step (`form_step`) and what was typed or chosen in it, kept when the
    session had ended for `reason` (`ended._keep_unsaved`); None for a step no case page draws.
    The note, or the reveal's purpose, as `_typed` gives it back, at most as long as its field
    takes (a browser sends no more), the choices as sent, to be offered again only if the form
    still lists them."""
    asked = form_step(form, form_of)
    if asked is None:
        return None
    transition, field = asked
    department, outcome = (form.get(name) for name in ("department", "outcome"))
    return UnsavedStep(
        transition=transition,
        note=_typed(form, field)[: FIELD_LIMITS[field]],
        department=department[:_CHOICE_CHARS] if isinstance(department, str) else "",
        outcome=outcome[:_CHOICE_CHARS] if isinstance(outcome, str) else "",
        reason=reason,
    )


def _given_back(exc: FormFieldError, t: Messages) -> str:
    """A refused note's or purpose's message, as its text comes back with it (`_typed`): a
    refused character is named, and said to be taken out of the text below."""
    problem = field_problem(exc, t)
    return f"{problem} {t('error.refused_removed')}" if exc.refused else problem


def act(console: Console, request: Request, visit: Visit, form: FormData | None) -> Response:
    """Apply one transition from the case page's forms, guarded by the version it was drawn at."""
    assert form is not None
    note_typed = _typed(form, "note")
    drawn = _drawn_version(form)
    asked = form.get("transition")
    step = asked if isinstance(asked, str) else None  # on the record of a refused look too
    # a case this person may no longer see (re-routed away while the page was open) refuses
    # the step: on the record as the step attempted, as every refused step is
    warning = load_case(
        console,
        request,
        visit,
        "warning_read",
        drawn,
        typed=note_typed,
        step=step,
        attempted="feedback",
    )
    if isinstance(warning, Response):
        return warning
    t = visit.t

    def on_record(rule: str, **given: str) -> None:
        """A refused step on the record: who, which step, the rule, what the form named."""
        console.store.refused(
            actor=visit.actor.audit_name,
            action="feedback",
            step=step,
            rule=rule,
            warning=warning,
            given=given,
        )

    def refused(rule: str, status: int, message: str, **given: str) -> Response:
        """A step this form cannot ask for (a hand-made or tampered request): on the record,
        with what it named, and a page saying what is wrong."""
        on_record(rule, **given)
        return error_page(console, request, visit, status, message)

    try:
        transition = form_text(form, "transition")
        version_text = form_text(form, "version")
    except FormFieldError as exc:
        return refused(_RULE_FIELD, 400, field_problem(exc, t), field=exc.name)
    if transition not in TRANSITIONS:  # no page offers it: a hand-made request, on the record
        return refused("no such step", 400, t("error.bad_transition"))
    step = transition  # a known step, as the record names it from here on
    # a role that works no case (an auditor, an administrator) is refused, and audited, before
    # the form's version is looked at: whatever version a hand-made post carries
    decision = decide(visit.actor, "feedback")
    if decision:
        if not _is_version(version_text):  # missing, or no version (a hand-made post)
            if not version_text:
                problem = "error.no_version"
            elif _NUMBER.fullmatch(version_text):  # a number, but no version is `-1` or `1.5`
                problem = "error.invalid_version"
            else:
                problem = "error.bad_version"
            return refused(_RULE_VERSION, 400, t(problem), version=version_text)
        current = int(warning.get("version", 0))
        if int(version_text) > current:  # a version this case never had: not a lost update
            return _unknown_version(console, request, visit, warning, form, note_typed)
        if current != int(version_text):  # drawn before someone's step
            return _stale(console, request, visit, warning, typed=note_typed)
        decision = decide(visit.actor, "feedback", warning=warning, transition=transition)
    if not decision or transition not in allowed_transitions(visit.actor, warning):
        # the case's state refusing the step is a conflict, as the store's `TransitionError`
        # is (409, docs/closed-loop.md); who is asking refusing it, a 403
        status = 409 if decision.by_state else 403
        return refused(decision.rule, status, rule_in_words(visit, decision))
    # what the person typed and chose, given back with a refusal of what they typed
    kept = {"form": transition, "note": note_typed}
    for choice in ("department", "outcome"):
        value = form.get(choice)
        if isinstance(value, str):
            kept[choice] = value[:_CHOICE_CHARS]
    try:
        note = form_text(form, "note") or None
        department = form_text(form, "department") or None
        outcome = form_text(form, "outcome") or None
    except FormFieldError as exc:
        if exc.name != "note":  # a chooser no page fills so: tampered with
            return refused(_RULE_FIELD, 400, field_problem(exc, t), field=exc.name)
        return render_case(
            console,
            request,
            visit,
            warning,
            status=400,
            form_error=_given_back(exc, t),
            error_field=f"{transition}-note",
            kept=kept,
        )
    # what the form offered is all the server takes; the store's refusal of anything else
    # would reach the person as an English sentence
    choices = [(code, code) for code in task_departments(console, warning["task"])]
    offered = case_view.transition_forms([transition], warning, choices)[0]

    def choose_again(rule: str, message: str) -> Response:
        """A chooser left at "choose" (the browser's `required` check bypassed): on the
        record, and the case page again with what was typed and chosen, to choose."""
        on_record(rule)
        return render_case(
            console, request, visit, warning, status=400, form_error=t(message), kept=kept
        )

    if offered.outcomes and outcome not in offered.outcomes:
        if outcome is None:
            return choose_again(_RULE_NO_OUTCOME, "error.no_outcome")
        return refused(_RULE_OUTCOME, 400, t("error.bad_outcome"), outcome=outcome)
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
            kept=kept,
        )
    if offered.departments and department is None:
        return choose_again(_RULE_NO_DEPARTMENT, "error.no_department")
    if offered.departments and department not in {code for code, _ in offered.departments}:
        # one that does not handle the task would put the case in the queue of officers who
        # cannot work it; the department holding it cannot be re-routed to, and is named
        holder = department_code(str(warning.get("department") or ""))
        if holder is not None and holder == department_code(str(department)):
            # the case page again, the note kept, to choose another department
            on_record(_RULE_SAME_DEPARTMENT, department=str(department))
            return render_case(
                console,
                request,
                visit,
                warning,
                status=400,
                form_error=t(
                    "error.same_department", department=console.department_name(holder, visit.lang)
                ),
                kept=kept,
            )
        return refused(_RULE_DEPARTMENT, 400, t("error.bad_department"), department=str(department))
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
        return _stale(console, request, visit, typed=kept["note"], step=transition)
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
    # sent back (or re-routed) out of this person's sight: back to their queue; the page
    # says the step was saved once (`DONE_COOKIE`), its address clean to reload or share
    seen = decide(visit.actor, "warning_page", warning=fresh)
    response = redirect(f"{PREFIX}/cases/{warning['id']}" if seen else f"{PREFIX}/queue")
    set_cookie(console, response, request, DONE_COOKIE, transition, max_age=DONE_COOKIE_MAX_AGE_S)
    return response


#: The same note by the same person on a case within this many seconds of their last is that
#: note's form sent again (Back then Save, a double click), not saved twice (`RepeatedNote`)
NOTE_SENT_AGAIN_S = 600.0


def add_note(console: Console, request: Request, visit: Visit, form: FormData | None) -> Response:
    """A progress note on the case (`WarningStore.add_note`): whoever may take a step on it now
    may say how its work goes, without taking one (its status and version stay).

    The version its page was drawn at guards nothing (a note never makes a form stale), but
    tells a note the case no longer takes because it changed meanwhile (closed, re-routed)
    from one no page offered: the former gets the lost-update answer the steps get, saying
    why, the note given back. The note is written only while the case is held as decided: a
    re-route, a colleague's step or a close landing between the decision and the write is
    decided again on the case as it is then (as the API does), so a department that lost the
    case never notes it, nor is shown it."""
    assert form is not None
    for attempt in range(DECISIONS):
        answer = _note_once(console, request, visit, form, moved=attempt > 0)
        if answer is not None:
            return answer
    typed = _typed(form, "note")  # changed hands on every try: the case as it is, if theirs
    warning = load_case(
        console, request, visit, "warning_read", moved=True, typed=typed, step=NOTE_STEP,
        attempted="feedback",
    )  # fmt: skip
    if isinstance(warning, Response):
        return warning
    return _note_not_taken(console, request, visit, warning, may_note(visit.actor, warning), typed)


def _note_once(
    console: Console, request: Request, visit: Visit, form: FormData, *, moved: bool
) -> Response | None:
    """`add_note` decided on the case as read now (`moved`: it changed hands since an earlier
    decision); None when it changed hands again before the note's write."""
    typed = _typed(form, "note")
    drawn = _drawn_version(form)
    warning = load_case(
        console,
        request,
        visit,
        "warning_read",
        drawn,
        moved=moved,
        typed=typed,
        step=NOTE_STEP,
        attempted="feedback",
    )
    if isinstance(warning, Response):
        return warning
    t = visit.t
    decision = may_note(visit.actor, warning)
    if not decision:
        console.store.refused(
            actor=visit.actor.audit_name,
            action="feedback",
            step=NOTE_STEP,
            rule=decision.rule,
            warning=warning,
        )
        if moved or (drawn is not None and drawn < int(warning["version"])):
            return _note_not_taken(console, request, visit, warning, decision, typed)
        status = 409 if decision.by_state else 403
        return error_page(console, request, visit, status, t("note.refused"), typed=typed)
    kept = {"form": "note", "note": typed}
    try:
        note = form_text(form, "note")
    except FormFieldError as exc:
        return render_case(
            console,
            request,
            visit,
            warning,
            status=400,
            form_error=_given_back(exc, t),
            error_field="note-note",
            kept=kept,
        )
    if not note:
        return render_case(
            console,
            request,
            visit,
            warning,
            status=400,
            form_error=t("note.empty"),
            error_field="note-note",
            kept=kept,
        )
    try:
        holder = (warning["status"], warning["department"])
        console.store.add_note(
            warning["id"],
            actor=visit.actor.audit_name,
            note=note,
            expected_holder=holder,
            once_within_s=NOTE_SENT_AGAIN_S,
        )
    except RepeatedNote:  # the form sent again (Back, then Save; a double click)
        return _noted(console, request, warning["id"], "note_again")
    except (StaleWarning, TransitionError):  # changed hands or closed since the decision
        return None
    return _noted(console, request, warning["id"], "note")


def _noted(console: Console, request: Request, warning_id: str, done: str) -> Response:
    """Back to the case page, which says once what became of the note (`done.<done>`)."""
    response = redirect(f"{PREFIX}/cases/{warning_id}")
    set_cookie(console, response, request, DONE_COOKIE, done, max_age=DONE_COOKIE_MAX_AGE_S)
    return response


def _note_not_taken(
    console: Console,
    request: Request,
    visit: Visit,
    warning: dict[str, Any],
    decision: Decision,
    typed: str,
) -> Response:
    """A note the case stopped taking after its page was drawn: the lost-update answer (who
    changed the case, when), why no note is taken now (`decision`, the policy's refusal, in
    words) and the note to copy; the case as it is has no note form to put it back in."""
    why = rule_in_words(visit, decision) if not decision else ""
    return _stale(console, request, visit, warning, typed=typed, why=why)


def _unknown_version(
    console: Console,
    request: Request,
    visit: Visit,
    warning: dict[str, Any],
    form: FormData,
    typed: str,
) -> Response:
    """A form carrying a version the case never had (a page of another store, or a hand-edited
    form): nobody changed the case meanwhile, so the lost-update message would mislead; the
    case as it is now, saying the form is out of date, with the note back in its form."""
    transition = form.get("transition")
    kept = {"form": transition if isinstance(transition, str) else "", "note": typed}
    for choice in ("department", "outcome"):
        value = form.get(choice)
        if isinstance(value, str):
            kept[choice] = value
    return render_case(
        console,
        request,
        visit,
        warning,
        status=409,
        form_error=visit.t("error.unknown_version"),
        kept=kept,
    )


def other_sign_in(console: Console, request: Request, visit: Visit, form: FormData) -> Response:
    """A case's form drawn under another sign-in of this same person (a tab left open while
    another signed out and in again): nothing is done, its token not being this session's,
    and the case page is drawn again as it is now, saying why, with the note or purpose they
    typed back in its form to send again (on an error page to copy, when the case no longer
    offers that form)."""
    # act, note or reveal (`app.FORM_TARGET`); a step no page offers keeps a note's text
    name, field = form_step(form, request.url.path.rsplit("/", 1)[-1]) or ("", "note")
    typed = _typed(form, field)
    drawn = _drawn_version(form)
    warning = load_case(console, request, visit, "warning_page", drawn, typed=typed)
    if isinstance(warning, Response):
        return warning
    offered = bool(name) and step_offered(visit.actor, warning, name)
    message = visit.t("error.csrf_other_sign_in_kept" if offered else "error.csrf_other_sign_in")
    if not offered:
        return error_page(console, request, visit, 403, message, typed=typed)
    kept = {"form": name, field: typed}
    for choice in ("department", "outcome"):  # the choices made, kept as the note is
        value = form.get(choice)
        if isinstance(value, str):
            kept[choice] = value
    return render_case(console, request, visit, warning, status=403, form_error=message, kept=kept)


def _stale(
    console: Console,
    request: Request,
    visit: Visit,
    warning: dict[str, Any] | None = None,
    *,
    typed: str = "",
    step: str | None = None,
    why: str = "",
) -> Response:
    """The lost-update answer: the case as it is now (`warning`, or read again), who changed
    it when (this person, in another tab, said so), why the form is not taken now (`why`, in
    words, when the case no longer offers it), and the text they typed, given back. Read
    again, it is shown only if this person may still see it: a case re-routed to another
    department meanwhile is a 403 that says the case moved, on the record as the refused
    `step` (a reveal without one)."""
    if warning is None:
        loaded = load_case(
            console,
            request,
            visit,
            "warning_page",
            moved=True,
            typed=typed,
            step=step,
            attempted="reveal" if step is None else "feedback",
        )
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
    mine = last is not None and str(last["actor"]) == visit.actor.audit_name
    stale = {"who": who, "when": when, "mine": mine, "typed": typed.strip(), "why": why}
    return render_case(console, request, visit, warning, status=409, stale=stale)


def reveal(console: Console, request: Request, visit: Visit, form: FormData | None) -> Response:
    """Show the case's real identity to someone allowed, for a stated purpose (audited)."""
    assert form is not None
    purpose_typed = _typed(form, "purpose")
    drawn = _drawn_version(form)
    warning = load_case(console, request, visit, "reveal", drawn, typed=purpose_typed)
    if isinstance(warning, Response):
        return warning
    kept = {"form": "reveal", "purpose": purpose_typed}
    try:
        purpose = form_text(form, "purpose")
    except FormFieldError as exc:
        return render_case(
            console,
            request,
            visit,
            warning,
            status=400,
            form_error=_given_back(exc, visit.t),
            error_field="reveal-purpose",
            kept=kept,
        )
    if not states_a_purpose(purpose):
        return render_case(
            console,
            request,
            visit,
            warning,
            status=400,
            form_error=visit.t(
                "reveal.too_short",
                n=PURPOSE_MIN_WEIGHT,
                k=PURPOSE_MIN_CHARS,
                m=FIELD_LIMITS["purpose"],
            ),
            error_field="reveal-purpose",
            kept=kept,
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
        return _stale(console, request, visit, typed=purpose)
    except RevealLimited as exc:
        message = _wait_in_words(exc.retry_after, visit.t)
        limited = render_case(
            console, request, visit, warning, status=429, form_error=message, kept=kept
        )
        limited.headers["Retry-After"] = str(exc.retry_after)  # as the API's 429 says
        return limited
    except IdentityUnavailable:  # the store says why in English; the page says it in words
        message = visit.t("reveal.unavailable")
        return render_case(console, request, visit, warning, status=409, form_error=message)
    # answered by a redirect (Back and Reload do not reveal again), the identity held once;
    # the purpose shown beside it as the audit log keeps it (a number typed in it as a code)
    stated = console.store.stated_purpose(purpose, identity)
    ticket = console.shown.hold(
        visit.session.key, warning["id"], Shown(identity=identity, purpose=stated)
    )
    return redirect(f"{PREFIX}/cases/{warning['id']}?{urlencode({'shown': ticket})}#revealed")


def _wait_in_words(seconds: int, t: Messages) -> str:
    """The reveal limit's refusal with how long to wait: seconds up to a minute, then about
    how many minutes (the page's reader does not count 3,553 seconds; `Retry-After` does)."""
    if seconds <= 60:
        return t("reveal.limited", seconds=seconds)
    return t("reveal.limited_minutes", minutes=max(1, round(seconds / 60)))
