"""The console's doors: the sign-in page (the lock-out rule stated up front, why a session
ended, a language chosen there kept, a client held back after too many failed sign-ins),
signing out (of every session of the person, their API tokens too) and the language switch.

Views are plain functions of (console, request, ...) like `pages`' (run in a worker thread).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from serving.console.app import (
    LANG_COOKIE,
    LANG_COOKIE_MAX_AGE_S,
    PREFIX,
    Console,
    Visit,
    actor_for,
    error_page,
    redirect,
    remembered_lang,
    safe_next,
)
from serving.console.forms import FormFieldError, field_problem, form_text
from serving.console.i18n import LANGS, Messages, as_lang
from serving.console.sessions import (
    COOKIE,
    PRE_COOKIE,
    clear_cookie,
    pre_session_token,
    set_cookie,
    tokens_match,
)
from serving.policy import decide
from serving.sessions import client_address, sign_in_throttle
from serving.store.passwords import MAX_PASSWORD_CHARS
from serving.store.people import MAX_FAILED_SIGN_INS, SignInRefused, typed_user_name

# what a browser says (`Sec-Fetch-Site`) of a form sent from a page of this same site; a
# client that does not say (a script, an older browser) is taken as one
_OWN_SITE = "same-origin"


def sign_in(console: Console, request: Request, form: FormData | None) -> Response:
    """The sign-in form; a good password starts a session and returns to the page asked for.

    A form whose token is spent (a sign-in page left open while another tab signed in or out)
    goes on to the page asked for only when the browser is signed in as the person it names.
    Signed in as someone else, it is a sign-in like any other: throttled, its password
    checked, a failure refused as any, and on success the other person's session in this
    browser ends (their `sign_out` on the record). That only for a post carrying this
    browser's live session (a SameSite=Strict cookie, which no other site's form sends) and
    sent, as the browser says, from a page of this site; any other gets the form again. No one
    acts under another person's name, nor in another person's session.
    """
    token, fresh = pre_session_token(request)
    params = request.query_params
    # the form carries the page's language, so a refusal answers in the language it was asked in
    lang = as_lang(
        (form.get("lang") if form is not None else None)
        or params.get("lang")
        or remembered_lang(request)
    )
    t = Messages(lang)
    # a language picked on this page (its switch link, `Console.render`), not one the page
    # took from a link or the browser: it wins over the account's when they sign in
    lang_chosen = (form.get("lang_chosen") if form is not None else params.get("chosen")) == "1"
    # the lock-out rule, stated before a failure as after one
    lockout = lockout_words(t, console.backend.settings.lockout_s)
    notice = _sign_in_notice(params, t)
    next_page = safe_next(params.get("next"))

    def form_page(status: int = 200, *, error: str = "", name: str = "") -> Response:
        """The sign-in form (again), with the page's own token (a spent form's replaced)."""
        response = console.render(
            "console/sign_in.html",
            lang,
            request,
            status=status,
            csrf=token,
            next=next_page,
            notice="" if error else notice,
            error=error,
            name=name,
            password_chars=MAX_PASSWORD_CHARS,
            lockout=lockout,
            lang_chosen=lang_chosen,
        )
        if fresh:
            set_cookie(console, response, request, PRE_COOKIE, token)
        return response

    if form is None:
        return form_page()
    try:
        next_page = safe_next(form_text(form, "next") or next_page)
        name = form_text(form, "name")[:64]
    except FormFieldError as exc:
        # the form again, saying which field holds what (a bidi mark pasted into the name box),
        # not an error page whose only way on is the queue; the name not refilled, as below
        return form_page(400, error=field_problem(exc, t))
    if not tokens_match(request.cookies.get(PRE_COOKIE), form.get("csrf")):  # type: ignore[arg-type]
        # a sign-in page left open while another tab signed in (which spent the form's token)
        # or out: signed in already as the person named, on to the page asked for; as someone
        # else, on to check this sign-in as any other (the docstring says when); else the
        # form again, with a token that works and the page still to go to (a forged post
        # signs no one in)
        signed_in, _why = console.sessions.check(request.cookies.get(COOKIE))
        if signed_in is not None and typed_user_name(name) == signed_in.user_name:
            return redirect(next_page)
        if signed_in is None or request.headers.get("sec-fetch-site", _OWN_SITE) != _OWN_SITE:
            return form_page(403, error=t("sign_in.stale_form"), name=name)
    settings = console.backend.settings
    throttle = sign_in_throttle(
        settings.sign_in_throttle_failures, settings.sign_in_throttle_window_s
    )
    client = client_address(request)
    # no password checked, nothing recorded but the first refusal of the window
    throttled = throttle.refusal(client, console.store, f"POST {PREFIX}/sign-in")
    if throttled is not None:
        wait = duration_words(t, _whole_minutes(throttled.retry_after))
        response = form_page(429, error=t("sign_in.throttled", duration=wait))
        response.headers["Retry-After"] = str(throttled.retry_after)
        return response
    # a password over the limit cannot be right (none is set longer): Argon2 gets no more
    password = str(form.get("password") or "")[: MAX_PASSWORD_CHARS + 1]
    try:
        user = console.store.sign_in(name, password, lockout=timedelta(seconds=settings.lockout_s))
    except SignInRefused:
        throttle.failed(client)
        # one message for every refusal: which names exist, or are locked, is not told; the
        # name never refilled: a password typed into the name box would be shown in clear,
        # and refilling only the names that exist would tell which do
        return form_page(401, error=t("sign_in.failed", **lockout))
    if lang_chosen and lang != user.lang:  # remembered, as the language switch does
        console.store.set_user_lang(user.name, lang)
    if next_page == f"{PREFIX}/queue" and not decide(actor_for(user), "warning_list"):
        next_page = f"{PREFIX}/reports"  # the default page would only refuse an administrator
    replaced = console.sessions.live_user(request.cookies.get(COOKIE))
    session_token, _session = console.sessions.start(
        user.name, replacing=request.cookies.get(COOKIE)
    )
    if replaced is not None and replaced != user.name:
        # another person's session in this browser ended: on their record as their signing
        # out is, but one session (their others live on), right after the `sign_in` row of
        # the person who took the browser over
        console.store.audit(
            actor=f"user:{replaced}",
            action="sign_out",
            detail={"user": replaced, "console_sessions_ended": 1},
        )
    response = redirect(next_page)
    set_cookie(console, response, request, COOKIE, session_token)
    clear_cookie(console, response, request, PRE_COOKIE)
    return response


# the sign-in page's notice: why the session ended (`ended.to_sign_in`'s parameter) -> its
# message, and whether a step was unsaved, or unsaved and kept (a disabled account's never is;
# `reenabled`: the session ended when the account was disabled, and it is enabled again)
_SIGN_IN_NOTICES = {
    "expired": ("sign_in.expired", "sign_in.expired_unsaved", "sign_in.expired_kept"),
    "out": ("sign_in.signed_out", "sign_in.signed_out_unsaved", "sign_in.signed_out_kept"),
    "reset": (
        "sign_in.password_reset",
        "sign_in.password_reset_unsaved",
        "sign_in.password_reset_kept",
    ),
    "changed": (
        "sign_in.password_changed",
        "sign_in.password_changed_unsaved",
        "sign_in.password_changed_kept",
    ),
    "disabled": ("sign_in.disabled", "sign_in.disabled_unsaved", "sign_in.disabled_unsaved"),
    "reenabled": ("sign_in.reenabled", "sign_in.reenabled_unsaved", "sign_in.reenabled_kept"),
    "ended": ("sign_in.ended", "sign_in.ended_unsaved", "sign_in.ended_kept"),
}


def lockout_words(t: Messages, lockout_s: float) -> dict[str, Any]:
    """The lock-out rule's figures as its messages take them: the wrong password in a row
    that locks the account (`attempts`) and for how long, in words (`duration`)."""
    return {"attempts": MAX_FAILED_SIGN_INS + 1, "duration": duration_words(t, lockout_s)}


def duration_words(t: Messages, seconds: float) -> str:
    """A lock-out's length as a person reads it: whole minutes ("15 minutes", "1 minute"),
    else seconds ("90 seconds"), never rounded ("3 s" read "1 minutes")."""
    whole = max(1, round(seconds))
    if whole % 60 == 0:
        n, unit = whole // 60, "minute"
    else:
        n, unit = whole, "second"
    return t(f"time.{unit}") if n == 1 else t(f"time.{unit}s", n=n)


def _whole_minutes(seconds: int) -> int:
    """A wait of a minute or more said in whole minutes, rounded up ("5 minutes", not "287
    seconds"); a shorter one as it is."""
    return seconds if seconds < 60 else 60 * -(-seconds // 60)


def _sign_in_notice(params: Any, t: Messages) -> str:
    """Why the sign-in page is shown, when a session ended (empty otherwise)."""
    reason = next((name for name in _SIGN_IN_NOTICES if params.get(name) == "1"), None)
    if reason is None:
        return ""
    plain, unsaved, kept = _SIGN_IN_NOTICES[reason]
    if params.get("unsaved") != "1":
        return t(plain)
    return t(kept if params.get("kept") == "1" else unsaved)


def sign_out(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """End every session of the person server-side (this one, their others in any browser,
    and their API tokens: `WarningStore.sign_out`) and clear the cookie; the browser keeps the
    language, for the sign-in page of a page opened after this (Back, a form in another tab)."""
    console.store.sign_out(visit.user.name)
    response = redirect(f"{PREFIX}/sign-in?{urlencode({'lang': visit.lang, 'out': '1'})}")
    clear_cookie(console, response, request, COOKIE)
    set_cookie(console, response, request, LANG_COOKIE, visit.lang, max_age=LANG_COOKIE_MAX_AGE_S)
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
