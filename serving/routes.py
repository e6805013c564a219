"""The one routing table of `/v1/`: each route declares its policy action beside itself.

Score routes (BentoML APIs, one per task of the registry) declare theirs in `score_routes.py`;
the warnings and admin routes (a FastAPI app mounted at `/v1`) declare theirs with `v1_route`
in `warnings_routes.py`, the session routes in `session_routes.py`. The request guard (`guard.py`) reads this table and nothing
else to authenticate, authorise and answer 404/405, so a route and its rule cannot drift apart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.pages import CONTENT_SECURITY_POLICY
from serving.encoding import outage_response
from serving.policy import ACTIONS
from serving.schemas import PATTERN_WORDS
from serving.store.common import is_outage

logger = logging.getLogger("riskloop.serving")

PREFIX = "/v1"
F = TypeVar("F", bound=Callable[..., Any])
_PARAMETER = re.compile(r"\{([a-z_]+)\}")
_TEMPLATE = re.compile(r"^[a-z0-9/_{}-]+$")


@dataclass(frozen=True)
class Route:
    """One `/v1/` endpoint: method, path template and the policy action it performs.

    `action=None` marks the one public route (signing in): the guard lets it through without
    credentials. `reads_body` routes get the content-type and size checks. `query` names the
    query parameters the endpoint reads; the guard refuses any other (400). `task` is the
    task a score route scores (the policy asks whether a department's key handles it).
    """

    method: str
    template: str
    action: str | None
    reads_body: bool = False
    query: frozenset[str] = frozenset()
    task: str | None = None
    pattern: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.action is not None and self.action not in ACTIONS:
            raise ValueError(f"route {self.template} names unknown policy action {self.action!r}")
        if not _TEMPLATE.match(self.template):
            raise ValueError(
                f"route template {self.template!r} has characters beyond [a-z0-9/_{{}}-]"
            )
        regex = _PARAMETER.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", self.template)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path)
        return None if found is None else found.groupdict()


ROUTES: list[Route] = []


def declare(
    method: str,
    template: str,
    action: str | None,
    *,
    reads_body: bool = False,
    query: frozenset[str] = frozenset(),
    task: str | None = None,
) -> Route:
    """Add a route to the table (module import time, once per route)."""
    route = Route(method.upper(), template, action, reads_body, query, task)
    if any(r.method == route.method and r.template == route.template for r in ROUTES):
        raise ValueError(f"route {method} {template} declared twice")
    ROUTES.append(route)
    return route


def find(method: str, path: str) -> tuple[Route | None, dict[str, str], tuple[str, ...]]:
    """(the route for `method path`, its path parameters, the methods the path allows).

    A path with a GET route allows HEAD too: the guard answers HEAD as that GET without its
    body, so `method` is never HEAD here."""
    allowed: list[str] = []
    for route in ROUTES:
        params = route.match(path)
        if params is None:
            continue
        if route.method == method:
            return route, params, (route.method,)
        allowed.extend(("GET", "HEAD") if route.method == "GET" else (route.method,))
    return None, {}, tuple(sorted(set(allowed)))


# ----------------------------------------------------------------------------- the FastAPI app

api = FastAPI(
    title="riskloop admin and warnings API",
    openapi_url=None,
    docs_url=None,
    redoc_url=None,
)


#: What every `/v1/` answer carries (added by the guard, `serving.guard`): case data (scores,
#: warnings, ids, tokens, the audit log) is never kept by a cache, and no answer is sniffed
#: into another type.
ANSWER_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: A page (a warning's explanation) declares its policy in a meta tag too; only the header can
#: refuse framing.
PAGE_SECURITY_POLICY = f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'"


class _PagePolicy:
    """ASGI middleware adding the page policy to the mounted app's HTML answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = PAGE_SECURITY_POLICY
            await send(message)

        await self.app(scope, receive, send_with_headers)


api.add_middleware(_PagePolicy)


@api.exception_handler(Exception)
async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
    """Unhandled errors in the mounted app: a JSON 500, never a stack trace."""
    logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return JSONResponse({"error": "internal error; see the server log"}, status_code=500)


@api.exception_handler(DBAPIError)
async def _store_error(request: Request, exc: Exception) -> Response:
    """The warnings store did not answer: `outage_response` (503); any other database error
    is an internal one."""
    if not is_outage(exc):
        return await _internal_error(request, exc)
    return outage_response(exc)


@api.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own refusals in the documented error shape; a body Python's JSON reader could
    not read (FastAPI's bare "There was an error parsing the body") said as the score routes say
    it (`_unparsed_body`)."""
    cause = exc.__cause__
    if isinstance(cause, _UNPARSED) and isinstance(request.scope.get("route"), APIRoute):
        return invalid_input([in_body(_unparsed_body(await request.body(), cause))])
    return JSONResponse(
        {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


@api.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's refusals of invalid input, as `invalid_input` words them; a body it could not
    read (empty, or not JSON) said as the score routes say it (`_unread_body`)."""
    return invalid_input(_unread_body(request, exc))


#: Any JSON value: read by pydantic's parser, which BentoML reads the score bodies with.
_ANY_JSON: TypeAdapter[Any] = TypeAdapter(Any)

#: What Python's JSON reader raises, besides its decode error, on a body it cannot read: bytes
#: that are no UTF-8 text (a `ValueError`), an integer past its 4,300-digit limit, nesting past
#: its recursion limit. FastAPI answers them with a bare "There was an error parsing the body".
_UNPARSED = (ValueError, RecursionError)


def _unparsed_body(body: bytes, cause: BaseException) -> dict[str, Any]:
    """The refusal of a body Python's JSON reader raised `cause` on, in pydantic's words as the
    score routes give them ("Invalid JSON: number out of range at line 1 column 4369"); in
    Python's own should pydantic's reader take the body."""
    refusal = json_refusal(body)
    if refusal is not None:
        return refusal
    return {"type": "json_invalid", "loc": (), "msg": f"Invalid JSON: {cause}"}


def empty_body(wanted: str) -> dict[str, Any]:
    """The refusal of a body that is empty or only white space, saying what to send instead
    (`wanted`: "with 'name' and 'password'"); located at the body itself."""
    return {"type": "missing", "loc": (), "msg": f"the body is empty: send a JSON object {wanted}"}


def read_json(body: str | bytes) -> tuple[Any, dict[str, Any] | None]:
    """The body's JSON value and None; or None and the refusal of a body that is not JSON,
    located at the body itself and worded as pydantic words it on the score routes ("Invalid
    JSON: EOF while parsing an object at line 1 column 28")."""
    try:
        return _ANY_JSON.validate_json(body), None
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        return None, dict(errors[0])


def json_refusal(body: str | bytes) -> dict[str, Any] | None:
    """`read_json`'s refusal of a body that is not JSON; None for JSON."""
    return read_json(body)[1]


def in_body(error: Mapping[str, Any]) -> dict[str, Any]:
    """A refusal of (part of) the body located under `body`, as FastAPI locates body errors
    (`("body", "records", 0)`; the body itself is `("body",)`)."""
    return {**error, "loc": ("body", *error["loc"])}


def _unread_body(request: Request, exc: RequestValidationError) -> Sequence[Mapping[str, Any]]:
    """`exc`'s errors, FastAPI's of a body it could not read said as the score routes say
    them: its JSON decode error located at a byte offset (`["body", 45]`, which reads like a
    field named "45") and its "Field required" for a body that is empty."""
    errors = exc.errors()
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):  # a score route's refusal (`score_routes`): worded
        return errors
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "json_invalid" and len(loc) == 2 and isinstance(loc[1], int):
            sent = exc.body if isinstance(exc.body, str | bytes) else ""
            if not sent.strip():  # white space only: no body, as the score routes read it
                refusal = empty_body(_wanted(route))
            else:  # in pydantic's words (Python's reason, should pydantic's reader take it)
                reason = f"Invalid JSON: {error['ctx']['error']}"
                refusal = json_refusal(sent) or {"type": "json_invalid", "loc": (), "msg": reason}
            return [in_body(refusal)]
        if error["type"] == "missing" and loc == ("body",):
            return [{**empty_body(_wanted(route)), "loc": loc}]
    return errors


def _wanted(route: APIRoute) -> str:
    """What the route's body must hold, from its model: "with 'name' and 'password'"."""
    field = route.body_field
    model = field.field_info.annotation if field is not None else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return "(its fields are in /docs.json)"
    required = [f"'{name}'" for name, info in model.model_fields.items() if info.is_required()]
    return f"with {' and '.join(required)}" if required else "(its fields are in /docs.json)"


def invalid_input(errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    """Invalid input: 422 naming each field (400 for a body that is not JSON at all), in the
    documented error shape.

    The values sent are not echoed back: one may be a password or a personal identifier, or a
    NaN that Python's JSON reader took and no JSON answer can carry (FastAPI's own handler
    failed on it with a 500).
    """
    detail = [
        {"type": error["type"], "loc": list(error["loc"]), "msg": _message(error)}
        for error in errors
    ]
    fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in detail)
    # a body that is empty or not JSON at all is a 400 on every route, as the score routes
    # answer it
    status = 400 if errors and all(_unreadable(e) for e in errors) else 422
    return JSONResponse(
        {"error": f"invalid request: {fields}", "detail": detail}, status_code=status
    )


def _unreadable(error: Mapping[str, Any]) -> bool:
    """Whether `error` refuses the body as a whole: not JSON, or empty (`empty_body`)."""
    return error["type"] == "json_invalid" or (
        error["type"] == "missing" and tuple(error["loc"]) == ("body",)
    )


def _message(error: Mapping[str, Any]) -> str:
    """Pydantic's message, with a pattern a person cannot read said in words, and an empty
    query value (`?cursor=`) said to be empty rather than to hold characters it does not."""
    if error["type"] != "string_pattern_mismatch":
        return str(error["msg"])
    sent = error.get("input")
    if error["loc"][0] == "query" and isinstance(sent, str) and not sent.strip():
        return "is empty (or only white space): give a value, or leave the parameter out"
    pattern = str(error.get("ctx", {}).get("pattern", ""))
    return PATTERN_WORDS.get(pattern, "has characters this field does not take")


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters an endpoint reads, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return frozenset(names)


def v1_route(method: str, path: str, *, action: str | None, **fastapi: Any) -> Callable[[F], F]:
    """Register a FastAPI endpoint under `/v1` and declare its policy action in `ROUTES`,
    with the query parameters its signature reads."""

    def register(endpoint: F) -> F:
        api.add_api_route(path, endpoint, methods=[method.upper()], **fastapi)
        added = api.routes[-1]
        assert isinstance(added, APIRoute) and added.endpoint is endpoint
        query = _query_names(added.dependant)
        declare(method, f"{PREFIX}{path}", action, reads_body=method.upper() == "POST", query=query)
        return endpoint

    return register
