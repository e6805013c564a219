"""The ASGI guard in front of `/v1/`: who is asking, may they, and is the request sane.

Runs before BentoML or FastAPI parse a byte, in this order: credentials (an API key
`rk_...` or a person's session token `rs_...`; 401, and an `access_refused` row when they are
a known key's or person's ended ones: a revoked key, a disabled account's token), a path or
query string that is not UTF-8 once percent-decoded (400), the route from the one routing
table (`routes.ROUTES`; 404, or 405 with `Allow`), the policy for the route's action
(`policy.decide`; 403 with the rule's sentence), query parameters the route does not read or
that repeat (400), then for bodies the JSON content type and a charset other than UTF-8 (415),
the size limit (413) and a leading byte order mark (400, as a body that is not JSON). The
`Actor` is left in `scope["state"]` for the handlers, which apply the per-warning part of the
policy; what a request does is audited as coming through the `api` channel
(`serving.audit_channel`). `HEAD` on a GET route is answered as that GET (checked,
audited and answered alike) without its body. Unhandled errors become a JSON 500 without a
stack trace; a warnings store that does not answer, a 503 with `Retry-After`. Outside `/v1/`,
`JsonErrors` answers the service's own plain-text 404 and 405 in the same JSON shape.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import anyio
import bentoml
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.settings import get_settings
from serving.audit_channel import audit_channel
from serving.auth import AuthError, KeyRing
from serving.encoding import outage_response
from serving.policy import Actor, decide
from serving.routes import ANSWER_HEADERS, Route, find, invalid_input
from serving.sessions import TOKEN_PREFIX, SessionInvalid
from serving.store import is_outage
from serving.store.common import WARNING_ID
from serving.store.free_text import one_line

logger = logging.getLogger("riskloop.serving")

ACTOR_STATE = "riskloop_actor"
#: At most this many characters of a path (or query names) sent are repeated in a refusal.
PATH_ECHO_CHARS = 120


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def send_json(
    send: Send, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None
) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="riskloop"'))
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _with_answer_headers(send: Send) -> Send:
    """`send` adding `ANSWER_HEADERS` to the answer: every `/v1/` answer, the score answers and
    the guard's own refusals included, is kept by no cache and sniffed into no other type."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).update(ANSWER_HEADERS)
        await send(message)

    return send_with_headers


def _without_body(send: Send) -> Send:
    """`send` passing on the answer's status and headers but none of its body (HEAD)."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head


async def _audit_refusal(
    actor: str, action: str, rule: str, path: str, warning_id: str | None = None
) -> None:
    """The refused request's audit row (`actor` as the log names them), naming the route by
    its template and the warning the path names (when it is a well-formed warning id:
    `riskloop audit --warning` finds the refused look), written off the event loop (the
    store's write waits for its commit)."""
    store = bentoml.get_current_service().store
    warning = {"id": warning_id} if warning_id and WARNING_ID.fullmatch(warning_id) else None
    await anyio.to_thread.run_sync(
        lambda: store.refused(actor=actor, action=action, rule=rule, path=path, warning=warning)
    )


_JSON = b"application/json"
#: UTF-8's byte order mark: JSON sent over a network carries none (RFC 8259, 8.1). FastAPI's
#: reader skipped it and pydantic's (the score routes') refuses it; refused here for all.
_BOM = b"\xef\xbb\xbf"
#: Its refusal: the 400 of a body that is not JSON (`routes.invalid_input`), as on every route.
_BOM_REFUSED = {
    "type": "json_invalid",
    "loc": ("body",),
    "msg": "JSON decode error: the body starts with a byte order mark (U+FEFF); send UTF-8 "
    "JSON without one",
}


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    """The client closed the connection before its body was complete."""


_INCOMPLETE_BODY = "the connection closed before the request body was complete; nothing was done"


class RequestGuard:
    """ASGI middleware guarding `/v1/` (see the module docstring for the order of checks)."""

    def __init__(self, app: ASGIApp) -> None:
        settings = get_settings()
        self.app = app
        self.keyring = KeyRing(settings.keys_file)
        self.max_body_bytes = settings.max_body_bytes

    def authenticate(self, authorization: str | None) -> Actor:
        """The actor an `Authorization` header names; raises `AuthError` (401), naming in its
        `who` the person or key whose ended credentials these are (a disabled account's
        token, a revoked key): a token this service signed or a key's matching secret, never
        a name a caller could make up."""
        kind, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if kind.lower() == "bearer" and token.startswith(TOKEN_PREFIX):
            service = bentoml.get_current_service()
            try:
                return service.sessions.actor(token, service.store)  # type: ignore[no-any-return]
            except SessionInvalid as exc:
                try:
                    who: str | None = f"user:{service.sessions.user_name(token)}"
                except SessionInvalid:  # forged, malformed or expired: it names nobody
                    who = None
                raise AuthError(401, str(exc), who=who) from None
        key = self.keyring.authenticate(authorization)
        return Actor.key(key.name, key.scopes, key.department)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (scope["path"] + "/").startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        send = _with_answer_headers(send)
        if scope["method"] == "HEAD":
            # answered as the GET it stands for, without the body (headers as GET's)
            scope = {**scope, "method": "GET"}
            send = _without_body(send)
        try:
            with audit_channel("api"):
                await self._guard(scope, receive, send)
        except Exception as exc:  # before any answer: a session's sign-in or a refusal's audit
            if not is_outage(exc):
                raise
            await outage_response(exc)(scope, receive, send)

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        route, params, allowed = find(method, path)
        actor: Actor | None = None
        if route is None or route.action is not None:
            given = [value for key, value in scope.get("headers", ()) if key == b"authorization"]
            if len(given) > 1:
                # which one would count is a guess a proxy and this service may make differently
                await send_json(
                    send, 400, {"error": f"send one Authorization header, got {len(given)}"}
                )
                return
            try:
                actor = self.authenticate(bytes(given[0]).decode("latin-1") if given else None)
            except AuthError as exc:
                if exc.who is not None:  # ended credentials of someone known: on the record
                    await _audit_refusal(
                        exc.who,
                        route.action if route is not None and route.action else "request",
                        exc.rule,
                        f"{method} {route.template if route else one_line(path, PATH_ECHO_CHARS)}",
                        params.get("warning_id"),
                    )
                await send_json(send, exc.status, {"error": exc.message})
                return
        undecodable = _not_utf8(scope)
        if undecodable is not None:
            await send_json(send, 400, {"error": undecodable})
            return
        if route is None:
            shown = one_line(path, PATH_ECHO_CHARS)
            if allowed:
                await send_json(
                    send,
                    405,
                    {"error": f"{method} is not allowed on {shown}"},
                    {"allow": ", ".join(allowed)},
                )
            else:
                await send_json(send, 404, {"error": f"no such endpoint: {shown}"})
            return
        if actor is not None and route.action is not None:
            decision = decide(actor, route.action, task=route.task)
            if not decision:
                await _audit_refusal(
                    actor.audit_name,
                    route.action,
                    decision.rule,
                    f"{method} {route.template}",
                    params.get("warning_id"),
                )
                await send_json(send, 403, {"error": decision.rule, "rule_zh": decision.rule_zh})
                return
            scope.setdefault("state", {})[ACTOR_STATE] = actor
        refusal = _refuse_request_line(path, route, scope.get("query_string", b""))
        if refusal is not None:
            await send_json(send, *refusal)
            return
        if route.reads_body:
            rejection = self._check_headers(scope)
            if rejection is not None:
                await send_json(send, *rejection)
                return
            try:
                body = await self._read_body(receive)
            except _BodyTooLarge:
                await send_json(send, 413, self._too_large())
                return
            except _ClientGone:
                # an aborted upload is not a request: nothing is scored or recorded from the
                # part that arrived. The answer reaches no one, but it ends the exchange: left
                # unanswered, the server waited out its 120 s request timeout at shutdown
                logger.info(
                    "%s %s: the client closed the connection before its body was complete; "
                    "nothing done",
                    scope["method"],
                    route.template,
                )
                await send_json(send, 400, {"error": _INCOMPLETE_BODY})
                return
            if body.startswith(_BOM):
                await invalid_input([_BOM_REFUSED])(scope, receive, send)
                return
            receive = _replay(body, receive)
            if header(scope, b"content-type") is None:
                # JSON is what every body route reads: one without a type is read as JSON by
                # all of them (FastAPI's routes would not parse it and name a missing field)
                scope = {**scope, "headers": [*scope["headers"], (b"content-type", _JSON)]}
        await self._call_app(scope, receive, send)

    def _too_large(self) -> dict[str, Any]:
        return {"error": f"request body exceeds the limit of {self.max_body_bytes} bytes"}

    def _check_headers(self, scope: Scope) -> tuple[int, dict[str, Any]] | None:
        content_type, *parameters = (header(scope, b"content-type") or "application/json").split(
            ";"
        )
        if content_type.strip().lower() != "application/json":
            return 415, {"error": f"unsupported content type {content_type!r}; send JSON"}
        charset = _charset(parameters)
        if charset is not None and charset.lower() not in ("utf-8", "utf8"):
            # every body is read as UTF-8: UTF-16 or Latin-1 bytes would be misread, not decoded
            shown = one_line(charset, PATH_ECHO_CHARS)
            return 415, {"error": f"unsupported charset {shown!r}; send the JSON as UTF-8"}
        encoding = (header(scope, b"content-encoding") or "identity").strip().lower()
        if encoding != "identity":
            return 415, {
                "error": f"unsupported content encoding {encoding!r}; send the JSON uncompressed"
            }
        length = header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                return 400, {"error": "invalid Content-Length header"}
            if int(length) > self.max_body_bytes:
                return 413, self._too_large()
        return None

    async def _read_body(self, receive: Receive) -> bytes:
        """The whole body, counting bytes as they stream in (chunked uploads have no length).
        Raises `_ClientGone` when the client disconnects before the body's last part."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if is_outage(exc) and not started:
                await outage_response(exc)(scope, receive, send)
                return
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not started:
                await send_json(send, 500, {"error": "internal error; see the server log"})


def _charset(parameters: list[str]) -> str | None:
    """The `charset` a Content-Type's parameters name (unquoted), None when they name none."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"')
    return None


def _refuse_request_line(
    path: str, route: Route, query_string: bytes
) -> tuple[int, dict[str, Any]] | None:
    """404 for a path the mounted apps cannot route, 400 for query parameters nobody reads.

    A line break in a path parameter matches the routing table but not the mount under `/v1`
    (Starlette's `.*` stops at it): refused here in JSON rather than as a plain-text 404.
    An unknown query parameter is refused rather than silently ignored, so a misspelt filter
    (`?levle=red`) cannot look like an empty result; a repeated one too, since only its last
    value would count (`?task=a&task=b` is not "either").
    """
    if "\n" in path:
        return 404, {"error": f"no such endpoint: {one_line(path, PATH_ECHO_CHARS)}"}
    given = [name for name, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)]
    unknown = sorted(set(given) - route.query)
    if unknown:
        accepted = ", ".join(sorted(route.query)) or "none"
        named = one_line(", ".join(unknown), PATH_ECHO_CHARS)
        return 400, {"error": f"unknown query parameter(s): {named} (accepted: {accepted})"}
    repeated = sorted({name for name in given if given.count(name) > 1})
    if repeated:
        return 400, {"error": f"query parameter(s) given more than once: {', '.join(repeated)}"}
    return None


class JsonErrors:
    """ASGI middleware answering the service's plain-text 404 and 405 (Starlette's "Not Found"
    and "Method Not Allowed" outside `/v1/`: `/docs`, `/V1/warnings`, `POST /healthz`) in the
    error shape every `/v1/` answer uses, `Allow` kept; other answers pass as they are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_json_instead(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and _plain_refusal(message):
                replaced = True
                # Starlette lists a route's methods from a set (their order varies by
                # process); sorted, as the guard's own 405 and the document give them
                allow = ", ".join(
                    sorted(
                        m.strip()
                        for m in MutableHeaders(scope=message).get("allow", "").split(",")
                        if m.strip()
                    )
                )
                await send_json(
                    send,
                    message["status"],
                    {"error": _refusal_sentence(message["status"], scope)},
                    {"allow": allow} if allow else None,
                )
            elif not replaced:
                await send(message)

        await self.app(scope, receive, send_json_instead)


def _plain_refusal(start: Message) -> bool:
    content_type = MutableHeaders(scope=start).get("content-type", "")
    return start["status"] in (404, 405) and content_type.startswith("text/plain")


def _refusal_sentence(status: int, scope: Scope) -> str:
    path = one_line(scope["path"], PATH_ECHO_CHARS)
    if status == 405:
        return f"{scope['method']} is not allowed on {path}"
    return f"no such endpoint: {path}"


def _not_utf8(scope: Scope) -> str | None:
    """The refusal of a path or query string that is not UTF-8 once percent-decoded (None: both
    are). The server decodes such bytes as U+FFFD, so `/v1/warnings/%ff%fe` looked up (and
    echoed) a warning id nobody sent and `?entity_id=%ff` filtered by one."""
    parts = (
        ("path", scope.get("raw_path") or b""),
        ("query string", scope.get("query_string", b"")),
    )
    for part, raw in parts:
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return f"the {part} is not UTF-8 once percent-decoded; send its text as UTF-8"
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the buffered body once, then defers to the real channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def request_actor(state_holder: Any) -> Actor:
    """The actor the guard authenticated (from a Starlette request or BentoML context)."""
    actor = getattr(state_holder.state, ACTOR_STATE, None)
    if actor is None:  # the guard always sets it; reaching here means it was bypassed
        raise PermissionError("request reached a handler without authentication")
    return actor  # type: ignore[no-any-return]
