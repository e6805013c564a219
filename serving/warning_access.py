"""What every `/v1/` route on one warning shares: the warning id in the path, the policy's
second look with the warning itself, and the answers it refuses with (a 404 for no such
warning, a 403 naming the rule), documented once for the OpenAPI document.

`warnings_routes.py` (read, explanation page, feedback, reveal) and `notes_routes.py`
(progress notes) use it.
"""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
from fastapi import Depends, Path
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from serving import schemas
from serving.policy import Actor, Decision, decide
from serving.store import WarningNotFound
from serving.store.common import WARNING_ID, canonical_warning_id
from serving.store.free_text import one_line

Service = Annotated[Any, Depends(bentoml.get_current_service)]
#: A warning id in a path; no control characters (PostgreSQL refuses NUL in a query's text);
#: hexadecimal digits in capitals read as the store's lower case
WarningId = Annotated[str, Path(pattern=schemas.PLAIN_TEXT), AfterValidator(canonical_warning_id)]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorResponse, "description": "Missing or unknown credentials"},
    403: {"model": schemas.ErrorResponse, "description": "The policy refuses; `error` says why"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.ErrorResponse, "description": "No such warning"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": schemas.ErrorResponse,
        "description": "Transition not allowed, or `expected_version` is not the warning's: "
        "it changed since it was read, or has not reached the version sent",
    }
}
#: What a warning id is, said to a caller who sent something else.
ID_FORMAT = "a warning id is 'W-' and 32 hexadecimal digits"
#: At most this many characters of an ill-formed warning id are repeated in its 404.
_ID_ECHO_CHARS = 40


def refused_answer(decision: Decision, status: int = 403) -> JSONResponse:
    """A refusal's answer (403 unless told): the rule in English and in Chinese."""
    return JSONResponse({"error": decision.rule, "rule_zh": decision.rule_zh}, status_code=status)


def not_found(warning_id: str) -> JSONResponse:
    """The 404 of a warning id: a well-formed one as sent, any other shape said to be one, its
    start escaped and cut (a path may hold 5,000 characters, or a line break)."""
    if WARNING_ID.fullmatch(warning_id):
        return JSONResponse({"error": f"no warning {warning_id!r}"}, status_code=404)
    shown = one_line(warning_id, _ID_ECHO_CHARS)
    return JSONResponse(
        {"error": f"no warning '{shown}': {ID_FORMAT}"},
        status_code=404,
    )


def allowed_warning(
    service: Any, actor: Actor, action: str, warning_id: str
) -> dict[str, Any] | JSONResponse:
    """The warning if the policy lets `actor` do `action` on it; else the 404/403 answer
    (an id of another shape than a warning's is no warning: not looked up)."""
    if not WARNING_ID.fullmatch(warning_id):
        return not_found(warning_id)
    try:
        warning: dict[str, Any] = service.store.get_warning(warning_id)
    except WarningNotFound:
        return not_found(warning_id)
    decision = decide(actor, action, warning=warning)
    if not decision:
        service.store.refused(
            actor=actor.audit_name, action=action, rule=decision.rule, warning=warning
        )
        return refused_answer(decision)
    return warning
