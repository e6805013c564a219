"""`POST /v1/warnings/{warning_id}/notes`: a progress note on a case, as the console's
*Record progress* form writes it (`WarningStore.add_note`).

Whoever may take a step on the case now may note how its work goes (a visit, a call, papers
asked for) without taking one: a department's system recording its officers' work, or a
supervisor's. The note is a `note` event in the case's history and a `case_note` audit row,
scrubbed of ids as a step's note is; the warning's status, version and deadline stay.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from serving import schemas
from serving.guard import request_actor
from serving.policy import DECISIONS, Actor, may_note
from serving.routes import v1_route
from serving.store import StaleWarning, TransitionError, WarningNotFound
from serving.warning_access import (
    ERRORS,
    NOT_FOUND,
    Service,
    WarningId,
    allowed_warning,
    not_found,
    refused_answer,
)


@v1_route(
    "POST",
    "/warnings/{warning_id}/notes",
    action="feedback",
    status_code=201,
    response_model=schemas.WarningPublic,
    responses={
        **ERRORS,
        **NOT_FOUND,
        409: {
            "model": schemas.ErrorResponse,
            "description": "The warning is closed, or kept changing hands while the note "
            "was decided (a note is written only while the case is held as decided)",
        },
    },
)
def add_note(
    service: Service, request: Request, warning_id: WarningId, body: schemas.NoteCreate
) -> Any:
    """Record a progress note on a case (no step: status and version stay). Who may take a
    step on the warning now may add one; a closed warning takes none (409)."""
    actor = request_actor(request)
    for _ in range(DECISIONS):
        try:
            return _note_once(service, actor, warning_id, body.note)
        except StaleWarning as exc:
            conflict = exc
    return JSONResponse({"error": str(conflict)}, status_code=409)


def _note_once(service: Any, actor: Actor, warning_id: str, note: str) -> Any:
    """Decide the note on the warning as read now and write it only while the warning is
    still held as decided (a re-route landing in between must not let the old department
    note the new one's case, nor show it the case); raises `StaleWarning` when it changed
    hands in between."""
    warning = allowed_warning(service, actor, "feedback", warning_id)
    if isinstance(warning, JSONResponse):
        return warning
    decision = may_note(actor, warning)
    if not decision:
        service.store.refused(
            actor=actor.audit_name,
            action="feedback",
            step="note",
            rule=decision.rule,
            warning=warning,
        )
        return refused_answer(decision, 409 if decision.by_state else 403)
    try:
        noted = service.store.add_note(
            warning_id,
            actor=actor.audit_name,
            note=note,
            expected_holder=(warning["status"], warning["department"]),
        )
    except WarningNotFound:
        return not_found(warning_id)
    except TransitionError as exc:  # closed since it was read
        return JSONResponse({"error": str(exc)}, status_code=409)
    return schemas.WarningPublic.model_validate(noted)
