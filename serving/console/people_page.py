"""The console's people page (`/console/people`, 人员管理 / People) for administrators.

Every account with its department, role, state (active, locked by wrong passwords, disabled),
whether its password is still one an administrator set and its latest sign-in (a dormant
account is one to disable); a lockout lifted (or, on an account not locked, its wrong
passwords counted so far cleared), an account disabled (once a page naming the person has
asked) or enabled again, each by a form (CSRF-checked as every console form) that writes the
audit row `riskloop users unlock|disable|enable` writes, the administrator as actor.
Creating accounts and setting passwords stay on the CLI (`riskloop users create`, `users
reset-password`): a password never passes through a page. An administrator cannot disable their
own account here (nobody would be left to enable it). Each view of the list is a `user_list`
audit row; anyone else is refused, and that is on the record.

Views are plain functions of (console, request, visit, form) like `pages`' (run in a worker
thread).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from models.pages import local_time
from serving.console.app import (
    DONE_COOKIE,
    DONE_COOKIE_MAX_AGE_S,
    PREFIX,
    Console,
    Visit,
    error_page,
    redirect,
)
from serving.console.pages import refused_page
from serving.console.sessions import clear_cookie, set_cookie
from serving.store import UserNotFound
from serving.store.passwords import PeopleError
from serving.store.people import USER_NAME, UserRecord

#: what the page's forms may ask, in the order their buttons show
STEPS = ("unlock", "clear", "disable", "enable")
#: the note the page says once after a step (`DONE_COOKIE`'s value)
_DONE = tuple(f"person_{step}" for step in STEPS)


def people(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """Every account, with the steps an administrator may take on each."""
    not_theirs = refused_page(console, request, visit, "users_manage")
    if not_theirs is not None:
        return not_theirs
    users = console.store.list_users()
    console.store.audit(
        actor=visit.actor.audit_name,
        action="user_list",
        detail={"view": "console_people", "accounts": len(users)},
    )
    # the step just taken, said once: `person_<step>:<account>`, an account of the list only
    step, _, name = request.cookies.get(DONE_COOKIE, "").partition(":")
    shown = {user.name: user.display_name for user in users}
    flash = None
    if step in _DONE and name in shown:
        flash = {"kind": "ok", "text": visit.t(f"done.{step}", name=f"{shown[name]} ({name})")}
    now = datetime.now(UTC)
    signed_in = console.store.last_sign_ins()
    response = console.render(
        "console/people.html",
        visit.lang,
        request,
        visit=visit,
        section="people",
        flash=flash,
        people=[_row(user, visit, now, signed_in.get(user.name)) for user in users],
        # `RISKLOOP_REQUIRE_OWN_PASSWORD`: an administrator's password then opens nothing else
        own_password_required=console.backend.settings.require_own_password,
    )
    if DONE_COOKIE in request.cookies:  # said once: a reload does not say it again
        clear_cookie(console, response, request, DONE_COOKIE)
    return response


def change_person(
    console: Console, request: Request, visit: Visit, form: FormData | None
) -> Response:
    """Unlock, disable or enable the account named in the address, then the list again."""
    assert form is not None
    not_theirs = refused_page(console, request, visit, "users_manage")
    if not_theirs is not None:
        return not_theirs
    t = visit.t
    name = str(request.path_params["name"])
    step = form.get("step")
    if step not in STEPS:
        return error_page(console, request, visit, 400, t("error.bad_form"))
    if not USER_NAME.fullmatch(name):  # no account is named so: the store is not asked
        return error_page(console, request, visit, 404, t("people.unknown"))
    if step == "disable" and name == visit.user.name:
        return error_page(console, request, visit, 400, t("people.own_disable"))
    if step == "disable" and form.get("confirmed") != "yes":
        return _confirm_disable(console, request, visit, name)
    actor = visit.actor.audit_name
    try:
        if step in ("unlock", "clear"):  # a lockout lifted, or the wrong passwords counted
            console.store.unlock_user(name, actor=actor)
        elif step == "disable":
            console.store.disable_user(name, actor=actor)
        else:
            console.store.enable_user(name, actor=actor)
    except UserNotFound:
        return error_page(console, request, visit, 404, t("people.unknown"))
    except PeopleError:  # already disabled, or not: changed since the page was drawn
        return error_page(console, request, visit, 409, t(f"people.stale.{step}"))
    response = redirect(f"{PREFIX}/people")
    set_cookie(
        console,
        response,
        request,
        DONE_COOKIE,
        f"person_{step}:{name}",
        max_age=DONE_COOKIE_MAX_AGE_S,
    )
    return response


def _confirm_disable(console: Console, request: Request, visit: Visit, name: str) -> Response:
    """The question a disable asks first: a click on the list's button ends someone's sessions
    only once the page naming them is answered (nothing is written until then)."""
    try:
        user = console.store.get_user(name)
    except UserNotFound:
        return error_page(console, request, visit, 404, visit.t("people.unknown"))
    if user.disabled_at is not None:
        return error_page(console, request, visit, 409, visit.t("people.stale.disable"))
    signed_in = console.store.last_sign_ins().get(name)
    return console.render(
        "console/people_confirm.html",
        visit.lang,
        request,
        visit=visit,
        section="people",
        person=_row(user, visit, datetime.now(UTC), signed_in),
    )


def _row(
    user: UserRecord, visit: Visit, now: datetime, signed_in: datetime | None
) -> dict[str, Any]:
    """One account as the table shows it (`signed_in`: its latest sign-in on record), with the
    steps that apply to it now."""
    t = visit.t
    locked = user.locked_until is not None and user.locked_until > now
    if user.disabled_at is not None:
        state = t("people.state.disabled", when=local_time(user.disabled_at))
    elif locked:
        state = t("people.state.locked", until=local_time(user.locked_until))
    else:
        state = t("people.state.active")
    steps = []
    if user.disabled_at is None and locked:
        steps.append("unlock")
    elif user.disabled_at is None and user.failed_attempts > 0:  # not locked (yet): a count
        steps.append("clear")
    if user.disabled_at is None and user.name != visit.user.name:
        steps.append("disable")
    if user.disabled_at is not None:
        steps.append("enable")
    return {
        "name": user.name,
        "display_name": user.display_name,
        "department": user.department,
        "role": user.role,
        "state": state,
        # wrong passwords in a row, said while they count (a disabled account's do not)
        "wrong_passwords": user.failed_attempts if user.disabled_at is None else 0,
        "password_from_admin": user.password_from_admin,
        "created": local_time(user.created_at),
        "signed_in": local_time(signed_in) if signed_in else t("people.never"),
        "steps": steps,
        "own": user.name == visit.user.name,
    }
