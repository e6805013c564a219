"""The `/v1/session` routes: a person signs in (`POST`) and signs out everywhere (`DELETE`).

Declared with `v1_route` like the other `/v1/` routes. Signing in is the one public route; it
is throttled per client address (`sessions.SignInThrottle`): past the configured failures a
client's sign-ins are answered 429 with `Retry-After`, without a password check, and audited
once a window (`access_refused`). Signing out ends every session of the person: their API
tokens, this one included, and their console sessions (`WarningStore.sign_out`); an API
key, which is no session, is refused (403).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import bentoml
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from serving import schemas
from serving.guard import request_actor
from serving.routes import v1_route
from serving.sessions import (
    OWN_PASSWORD_RULE,
    OWN_PASSWORD_RULE_ZH,
    THROTTLE_RULE,
    THROTTLE_RULE_ZH,
    client_address,
    own_password_first,
    sign_in_throttle,
)
from serving.store import SignInRefused

Service = Annotated[Any, Depends(bentoml.get_current_service)]


@v1_route(
    "POST",
    "/session",
    action=None,
    response_model=schemas.SessionResponse,
    responses={
        401: {"model": schemas.ErrorResponse, "description": "Sign-in refused"},
        403: {
            "model": schemas.ErrorResponse,
            "description": "With `RISKLOOP_REQUIRE_OWN_PASSWORD` on: the password is right, but "
            "it is one an administrator set, to be changed on the console's password page "
            "(`/console/password`) before any session",
        },
        429: {
            "model": schemas.ErrorResponse,
            "description": "Too many failed sign-ins from this client address "
            "(`RISKLOOP_SIGN_IN_THROTTLE_FAILURES` within `RISKLOOP_SIGN_IN_THROTTLE_WINDOW_S`): "
            "no password is checked until `Retry-After` has passed",
            "headers": {
                "Retry-After": {
                    "description": "Seconds until this client may try to sign in again",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        },
    },
)
def sign_in(service: Service, request: Request, body: schemas.SessionCreate) -> Any:
    """A person signs in with name and password; the answer's token goes in
    `Authorization: Bearer` and lives 8 hours at most (no idle limit: `DELETE /v1/session`
    ends it). Sign-ins and failures are audited; repeated failures lock the account, and
    repeated failures from one client address hold its sign-ins back for a while (429). With
    `RISKLOOP_REQUIRE_OWN_PASSWORD` on, a person whose password an administrator set gets no
    session (403, an `access_refused` row) until they change it in the console."""
    settings = service.settings
    throttle = sign_in_throttle(
        settings.sign_in_throttle_failures, settings.sign_in_throttle_window_s
    )
    client = client_address(request)
    throttled = throttle.refusal(client, service.store, "POST /v1/session")
    if throttled is not None:
        return JSONResponse(
            {
                "error": f"{THROTTLE_RULE}: try again in {throttled.retry_after} s",
                "rule_zh": f"{THROTTLE_RULE_ZH}，请在 {throttled.retry_after} 秒后重试",
            },
            status_code=429,
            headers={"Retry-After": str(throttled.retry_after)},
        )
    try:
        user = service.store.sign_in(
            body.name, body.password, lockout=timedelta(seconds=settings.lockout_s)
        )
    except SignInRefused as exc:
        throttle.failed(client)
        return JSONResponse({"error": str(exc)}, status_code=401)
    if own_password_first(settings, user):
        service.store.refused(
            actor=f"user:{user.name}",
            action="sign_in",
            rule=OWN_PASSWORD_RULE,
            path="POST /v1/session",
        )
        return JSONResponse(
            {"error": OWN_PASSWORD_RULE, "rule_zh": OWN_PASSWORD_RULE_ZH}, status_code=403
        )
    token, expires = service.sessions.issue(user.name, stamp=user.credential_stamp)
    return schemas.SessionResponse(
        token=token,
        expires_at=datetime.fromtimestamp(expires).astimezone(),
        name=user.name,
        role=user.role,
        department=user.department,
        password_from_admin=user.password_from_admin,
    )


# the guard authenticates the token (an ended one is a 401, on the record) and refuses a key,
# which has no session to end (403 and an `access_refused` row: `serving.policy`)
@v1_route(
    "DELETE",
    "/session",
    action="sign_out",
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "Signed out: every session of the person has ended"},
        403: {
            "model": schemas.ErrorResponse,
            "description": "The credentials are an API key's: a key has no session to end",
        },
    },
)
def sign_out(service: Service, request: Request) -> Response:
    """A person signs out everywhere with their session token: every session of theirs ends,
    API tokens (this one too) and console sessions alike, as a password reset would end them
    but with the password kept. Audited as `sign_out`. Any of the person's tokens will do."""
    service.store.sign_out(request_actor(request).name)
    return Response(status_code=204)
