"""The `/v1/` routes besides scoring and sessions: warnings, feedback, reveal, audit, models,
reload (signing in and out: `session_routes.py`).

Each route declares its policy action beside itself (`v1_route(..., action=...)`); the guard
has already authenticated the caller and checked the action before a handler runs. A handler
that touches one warning asks the policy again with the warning itself (an officer may read
only the warnings dispatched to their department), and every look is an audit row:
`warning_list` (with the filter used), `warning_read`, `warning_page`, `identity_reveal`,
`audit_read` (a read of the audit log, with its filter), and every refused attempt
`access_refused` (the action or step tried, the case, the rule).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BeforeValidator, TypeAdapter, ValidationError
from starlette.responses import Response

from models.departments import department_code
from serving import schemas
from serving.champions import model_of_version
from serving.guard import request_actor
from serving.policy import DECISIONS, Actor, decide, transition_for, visible_scope
from serving.routes import in_body, read_json, v1_route
from serving.store import StaleWarning, TransitionError, WarningNotFound, walk
from serving.store.identity import IdentityUnavailable
from serving.store.privacy import RevealLimited
from serving.store.reads import AuditFilterError, audit_window
from serving.warning_access import (
    CONFLICT,
    ERRORS,
    ID_FORMAT,
    NOT_FOUND,
    Service,
    WarningId,
    allowed_warning,
    not_found,
    refused_answer,
)


def _as_json(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """Error answers documented as JSON on a route whose success is another media type.

    FastAPI documents a `model` under the route's own media type (text/html for a page); the
    guard and the handlers answer errors in JSON, so the document must say so.
    """
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        status: {
            "description": answer["description"],
            "content": {"application/json": {"schema": error}},
        }
        for status, answer in responses.items()
    }


def _invalid_query(name: str, kind: str, message: str) -> RequestValidationError:
    """Query values each valid alone that do not go together (no JSON schema of one parameter
    can say so): refused by the `/v1` app's handler as a malformed filter is, a 422 whose
    sentence and `detail` name the parameter."""
    return RequestValidationError([{"type": kind, "loc": ("query", name), "msg": message}])


#: The reload's refusal of a body that asks for something: it reloads every task.
RELOAD_TAKES_NO_BODY = (
    "POST /v1/admin/reload takes no body: it reloads every task's champion (a reload of one "
    "task is not offered); send the request without a body"
)


async def _no_body(request: Request) -> None:
    """The reload reads nothing from its body: one sent is refused (400) rather than ignored,
    so `{"task": "wage-arrears"}` cannot look like a reload of one task. No body, blanks or
    `{}` (what some clients send on every POST) ask nothing and pass; text that is not JSON
    gets the 400 every body route gives it."""
    body = await request.body()
    if not body.strip():
        return
    sent, refusal = read_json(body)  # not JSON, or bytes that are no text
    if refusal is not None:
        raise RequestValidationError([in_body(refusal)])
    if sent != {}:
        raise HTTPException(400, RELOAD_TAKES_NO_BODY)


def _stale(warning: dict[str, Any]) -> StaleWarning:
    """The conflict of a step decided on another version than `warning`'s, naming its last
    change."""
    last = (warning.get("history") or [{}])[-1]
    return StaleWarning(
        warning["id"], int(warning["version"]), str(last.get("actor", "unknown")), last.get("at")
    )


def _version_ahead(warning: dict[str, Any], version: int) -> JSONResponse:
    """The 409 of an `expected_version` the warning has not reached: nobody read it, so it is
    not a stale read ("changed since you read it" would be false); `detail` names the field."""
    message = (
        f"expected_version {version} is ahead of the warning's current version "
        f"{warning['version']}: no one has read that version; read the warning again "
        f"(GET /v1/warnings/{warning['id']}) and send its version"
    )
    ahead = {"type": "version_ahead", "loc": ["body", "expected_version"], "msg": message}
    return JSONResponse({"error": message, "detail": [ahead]}, status_code=409)


def _look(service: Any, actor: Actor, action: str, warning: dict[str, Any]) -> None:
    service.store.audit(
        actor=actor.audit_name,
        action=action,
        task=warning["task"],
        model_version=warning["model_version"],
        detail={"warning_id": warning["id"]},
    )


def _write_guard(warning: dict[str, Any], version: int | None) -> dict[str, Any]:
    """What a step or reveal is written against: the version the caller sent, else the
    warning's holder (status, department) the policy decided on."""
    if version is not None:
        return {"expected_version": version}
    return {"expected_holder": (warning["status"], warning["department"])}


# ----------------------------------------------------------------------------- models, reload


@v1_route(
    "GET",
    "/models",
    action="models_read",
    response_model=schemas.ModelsResponse,
    responses=ERRORS,
)
def list_models(service: Service) -> schemas.ModelsResponse:
    """Which registered version serves each task, with its test metrics and thresholds."""
    return schemas.ModelsResponse(models=service.model_infos())


@v1_route(
    "POST",
    "/admin/reload",
    action="reload",
    response_model=schemas.ReloadResponse,
    responses={
        **ERRORS,
        400: {
            "model": schemas.ErrorResponse,
            "description": "A body was sent (the route takes none: it reloads every task), a "
            "body that is not UTF-8 JSON, a query parameter the route does not read, or a "
            "path or query string that is not UTF-8",
        },
        503: {
            "model": schemas.ErrorResponse,
            "description": "Another reload has run past `RISKLOOP_RELOAD_TIMEOUT_S` "
            "(`Retry-After` set), or the warnings store does not answer",
        },
        504: {
            "model": schemas.ErrorResponse,
            "description": "The registry did not answer within `RISKLOOP_RELOAD_TIMEOUT_S`: "
            "the reload goes on in the background and every outcome is audited",
        },
    },
    dependencies=[Depends(_no_body)],
)
def admin_reload(service: Service, request: Request) -> schemas.ReloadResponse:
    """Load each task's current champion; a task whose load fails keeps its old model."""
    return schemas.ReloadResponse(results=service.reload(actor=request_actor(request).audit_name))


# ----------------------------------------------------------------------------- warnings


@v1_route(
    "GET",
    "/warnings",
    action="warning_list",
    response_model=schemas.WarningList,
    responses=ERRORS,
)
def list_warnings(
    service: Service,
    request: Request,
    task: schemas.TaskName | None = None,
    level: schemas.WarningLevel | None = None,
    status: schemas.WarningStatus | None = None,
    department: schemas.NameFilter | None = Query(
        default=None,
        description=(
            "Dispatched to this department: its code or its English or Chinese name; or to any "
            "of several, comma-separated (labour_inspection,tax), when each names a department "
            "riskloop knows; `outside` for every outside body's cases (alone or in such a list). "
            "Any other value is one outside body's name, which may hold a comma."
        ),
    ),
    entity_id: schemas.EntityIdFilter | None = None,
    date_from: schemas.IsoDate | None = None,
    date_to: schemas.IsoDate | None = None,
    overdue: schemas.StrictBool | None = Query(
        default=None, description="Only warnings past (true) or within (false) their deadline."
    ),
    page: int = Query(
        default=1,
        ge=1,
        le=1_000_000,
        description="The page by number (its answer has no `next_cursor`); with `cursor`, only 1.",
    ),
    page_size: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(
        default=None,
        pattern=walk.CURSOR_PATTERN,
        description=f"Walk the list instead of paging by number: `{walk.WALK_START}`, then each "
        "answer's `next_cursor` (same filters), until it is null. Each warning there when the "
        "walk began (and matching its filter throughout) is seen exactly once while others "
        "arrive; newest first, warnings made in the same instant by id. A `page` beside it can "
        "only be 1: a walk goes on by `next_cursor` alone.",
    ),
) -> Any:
    """Warnings the caller may see, newest first; `entity_id` is the caller's own id (matched
    by its hash). The look is audited with the filter used (the id only as its pseudonym).
    A text filter is trimmed, and one empty is a 422, like a page number other than 1 beside a
    cursor or a date range ending before it starts."""
    if cursor is not None and page != 1:
        # page N of a walk answered a `next_cursor` that skipped the N-1 pages before it (page
        # 1, which a client may always send, is the walk's own page)
        raise _invalid_query(
            "page",
            "cursor_with_page",
            "cannot be above 1 with `cursor`: use one or the other (`page` for a page by "
            "number, or `cursor` and each answer's `next_cursor` to walk the list)",
        )
    if department is not None and not department.replace(",", "").strip():
        # only commas: no department named, as an empty filter is refused (QA, 2026-12-07:
        # `department=,` answered an empty list)
        raise _invalid_query(
            "department",
            "empty",
            "names no department (only commas): give a code or a name, or leave it out",
        )
    if date_from is not None and date_to is not None and date_from > date_to:
        raise _invalid_query(
            "date_from",
            "date_order",
            f"{date_from.isoformat()} is after date_to {date_to.isoformat()}: no day is in "
            "that range; give date_from on or before date_to",
        )
    actor = request_actor(request)
    task_name = None if task is None else str(task)
    found = service.store.list_warnings(  # the query's pattern admits only cursors
        task=task_name,
        level=level,
        status=status,
        department=department,
        entity_id=entity_id,
        date_from=date_from,
        date_to=date_to,
        overdue=overdue,
        page=page,
        page_size=page_size,
        cursor=cursor,
        visible=visible_scope(actor),
    )
    filters = {
        "task": task_name,
        "level": level,
        "status": status,
        "department": department,
        "entity": None if entity_id is None else service.store.pseudonymise(entity_id),
        "date_from": None if date_from is None else date_from.isoformat(),
        "date_to": None if date_to is None else date_to.isoformat(),
        "overdue": overdue,
        "page": page,
        "page_size": page_size,
        "cursor": cursor,
    }
    service.store.audit(
        actor=actor.audit_name,
        action="warning_list",
        task=task_name,
        detail={
            "filter": {k: v for k, v in filters.items() if v is not None},
            "warning_ids": [item["id"] for item in found["items"]],
            "total": found["total"],
        },
    )
    listing = schemas.WarningList.model_validate(found)
    if cursor is None:  # a page by number answers the shape it always had
        return JSONResponse(listing.model_dump(mode="json", exclude={"next_cursor"}))
    return listing


@v1_route(
    "GET",
    "/warnings/{warning_id}",
    action="warning_read",
    response_model=schemas.WarningPublic,
    responses={**ERRORS, **NOT_FOUND},
)
def get_warning(service: Service, request: Request, warning_id: WarningId) -> Any:
    """One warning with its full history, oldest first (audited as `warning_read`)."""
    actor = request_actor(request)
    warning = allowed_warning(service, actor, "warning_read", warning_id)
    if isinstance(warning, JSONResponse):
        return warning
    _look(service, actor, "warning_read", warning)
    return schemas.WarningPublic.model_validate(warning)


@v1_route(
    "GET",
    "/warnings/{warning_id}/explanation",
    action="warning_page",
    response_class=HTMLResponse,
    responses=_as_json({**ERRORS, **NOT_FOUND}),
)
def warning_explanation(
    service: Service, request: Request, warning_id: WarningId, lang: Literal["en", "zh"] = "en"
) -> Response:
    """The supervisor's page for one warning: reasons, waterfall, actions, history."""
    from serving.explanation_page import render_warning_page

    actor = request_actor(request)
    warning = allowed_warning(service, actor, "warning_page", warning_id)
    if isinstance(warning, JSONResponse):
        return warning
    _look(service, actor, "warning_page", warning)
    # drawn from the model that scored it, where the registry still has that version
    model, version = model_of_version(
        service.served(warning["task"]), str(warning.get("model_version", "")), service.settings
    )
    page = render_warning_page(
        warning, model, lang, model_version=version, display_name=service.store.display_name
    )
    return HTMLResponse(page)


@v1_route(
    "POST",
    "/warnings/{warning_id}/feedback",
    action="feedback",
    response_model=schemas.WarningPublic,
    responses={**ERRORS, **NOT_FOUND, **CONFLICT},
)
def add_feedback(
    service: Service, request: Request, warning_id: WarningId, feedback: schemas.FeedbackCreate
) -> Any:
    """Record a disposition step (dispatch, start, close with an outcome, or send back)."""
    actor = request_actor(request)
    # a caller who sent a version is held to it; one who did not never read a version
    attempts = 1 if feedback.expected_version is not None else DECISIONS
    for _ in range(attempts):
        try:
            return _feedback_step(service, actor, warning_id, feedback)
        except StaleWarning as exc:
            conflict = exc
    return JSONResponse({"error": str(conflict)}, status_code=409)


def _feedback_step(
    service: Any, actor: Actor, warning_id: str, feedback: schemas.FeedbackCreate
) -> Any:
    """Decide the step on the warning as read now and write it only while the warning is
    still as decided (`_write_guard`); raises `StaleWarning` when it changed in between."""
    warning = allowed_warning(service, actor, "feedback", warning_id)
    if isinstance(warning, JSONResponse):
        return warning
    transition = transition_for(warning["status"], feedback.status)
    if transition is not None:
        decision = decide(actor, "feedback", warning=warning, transition=transition)
        if not decision:
            service.store.refused(
                actor=actor.audit_name,
                action="feedback",
                step=transition,
                rule=decision.rule,
                warning=warning,
            )
            return refused_answer(decision)
    # the step is written only to what the policy decided on: a re-route or a colleague's
    # step landing in between must not let the old department work the new one's case. A
    # caller who sent a version is held to it; one who did not, to the warning's holder
    # (status, department) only, so a re-score landing meanwhile does not refuse the step
    decided_on = int(warning["version"])
    if feedback.expected_version is not None and feedback.expected_version > decided_on:
        return _version_ahead(warning, feedback.expected_version)
    if feedback.expected_version not in (None, decided_on):
        return JSONResponse({"error": str(_stale(warning))}, status_code=409)
    guard = _write_guard(warning, feedback.expected_version)
    department = feedback.department
    if department is not None:
        # a code or either name: stored as the code, so the department's officers see it; an
        # outside body's name trimmed, as the list's `department` filter reads it
        department = department_code(department) or department.strip()
    try:
        if feedback.status == "open":
            # a send-back clears the department and sets no outcome: either given means the
            # caller meant another step (a close, a re-route), refused as those steps refuse
            # a field that is not theirs, never dropped without a word
            if feedback.outcome is not None:
                raise TransitionError("an outcome is given only when closing")
            if feedback.department is not None:
                raise TransitionError(
                    "a department is set only when dispatching; sending back clears it"
                )
            updated = service.store.send_back(
                warning_id,
                actor=actor.audit_name,
                note=feedback.note or "",
                **guard,
            )
        else:
            updated = service.store.add_feedback(
                warning_id,
                actor=actor.audit_name,
                status=feedback.status,
                department=department,
                outcome=feedback.outcome,
                note=feedback.note,
                **guard,
            )
    except WarningNotFound:
        return not_found(warning_id)
    except TransitionError as exc:
        return JSONResponse({"error": str(exc)}, status_code=409)
    return schemas.WarningPublic.model_validate(updated)


@v1_route(
    "POST",
    "/warnings/{warning_id}/reveal",
    action="reveal",
    response_model=schemas.RevealResponse,
    responses={
        **ERRORS,
        **NOT_FOUND,
        409: {
            "model": schemas.ErrorResponse,
            "description": "The warning changed (was re-routed) while the request was decided",
        },
        410: {"model": schemas.ErrorResponse, "description": "The encrypted id was purged"},
        429: {
            "model": schemas.ErrorResponse,
            "description": "Hourly reveal limit reached",
            "headers": {
                "Retry-After": {
                    "description": "Seconds until the actor may reveal again",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        },
    },
)
def reveal(
    service: Service, request: Request, warning_id: WarningId, body: schemas.RevealRequest
) -> Any:
    """Who the warning is about, for a person or key allowed to work the case; the purpose is
    kept in the audit log, and each actor may reveal a limited number of ids per hour."""
    actor = request_actor(request)
    for _ in range(DECISIONS):
        try:
            return _reveal_once(service, actor, warning_id, body)
        except StaleWarning as exc:
            conflict = exc
    return JSONResponse({"error": str(conflict)}, status_code=409)


def _reveal_once(service: Any, actor: Actor, warning_id: str, body: schemas.RevealRequest) -> Any:
    """Decide the reveal on the warning as read now and reveal it only while the warning is
    still held as decided; raises `StaleWarning` when it changed hands in between."""
    warning = allowed_warning(service, actor, "reveal", warning_id)
    if isinstance(warning, JSONResponse):
        return warning
    try:
        entity_id = service.store.reveal(
            warning_id,
            actor=actor.audit_name,
            purpose=body.purpose,
            limit=service.settings.reveal_limit_per_hour,
            **_write_guard(warning, None),  # the holder the policy decided on
        )
    except RevealLimited as exc:
        return JSONResponse(
            {"error": str(exc)},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except IdentityUnavailable as exc:
        return JSONResponse({"error": str(exc)}, status_code=410)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    return schemas.RevealResponse(warning_id=warning_id, entity_id=entity_id)


# ----------------------------------------------------------------------------- audit


#: The two forms of an audit bound, each checked as the other routes check it
_DAY: TypeAdapter[date] = TypeAdapter(schemas.IsoDate)
_MOMENT: TypeAdapter[datetime] = TypeAdapter(schemas.IsoDateTime)


def _day_or_moment(value: Any) -> Any:
    """An audit bound's text as a day of the city (`YYYY-MM-DD`) or an RFC 3339 moment with
    its zone, each checked as `schemas.IsoDate` and `schemas.IsoDateTime` check it; one
    refusal naming both forms (a union's would be one per form, neither naming the other)."""
    if not isinstance(value, str):
        return value
    try:
        return _DAY.validate_python(value)
    except ValidationError:
        pass
    try:
        return _MOMENT.validate_python(value)
    except ValidationError as exc:
        said = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{said}, or a date YYYY-MM-DD (a day of the city, UTC+8)") from None


#: A bound of an audit read: a moment with its zone, or a day of the city (`audit_window`).
AuditBound = Annotated[datetime | date, BeforeValidator(_day_or_moment)]


def _refused_filter(exc: AuditFilterError) -> JSONResponse | RequestValidationError:
    """An audit filter naming nothing: a warning id no warning has is a 404 naming it, any
    other a 422 naming the parameter (an id of no warning's shape with what an id is)."""
    if exc.kind == "unknown":
        return JSONResponse({"error": str(exc)}, status_code=404)
    message = f"is not a warning id: {ID_FORMAT}" if exc.kind == "format" else str(exc)
    return _invalid_query(exc.parameter, f"audit_{exc.kind}", message)


@v1_route(
    "GET",
    "/audit",
    action="audit_read",
    response_model=schemas.AuditList,
    responses={
        **ERRORS,
        404: {"model": schemas.ErrorResponse, "description": "`warning_id` names no warning"},
    },
)
def read_audit(
    service: Service,
    request: Request,
    warning_id: Annotated[
        schemas.WarningIdFilter | None,
        Query(
            description="The rows about one warning: its whole id or its start, at least the "
            "8 digits of the short id screens show (`W-` optional, any case). A start shared "
            "by several warnings, or shorter, is a 422; an id or start no warning has a 404."
        ),
    ] = None,
    actor: schemas.NameFilter | None = None,
    task: Annotated[
        schemas.TaskName | None,
        Query(
            description="The rows about this task: its warnings, scorings, screens and models "
            "(rows about no task, such as sign-ins and account changes, are left out)."
        ),
    ] = None,
    action: Annotated[
        schemas.NameFilter | None,
        Query(
            description="The rows of this action (`identity_reveal`), or of several separated "
            "by commas (`identity_reveal,warning_read`). An action the audit log does not know "
            "is a 422 that lists those it knows."
        ),
    ] = None,
    since: Annotated[
        AuditBound | None,
        Query(
            description="Rows at or after this moment (RFC 3339, with its zone), or from this "
            "day's midnight in the city (YYYY-MM-DD, UTC+8). After now: 422."
        ),
    ] = None,
    until: Annotated[
        AuditBound | None,
        Query(
            description="Rows before this moment (exclusive), or through this whole day of the "
            "city (YYYY-MM-DD: before the next day's midnight, UTC+8). Not after `since`: 422."
        ),
    ] = None,
    after_id: int = Query(default=0, ge=0, le=2**62),
    limit: int = Query(default=500, ge=1, le=5000),
) -> Any:
    """The audit log in order, filtered by one warning, one actor, one task, actions and a
    window of time (every filter given holds); `after_id` pages on (the answer's `next_after_id`). The
    read is audited itself (`audit_read`, with the filter and the rows returned): a warning's
    story shows its notes, departments and reveal purposes, so reading it is a look at the
    case. A `warning_id` that names no warning is refused (404), as `riskloop audit --warning`
    refuses it, rather than answered with an empty log; so is a `since` after now (422)."""
    try:
        start, end = audit_window(since, until, now=datetime.now(UTC))
        actions = None if action is None else service.store.checked_audit_actions([action])
        if warning_id is not None:
            warning_id = service.store.audit_warning(warning_id)
    except AuditFilterError as exc:
        refusal = _refused_filter(exc)
        if isinstance(refusal, RequestValidationError):
            raise refusal from None
        return refusal
    rows = service.store.audit_rows(
        since_id=after_id,
        warning_id=warning_id,
        actor=actor,
        actions=actions,
        since=start,
        until=end,
        task=None if task is None else task.value,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    service.store.audit_read(
        actor=request_actor(request).audit_name,
        rows=len(rows),
        warning_id=warning_id,
        of_actor=actor,
        task=None if task is None else task.value,
        actions=actions,
        since=start,
        until=end,
        after_id=after_id,
    )
    return schemas.AuditList.model_validate(
        {"items": rows, "next_after_id": rows[-1]["id"] if more else None}
    )
