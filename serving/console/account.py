"""A person's own account in the console: changing their password.

The administrator sets a person's first password (`riskloop users create`) and any reset
(`users reset-password`); the person then chooses one only they know. The current password is
asked again (a session left open is not enough to take the account over), counts towards the
lockout as a sign-in does, and a change ends every sign-in of the person, this one too: the
sign-in page says so, and whoever held the old password, or a session signed in with it, is
out. Every change and refused change is in the audit log (`PeopleStore.change_password`).

Views are plain functions of (console, request, visit, form) like `pages`' (run in a worker
thread).
"""

from __future__ import annotations

from datetime import timedelta
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
    error_page,
    redirect,
    text_or_none,
)
from serving.console.sessions import COOKIE, clear_cookie, set_cookie
from serving.console.sign_in_pages import lockout_words
from serving.sessions import OWN_PASSWORD_RULE
from serving.store.passwords import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    MIN_PASSWORD_DISTINCT,
    WeakPassword,
)
from serving.store.people import WRONG_CURRENT_REASON, SignInRefused

#: the password form's fields, as the page draws them
FIELDS = ("current", "new", "repeat")


def password_form(
    console: Console, request: Request, visit: Visit, _form: FormData | None
) -> Response:
    """The password page: the current password, the new one twice, and the rule it must meet."""
    return _page(console, request, visit)


def change_password(
    console: Console, request: Request, visit: Visit, form: FormData | None
) -> Response:
    """Change the person's password; on success every session of theirs has ended and the
    sign-in page says why. A refusal is the form again (empty: passwords are never sent back)
    with what to fix, and a 4xx."""
    assert form is not None
    typed = {name: form.get(name) for name in FIELDS}
    if not all(isinstance(value, str) for value in typed.values()):
        return error_page(console, request, visit, 400, visit.t("error.bad_form"))
    # as at a sign-in: the password as typed (no trimming), none longer than any set is right
    current = str(typed["current"])[: MAX_PASSWORD_CHARS + 1]
    new, repeat = str(typed["new"]), str(typed["repeat"])
    if new != repeat:
        return _page(console, request, visit, status=400, error=visit.t("password.mismatch"))
    settings = console.backend.settings
    try:
        console.store.change_password(
            visit.user.name, current, new, lockout=timedelta(seconds=settings.lockout_s)
        )
    except WeakPassword as exc:
        error = visit.t(
            f"password.weak.{exc.kind}",
            min=MIN_PASSWORD_CHARS,
            max=MAX_PASSWORD_CHARS,
            distinct=MIN_PASSWORD_DISTINCT,
        )
        return _page(console, request, visit, status=400, error=error)
    except SignInRefused as exc:
        if not exc.reason.startswith(WRONG_CURRENT_REASON):
            return _page(console, request, visit, status=403, error=visit.t("password.refused"))
        lockout = lockout_words(visit.t, settings.lockout_s)
        error = visit.t("password.wrong_current", **lockout)
        return _page(console, request, visit, status=400, error=error)
    response = redirect(f"{PREFIX}/sign-in?{urlencode({'lang': visit.lang, 'changed': '1'})}")
    clear_cookie(console, response, request, COOKIE)
    set_cookie(console, response, request, LANG_COOKIE, visit.lang, max_age=LANG_COOKIE_MAX_AGE_S)
    return response


def own_password_first(
    console: Console, request: Request, visit: Visit, form: FormData | None
) -> Response:
    """With `RISKLOOP_REQUIRE_OWN_PASSWORD` on, what a person whose password an administrator
    set gets instead of any page but their account's: a page asked for is the password page
    (which says why); a form is refused (403, an `access_refused` row), nothing saved, and
    the text it carried is given back to copy."""
    if form is None:
        return redirect(f"{PREFIX}/password")
    console.store.refused(
        actor=visit.actor.audit_name,
        action="console_form",
        rule=OWN_PASSWORD_RULE,
        path=request.url.path[:200],
    )
    typed = text_or_none(form.get("note")) or text_or_none(form.get("purpose")) or ""
    return error_page(
        console, request, visit, 403, visit.t("password.from_admin_form"), typed=typed
    )


def _page(
    console: Console, request: Request, visit: Visit, *, status: int = 200, error: str = ""
) -> Response:
    return console.render(
        "console/password.html",
        visit.lang,
        request,
        visit=visit,
        status=status,
        section="password",
        error=error,
        rules=visit.t("password.rules", min=MIN_PASSWORD_CHARS, distinct=MIN_PASSWORD_DISTINCT),
        password_chars=MAX_PASSWORD_CHARS,
    )
