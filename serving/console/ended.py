"""A request whose console session is over: the sign-in page, saying why, and what it tried.

A page or form asked for without a live session (timed out, signed out, ended by a password
change, a disable or another sign-in) is sent to sign in and back to the page asked for
(`to_sign_in`); the sign-in page says why, in the person's language. A case's step sent after
its session ended is not made: it is on the record as the person's refused attempt, and its
note and choices (a reveal's purpose) are kept in memory to give back in the case's form once
they signed in again (`Console.unsaved`), but for an account still disabled.

Views call nothing here: `app._guarded`, in front of every signed-in page, does.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from serving.console.app import (
    FORM_TARGET,
    PREFIX,
    UNSAVED_COOKIE,
    Console,
    console_page,
    redirect,
    remembered_lang,
    safe_next,
    text_or_none,
    user_named,
)
from serving.console.i18n import DEFAULT_LANG, Lang, as_lang
from serving.console.sessions import COOKIE, set_cookie
from serving.console.shown import UNSAVED_TTL_S
from serving.policy import NOTE_STEP
from serving.store.common import WARNING_ID

# why a session ended -> the sign-in page's parameter saying so (`sign_in_pages.sign_in`'s notice)
_ENDED_REASONS = {
    "idle": "expired",
    "absolute": "expired",
    "signed_out": "out",
    "password": "reset",
    "password_change": "changed",
    "disabled": "disabled",
    "replaced": "ended",
    "ended": "ended",
}


def to_sign_in(
    console: Console,
    request: Request,
    form: FormData | None,
    why: str | None,
    owner: str | None = None,
) -> Response:
    """The sign-in page, for a request without a live session, then back to the page asked
    for. Whose session it was (`owner`, else the one the cookie names, else, for a form sent
    after signing out in another tab cleared the cookie, the one its token was drawn under)
    and why it ended are said: in their language, that a step a case's form sent was not
    saved, and that step kept to give back to them after signing in (`_keep_unsaved`), but
    for an account still disabled, which cannot sign in to take it (one enabled again since
    is told its session ended when it was disabled, and to sign in again)."""
    cookie = request.cookies.get(COOKIE)
    csrf = text_or_none(form.get("csrf")) if form is not None else None
    if why is not None and owner is None:
        owner = console.sessions.user_of(cookie)
    if why is None and csrf:
        drawn = console.sessions.drawn_under(csrf)
        if drawn is not None and drawn[1] is not None:
            owner, why = drawn
    asked: str | None = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if form is not None:  # a POST after the session ended: back to the form's page
        asked = _form_page(request)
    query = {"next": safe_next(asked)}
    ticket = None
    reason = _ENDED_REASONS.get(why or "")
    if reason == "disabled" and owner is not None:
        user = user_named(console, owner)
        if user is not None and user.active:
            # enabled again since: the session ended when it was disabled, but the person
            # can sign in again (not sent to an administrator for nothing), and take the
            # step back like any other ended session's
            reason = "reenabled"
    if owner is not None and reason is not None and (reason == "disabled" or _is_step(request)):
        _on_record_ended(console, request, form, owner, why or "ended", reason)
    if reason is not None:
        query[reason] = "1"
        if form is not None and FORM_TARGET.match(request.url.path):
            query["unsaved"] = "1"  # the step the case's form asked for was not made
            if reason != "disabled":
                ticket = _keep_unsaved(console, request, form, owner, reason)
            if ticket is not None:
                query["kept"] = "1"
    lang = _lang_of(console, owner) if owner else remembered_lang(request)
    if lang is not None:
        query["lang"] = lang
    response = redirect(f"{PREFIX}/sign-in?{urlencode(query)}")
    if ticket is not None:
        set_cookie(console, response, request, UNSAVED_COOKIE, ticket, max_age=int(UNSAVED_TTL_S))
    return response


# why a session ended -> the rule an attempt made with it is refused by, in the audit log
ENDED_RULES = {
    "idle": "session expired (idle time-out)",
    "absolute": "session expired (signed in too long ago)",
    "signed_out": "session ended: signed out",
    "password": "session ended: the password changed",
    "password_change": "session ended: the person changed their password",
    "disabled": "account disabled",
    "replaced": "session ended: signed in again elsewhere",
}
_CASE_PATH = re.compile(rf"^{PREFIX}/cases/(?P<case>[^/]+)")


def _is_step(request: Request) -> bool:
    """Whether the request is a case's form (a step or a reveal) sent with the session."""
    return request.method == "POST" and FORM_TARGET.match(request.url.path) is not None


def _on_record_ended(
    console: Console,
    request: Request,
    form: FormData | None,
    owner: str,
    why: str,
    reason: str,
) -> None:
    """An attempt made with a session that ended, on the record as `owner`'s (a name a live
    or ended session of theirs holds, never one the request made up): a disabled account's
    page or form, and a case's step or reveal sent after a time-out, a sign-out or a
    password change. What was attempted (the step, the reveal, the page or form), on which
    case, and why the session was over."""
    case = _CASE_PATH.match(request.url.path)
    warning_id = case["case"] if case is not None else None
    step = None
    if not _is_step(request):
        attempted = "console_form" if request.method == "POST" else "console_page"
    elif request.url.path.endswith("/reveal"):
        attempted = "reveal"
    elif request.url.path.endswith("/note"):  # a progress note: on the record as add_note's
        attempted, step = "feedback", NOTE_STEP
    else:
        attempted = "feedback"
        asked = form.get("transition") if form is not None else None
        step = asked if isinstance(asked, str) else None
    rule = ENDED_RULES.get(why, "session ended")
    if reason == "reenabled":  # enabled again since: the session ended at the disable
        rule = "session ended when the account was disabled"
    console.store.refused(
        actor=f"user:{owner}",
        action=attempted,
        rule=rule,
        warning={"id": warning_id} if warning_id and WARNING_ID.fullmatch(warning_id) else None,
        path=request.url.path[:200],
        step=step,
    )


def _keep_unsaved(
    console: Console, request: Request, form: FormData, user_name: str | None, reason: str
) -> str | None:
    """Keep a case step sent after the session ended for `reason` (`Console.unsaved`) for the
    person whose session it was, to give back on that case's page once they signed in again,
    saying why it was not saved (a step, a progress note, or a reveal's purpose: text they
    typed, as a note is, never an identity, which a refused reveal never read); its ticket, or
    None when there is nothing to keep: no known person, or a form not drawn under one of
    their sessions (its CSRF token is none of theirs: never someone else's text put into
    their form)."""
    from serving.console.case_actions import unsaved_step

    target = FORM_TARGET.match(request.url.path)
    if user_name is None or target is None or not WARNING_ID.fullmatch(target["case"]):
        return None
    if not console.sessions.is_other_sign_in(user_name, text_or_none(form.get("csrf"))):
        return None
    step = unsaved_step(form, reason, request.url.path.rsplit("/", 1)[-1])
    if step is None:
        return None
    return console.unsaved.hold(user_name, target["case"], step)


def _form_page(request: Request) -> str | None:
    """The page a form was sent from: its Referer, when that is a console page of this site;
    else, for a case's form, the case, whose id is in the form's address (a client may send
    no Referer, or another site's); else None (the queue)."""
    origin = str(request.base_url).rstrip("/")
    referer = request.headers.get("referer", "")
    page = console_page(referer.removeprefix(origin)) if referer.startswith(f"{origin}/") else None
    return page or console_page(request.url.path if FORM_TARGET.match(request.url.path) else None)


def _lang_of(console: Console, user_name: str | None) -> Lang:
    """A person's remembered language (the default for nobody or an unknown name)."""
    user = user_named(console, user_name) if user_name else None
    return as_lang(user.lang) if user is not None else DEFAULT_LANG
