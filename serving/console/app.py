"""The review console at `/console/`: an ASGI app mounted in the riskloop BentoML service.

Server-rendered pages (Jinja2, autoescape) with plain forms and no script. Every request:
1. finds its server-side session (`sessions.SessionBook`; an idle or absolute time-out ends
   it and sends the person to sign in, then back to the page they asked for);
2. for a POST, checks the form's CSRF token against the session's (403 and nothing changed
   when it is missing or wrong);
3. asks the one authorisation policy (`serving.policy`) before touching case data, and records
   each look (`warning_list`, `warning_page`, `identity_reveal`) and each refused one
   (`access_refused`) in the audit log.

Every answer carries the headers a security review looks for first (a Content-Security-Policy
allowing only this origin, `nosniff`, `same-origin` referrers, `no-store`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlencode

from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from models.pages import environment as pages_environment
from models.pages import stylesheet as shared_stylesheet
from models.risk_model import RiskModel
from models.settings import Settings
from serving.audit_channel import audit_channel
from serving.champions import WarmModel, model_of_version
from serving.console.i18n import DEFAULT_LANG, LANGS, Lang, Messages, as_lang
from serving.console.queries import ConsoleQueries
from serving.console.sessions import COOKIE, SessionBook, SessionInfo, tokens_match
from serving.console.shown import UNSAVED_TTL_S, HeldOnce, Shown, UnsavedStep
from serving.policy import Actor, decide
from serving.sessions import own_password_first
from serving.store import (
    OUTAGE_MESSAGE,
    OUTAGE_RETRY_AFTER_S,
    WarningStore,
    is_outage,
    outage_cause,
)
from serving.store.common import WARNING_ID
from serving.store.people import UserRecord

logger = logging.getLogger("riskloop.console")

PREFIX = "/console"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'none'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# a report is self-contained (inline CSS, data: images) and framed only by the console
REPORT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
)
# the ticket of a step a time-out left unsaved (`Console.unsaved`): its text stays in memory
UNSAVED_COOKIE = "riskloop_console_unsaved"
# the step a form just saved, for the one page its redirect opens to say so (`pages.done_flash`)
DONE_COOKIE = "riskloop_console_done"
DONE_COOKIE_MAX_AGE_S = 60
# the language the browser last signed out in: nothing but "zh" or "en", kept for a year
LANG_COOKIE = "riskloop_console_lang"
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
STATIC_FILES = {"riskloop.css": "text/css", "favicon.svg": "image/svg+xml"}


class Backend(Protocol):
    """What the console needs from the service it is mounted in."""

    @property
    def store(self) -> WarningStore: ...

    @property
    def settings(self) -> Settings: ...

    def served(self, task: str) -> Served:
        """The warm model of `task`; `KeyError` when none is loaded."""
        ...


#: A task's warm model and its registered version (`serving.champions.ServedModel`).
Served = WarmModel


@dataclass
class Visit:
    """One signed-in request: the session, the person, their policy actor and language."""

    session: SessionInfo
    user: UserRecord
    actor: Actor
    lang: Lang

    @cached_property
    def t(self) -> Messages:
        return Messages(self.lang)


class Console:
    """The console's per-process state: the backend, sessions, queries and templates."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        settings = backend.settings
        self.sessions = SessionBook(
            backend.store.engine,
            idle_s=settings.console_idle_s,
            absolute_s=settings.console_absolute_s,
        )
        self.queries = ConsoleQueries(backend.store.engine)
        # revealed identities, each for the one page that shows it
        self.shown: HeldOnce[Shown] = HeldOnce()
        # steps sent after a time-out, for their person's case page after signing in again
        self.unsaved: HeldOnce[UnsavedStep] = HeldOnce(UNSAVED_TTL_S)
        self.templates = pages_environment("serving.console")
        self._departments: dict[str, dict[str, Any]] | None = None
        self._departments_read = 0.0

    @property
    def store(self) -> WarningStore:
        return self.backend.store

    def served_model(self, task: str, version: str | None = None) -> tuple[RiskModel, str] | None:
        """The warm model of `task` and its version, or None when the service has none; with
        `version` (a warning's), that version's model where the registry still has it, to
        draw the warning's chart from the model that scored it (`model_of_version`)."""
        try:
            served = self.backend.served(task)
        except KeyError:
            return None
        if version is not None:
            return model_of_version(served, version, self.backend.settings)
        return served.model, str(served.version)

    def departments(self) -> dict[str, dict[str, Any]]:
        """Departments by code (names in both languages, tasks, capacity), read at most once
        a minute: they change rarely (an administrator setting a capacity)."""
        if self._departments is None or time.monotonic() - self._departments_read > 60:
            self._departments = {row["code"]: row for row in self.store.list_departments()}
            self._departments_read = time.monotonic()
        return self._departments

    def department_name(self, code: str | None, lang: Lang) -> str:
        """A department's name in `lang` (its code if unknown, a dash for none)."""
        if not code:
            return "–"
        row = self.departments().get(code)
        if row is None:
            return code
        return str(row["name_zh"] if lang == "zh" else row["name_en"])

    def own_password_first(self, user: UserRecord) -> bool:
        """`serving.sessions.own_password_first` under this service's settings (what a page
        then answers: `account.own_password_first`)."""
        return own_password_first(self.backend.settings, user)

    def render(
        self,
        template: str,
        lang: Lang,
        request: Request,
        *,
        visit: Visit | None = None,
        status: int = 200,
        **context: Any,
    ) -> Response:
        """A page in `lang` with the layout's common context and the security headers."""
        # a page's own address, to come back to (a revealed identity's spent ticket left out)
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "shown"]
        here = request.url.path + (f"?{urlencode(kept)}" if kept else "")
        other = "en" if lang == "zh" else "zh"
        query = dict(kept)
        query["lang"] = other
        if visit is None:  # a choice of the sign-in page, which the account then remembers
            query["chosen"] = "1"
        html = self.templates.get_template(template).render(
            prefix=PREFIX,
            lang=lang,
            other_lang=other,
            t=Messages(lang),
            user=visit.user if visit else None,
            csrf=context.pop("csrf", visit.session.csrf if visit else ""),
            here=here,
            lang_link=f"{request.url.path}?{urlencode(query)}",
            department_name=lambda code: self.department_name(code, lang),
            district_name=lambda code: Messages(lang).word("district", code),
            may=lambda action: visit is not None and bool(decide(visit.actor, action)),
            own_password_first=visit is not None and self.own_password_first(visit.user),
            **{"section": "", "flash": None, **context},
        )
        return secured(HTMLResponse(html, status_code=status))


def secured(response: Response, policy: str = CONTENT_SECURITY_POLICY) -> Response:
    """The headers every console answer carries."""
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


# a form's address answers POST only: the page to return to is the case it acted on
FORM_TARGET = re.compile(rf"^{PREFIX}/cases/(?P<case>[^/?#]+)/(?:act|reveal|note)(?:[?#].*)?$")


#: a form's address whose refusal draws a page a GET opens elsewhere (the entity search: the
#: queue; a person's step: the people page), where the language switch there returns (a GET of
#: the sign-out or the language switch's own address is its 405 page, in the other language)
_PAGE_OF_FORM = (
    (re.compile(rf"^{PREFIX}/units$"), "queue"),
    (re.compile(rf"^{PREFIX}/people/"), "people"),
)


def safe_next(value: str | None) -> str:
    """A page to return to after sign-in or a language switch: only a console path, never
    another site, and a page a GET can open (a case's form address gives the case page);
    the queue for anything else."""
    return console_page(value) or f"{PREFIX}/queue"


def console_page(value: str | None) -> str | None:
    """`value` as a console page a GET can open (a case's form address: the case), or None."""
    if not value or not value.startswith(f"{PREFIX}/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(char) < 32 for char in value):
        return None
    path = unquote(re.split(r"[?#]", value, maxsplit=1)[0])
    if any(segment in (".", "..") for segment in path.split("/")):  # a browser resolves them:
        return None  # /console/../v1/audit would leave the console
    form_target = FORM_TARGET.match(value)
    if form_target is not None:
        return f"{PREFIX}/cases/{form_target['case']}"
    for form, page in _PAGE_OF_FORM:  # a refused form's page: the one it was sent from
        if form.match(path):
            return f"{PREFIX}/{page}"
    return value


def redirect(location: str) -> Response:
    """303 See Other: a form's answer is a new GET (no resubmission on reload)."""
    return secured(RedirectResponse(location, status_code=303))


def actor_for(user: UserRecord) -> Actor:
    """The policy's actor for a signed-in person."""
    return Actor.user(user.name, user.role, user.department)


Handler = Callable[[Console, Request, Visit, FormData | None], Response]


def build_app(backend_factory: Callable[[], Backend]) -> Starlette:
    """The console app; `backend_factory` gives the service it is mounted in (called lazily,
    because BentoML creates the service instance after the app is mounted)."""
    from serving.console import (
        account,
        audit_page,
        case_actions,
        dashboard,
        pages,
        people_page,
        queue_page,
        report_pages,
        sign_in_pages,
        units,
    )

    holder: dict[str, Console] = {}

    def console() -> Console:
        if "console" not in holder:
            holder["console"] = Console(backend_factory())
        return holder["console"]

    def page(
        handler: Handler, *, post: bool = False, account_page: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """`handler` behind `_guarded`; `account_page`: one of the pages a person whose
        password must be changed first may still open (the password page, sign-out, the
        language switch)."""

        async def endpoint(request: Request) -> Response:
            try:
                form = await request.form(max_files=0, max_fields=20) if post else None
            except HTTPException:  # a file, too many fields: no console form sends either
                return await run_in_threadpool(_page_error, console(), request, 400)
            return await run_in_threadpool(
                _guarded, console(), request, form, handler, account_page
            )

        return endpoint

    async def sign_in_endpoint(request: Request) -> Response:
        try:
            form = (
                await request.form(max_files=0, max_fields=10) if request.method == "POST" else None
            )
        except HTTPException:
            return await run_in_threadpool(_page_error, console(), request, 400)
        return await run_in_threadpool(sign_in_pages.sign_in, console(), request, form)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:  # the console's 404 page, as for any unknown path
            return await run_in_threadpool(_page_error, console(), request, 404)
        body = _static_body(name)
        response = secured(Response(body, media_type=STATIC_FILES[name]))
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    async def root(_request: Request) -> Response:
        return redirect(f"{PREFIX}/queue")

    async def to_case(request: Request) -> Response:
        """A case form's address opened as a page (the address bar, a bookmark, Back or Reload
        after a refused form was drawn there): the case's page, which says who may see it."""
        return redirect(f"{PREFIX}/cases/{quote(request.path_params['warning_id'], safe='')}")

    async def not_found(request: Request) -> Response:
        """The catch-all: 405 with `Allow` when the path exists for other methods, else 404;
        a page in the person's language inside the console's frame."""
        allow = _allowed_methods(request)
        response = await run_in_threadpool(_page_error, console(), request, 405 if allow else 404)
        if allow:
            response.headers["Allow"] = allow
        return response

    routes = [
        Route("/", root),
        Route("/static/{name}", static),
        Route("/sign-in", sign_in_endpoint, methods=["GET", "POST"]),
        Route(
            "/sign-out",
            page(sign_in_pages.sign_out, post=True, account_page=True),
            methods=["POST"],
        ),
        Route(
            "/lang", page(sign_in_pages.switch_lang, post=True, account_page=True), methods=["POST"]
        ),
        Route("/password", page(account.password_form, account_page=True)),
        Route(
            "/password",
            page(account.change_password, post=True, account_page=True),
            methods=["POST"],
        ),
        Route("/queue", page(queue_page.queue)),
        Route("/cases", page(queue_page.open_named_case)),
        Route("/units", page(units.find_unit, post=True), methods=["POST"]),
        Route("/cases/{warning_id}", page(pages.case)),
        Route("/cases/{warning_id}/waterfall.png", page(pages.waterfall)),
        Route("/cases/{warning_id}/act", page(case_actions.act, post=True), methods=["POST"]),
        Route("/cases/{warning_id}/reveal", page(case_actions.reveal, post=True), methods=["POST"]),
        Route("/cases/{warning_id}/note", page(case_actions.add_note, post=True), methods=["POST"]),
        *(Route(f"/cases/{{warning_id}}/{form}", to_case) for form in ("act", "reveal", "note")),
        Route("/dashboard", page(dashboard.dashboard)),
        Route("/reports", page(report_pages.reports)),
        Route("/reports/{name}", page(report_pages.report)),
        Route("/reports/{name}/file", page(report_pages.report_file)),
        Route("/audit", page(audit_page.audit_log)),
        Route("/people", page(people_page.people)),
        Route("/people/{name}", page(people_page.change_person, post=True), methods=["POST"]),
        # last: any other console path is ours to answer (with the headers), not the host's
        Route(
            "/{rest:path}",
            not_found,
            methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        ),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(_ConsoleChannel)],
        exception_handlers={
            404: _plain_error,
            405: _plain_error,
            500: _plain_error,
            DBAPIError: _store_error,
        },
    )


class _ConsoleChannel:
    """What a console request does is audited as coming through the `console` channel (the
    page's work runs in the thread pool, which copies the context)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with audit_channel("console"):
            await self.app(scope, receive, send)


def _allowed_methods(request: Request) -> str:
    """The methods of the console route this path names for other methods ("" if none)."""
    for route in request.app.router.routes[:-1]:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL and isinstance(route, Route):
            return ", ".join(sorted(route.methods or ()))
    return ""


def _page_error(console: Console, request: Request, status: int) -> Response:
    """A 400 (a form no console page draws), 404 or 405 page, before any view ran: in the
    signed-in person's language and frame, else in the link's (`?lang=`) or the default."""
    session, _why = console.sessions.check(request.cookies.get(COOKIE))
    visit = None
    user = user_named(console, session.user_name) if session is not None else None
    if session is not None and user is not None and user.active:
        visit = Visit(session, user, actor_for(user), as_lang(user.lang))
    lang = (
        visit.lang
        if visit
        else as_lang(request.query_params.get("lang") or remembered_lang(request))
    )
    key = {400: "error.bad_form", 404: "error.no_page"}.get(status, "error.bad_method")
    return error_page(console, request, visit, status, Messages(lang)(key), lang=lang)


async def _plain_error(request: Request, exc: Exception) -> Response:
    """Unknown paths, wrong methods and unexpected errors: a short text, never a stack trace."""
    status = int(getattr(exc, "status_code", 500))
    if status == 500:
        logger.error("console error on %s: %s", request.url.path, type(exc).__name__, exc_info=exc)
    text = {404: "not found", 405: "method not allowed"}.get(status, "internal error")
    response = Response(text, status_code=status, media_type="text/plain")
    allow = (getattr(exc, "headers", None) or {}).get("Allow")
    if status == 405 and allow:
        response.headers["Allow"] = allow
    return secured(response)


async def _store_error(request: Request, exc: Exception) -> Response:
    """The warnings store does not answer (sessions and people are kept there too, so the
    person's language is unknown): 503 with `Retry-After` in both languages; any other
    database error is an internal one."""
    if not is_outage(exc):
        return await _plain_error(request, exc)
    logger.warning("console page refused: %s (%s)", OUTAGE_MESSAGE, outage_cause(exc))
    both: tuple[Lang, ...] = ("zh", "en")
    text = "\n".join(Messages(lang)("error.store_down") for lang in both)
    response = Response(text + "\n", status_code=503, media_type="text/plain; charset=utf-8")
    response.headers["Retry-After"] = str(OUTAGE_RETRY_AFTER_S)
    return secured(response)


def _static_body(name: str) -> bytes:
    """A static file's bytes. The stylesheet is the one shared riskloop stylesheet followed by
    the console's own rules (layout of the header, forms, queue; level colours with enough
    contrast for text), served as one file."""
    if name == "riskloop.css":
        console_rules = resources.files("serving.console").joinpath("static/console.css")
        return (shared_stylesheet() + "\n" + console_rules.read_text("utf-8")).encode("utf-8")
    return resources.files("serving.console").joinpath(f"static/{name}").read_bytes()


def _guarded(
    console: Console,
    request: Request,
    form: FormData | None,
    handler: Handler,
    account_page: bool = False,
) -> Response:
    """Session, CSRF and account checks in front of every signed-in page (`account_page`: one
    a person whose password must be changed first may open)."""
    from serving.console import ended

    session, why = console.sessions.check(request.cookies.get(COOKIE))
    if session is None:
        return ended.to_sign_in(console, request, form, why)
    user = user_named(console, session.user_name)
    if user is None or not user.active:
        console.sessions.end(session.key, "disabled")
        return ended.to_sign_in(console, request, form, "disabled", user.name if user else None)
    visit = Visit(session, user, actor_for(user), as_lang(user.lang))
    token = text_or_none(form.get("csrf")) if form is not None else None
    if form is not None and not tokens_match(session.csrf, token):
        # a signed-in person's form without this session's token: forged, or drawn under
        # another sign-in of theirs (a tab left open while another signed out and in again);
        # refused either way, and on the record like any refused attempt
        own = console.sessions.is_other_sign_in(user.name, token)
        # a form of another person's session (theirs, left open on this browser before this
        # person signed in on it) is on the record as theirs, not as this person's attempt
        drawn = None if own else console.sessions.drawn_under(token)
        form_of = drawn[0] if drawn is not None else None
        target = FORM_TARGET.match(request.url.path)
        case = target["case"] if target is not None and WARNING_ID.match(target["case"]) else None
        console.store.refused(
            actor=visit.actor.audit_name,
            action="console_form",
            rule=(
                "CSRF token of another sign-in of this person"
                if own
                else "CSRF token of another person's sign-in: the form is not this session's"
                if form_of is not None
                else "missing or wrong CSRF token"
            ),
            warning=None if case is None else {"id": case},
            path=request.url.path[:200],
            given=None if form_of is None else {"form_of": form_of},
        )
        if form_of is not None:
            return error_page(console, request, visit, 403, visit.t("error.csrf_other_person"))
        if not own:
            return error_page(console, request, visit, 403, visit.t("error.csrf"))
        if case is not None:  # the case page again, with what they typed and why
            from serving.console.case_actions import other_sign_in

            return other_sign_in(console, request, visit, form)
        return error_page(console, request, visit, 403, visit.t("error.csrf_other_sign_in"))
    if not account_page and console.own_password_first(user):
        from serving.console.account import own_password_first

        return own_password_first(console, request, visit, form)
    return handler(console, request, visit, form)


def remembered_lang(request: Request) -> Lang | None:
    """The language this browser last signed out in (`LANG_COOKIE`), if any: the sign-in page
    of a page opened after signing out (Back) speaks it."""
    value = request.cookies.get(LANG_COOKIE)
    return as_lang(value) if value in LANGS else None


def user_named(console: Console, name: str) -> UserRecord | None:
    """The person with this name (None if there is none)."""
    try:
        return console.store.get_user(name)
    except KeyError:
        return None


def text_or_none(value: object) -> str | None:
    """A form value as it came, if it is text (a file is not); `forms.form_text` checks a
    person's typed text."""
    return value if isinstance(value, str) else None


def error_page(
    console: Console,
    request: Request,
    visit: Visit | None,
    status: int,
    message: str,
    *,
    lang: Lang | None = None,
    typed: str = "",
) -> Response:
    """A page saying what went wrong, in the person's language (`lang` before sign-in), with
    the right status; `typed`, text a refused form carried, is given back to copy."""
    lang = visit.lang if visit else (lang or DEFAULT_LANG)
    t = Messages(lang)
    return console.render(
        "console/error.html",
        lang,
        request,
        visit=visit,
        status=status,
        heading=t(f"error.{status}"),
        message=message,
        typed=typed.strip(),
        # back to a page this person may open: an administrator has no queue
        back_to_reports=visit is not None and not decide(visit.actor, "warning_list"),
    )
