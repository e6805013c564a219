"""The OpenAPI document at `/docs.json`, made to say what the guard and the routes answer; and
the BentoML service class that serves it (`RiskloopBentoService`)."""

from __future__ import annotations

import logging
from typing import Any

import bentoml

from features.tasks import TASKS
from serving import schemas
from serving.routes import ROUTES
from serving.tracing import configured_exporter, without_idle_tracing
from serving.traffic_metrics import label_metrics_by_route

logger = logging.getLogger("riskloop.serving")

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_GUARD_RESPONSES: dict[str, str] = {
    "401": "Missing or unknown API key",
    "403": "The key lacks the endpoint's scope",
}
_REQUEST_RESPONSES: dict[str, str] = {
    "400": "A query parameter the endpoint does not read or given twice, or a body that is not "
    "UTF-8 JSON",
}
_BODY_RESPONSES: dict[str, str] = {
    "413": "Request body over the size limit",
    "415": "Content type is not JSON, or the body is compressed (Content-Encoding)",
}
_REF = "#/components/schemas/{model}"
#: FastAPI's schema of a 422, which the mounted `/v1` app documents for its routes.
_INVALID_INPUT = "HTTPValidationError"


def document_guard(spec: dict[str, Any]) -> dict[str, Any]:
    """Make `/docs.json` say what the service really answers.

    BentoML documents its 400 body's `detail` as a string while sending pydantic's error list,
    knows nothing of the guard's 400/401/403/413/415 or the bearer scheme, flattens the
    score request so that the "exactly one of `records` or `entity_ids`" rule is lost, and
    documents a 400 of its own for the score body with another shape than riskloop's; FastAPI's
    422 schema lacks the `error` sentence riskloop's handler sends. A client (or a schemathesis
    run) reading the document would be misled on every error.
    """
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorResponse"] = schemas.ErrorResponse.model_json_schema(ref_template=_REF)
    _document_invalid_input(components)
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        if name in components:
            components[name].setdefault("properties", {})["detail"] = {
                "anyOf": [
                    {"type": "array", "items": {"type": "object"}},
                    {"type": "string"},
                    {"type": "null"},
                ],
                "title": "Error Detail",
            }
    spec["components"].setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "riskloop API key: `riskloop keys create NAME --scopes ...`",
    }
    _document_score_requests(spec)
    _document_links(spec)
    public = {(route.method, route.template) for route in ROUTES if route.action is None}
    for path, item in spec.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _document_answers(operation, method.upper(), (method.upper(), path) in public)
    return spec


def _absent_not_null(parameter: dict[str, Any]) -> None:
    """An optional query parameter is absent or a text, never a JSON null: drop the null branch.

    FastAPI documents `x: T | None = None` as `anyOf: [T, null]`, which invites `?x=null`
    (read as the text "null") and lets a fuzzer "send" a value that serialises to nothing.
    """
    schema = parameter.get("schema", {})
    branches = [b for b in schema.get("anyOf", ()) if b != {"type": "null"}]
    if parameter.get("in") != "query" or len(branches) != 1 or len(schema["anyOf"]) != 2:
        return
    (kept,) = branches
    if "$ref" in kept:
        parameter["schema"] = kept
    else:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        parameter["schema"] = {**rest, **kept}


def _document_answers(operation: dict[str, Any], method: str, public: bool) -> None:
    """The security scheme, the query parameters and the guard's own answers of one operation."""
    operation["security"] = [] if public else [{"bearer": []}]
    for parameter in operation.get("parameters", ()):
        _absent_not_null(parameter)
    extra = dict(_REQUEST_RESPONSES) if public else {**_GUARD_RESPONSES, **_REQUEST_RESPONSES}
    if method in BODY_METHODS:
        extra.update(_BODY_RESPONSES)
    error_ref = {"$ref": _REF.format(model="ErrorResponse")}
    for status, description in extra.items():
        operation["responses"].setdefault(
            status,
            {"description": description, "content": {"application/json": {"schema": error_ref}}},
        )


def _document_invalid_input(components: dict[str, Any]) -> None:
    """Every 422 carries an `error` sentence naming each field (`serving.routes`), which
    FastAPI's schema of it leaves out."""
    schema = components.get(_INVALID_INPUT)
    if schema is None:
        return
    schema.setdefault("properties", {})["error"] = {
        "type": "string",
        "title": "Error",
        "description": "`invalid request: ` and each field's location and problem, or the "
        "refusal's reason.",
    }
    schema["required"] = sorted({*schema.get("required", ()), "error"})


def _document_score_requests(spec: dict[str, Any]) -> None:
    """Each score route's request body (the strict pydantic model, one-of rule included) and
    its refusal: a 400 in riskloop's error shape (`serving.score_routes.ScoreInput`), the
    guard's entry (`_document_answers`), not BentoML's own."""
    components = spec["components"]["schemas"]
    for task in TASKS.values():
        operation = spec.get("paths", {}).get(f"/v1/{task.name}/score", {}).get("post")
        if operation is None:
            continue
        # BentoML keys its answers by number, the rest of the document by text ("400" twice):
        # its own 400 (`InvalidArgument`) becomes riskloop's (the sentence and the field list)
        answers = {str(status): answer for status, answer in operation["responses"].items()}
        answers["400"] = {
            "description": "A body that fails validation (each field's location and problem in "
            "`detail`) or is not UTF-8 JSON, or a query parameter the endpoint does not read or "
            "given twice",
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}
            },
        }
        operation["responses"] = answers
        model = schemas.score_request_model(task.slug)
        schema = model.model_json_schema(ref_template=_REF)
        components.update(schema.pop("$defs", {}))
        components.pop(f"{model.__name__}IODescriptor", None)
        components[model.__name__] = schema
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}
            },
        }


#: Operations that act on one warning, by the name of the link that leads to them.
_WARNING_OPERATIONS: dict[str, tuple[str, str]] = {
    "ReadWarning": ("/v1/warnings/{warning_id}", "get"),
    "OpenExplanation": ("/v1/warnings/{warning_id}/explanation", "get"),
    "AddFeedback": ("/v1/warnings/{warning_id}/feedback", "post"),
    "RevealEntity": ("/v1/warnings/{warning_id}/reveal", "post"),
}


def _document_links(spec: dict[str, Any]) -> None:
    """OpenAPI links from the answers that name a warning to the operations on one warning.

    A score result carries the warning it raised and a listing carries warning ids: the links
    say so, so a client (and schemathesis's stateful phase) can follow them.
    """
    paths = spec.get("paths", {})
    targets = {
        name: paths[path][method]["operationId"]
        for name, (path, method) in _WARNING_OPERATIONS.items()
        if "operationId" in paths.get(path, {}).get(method, {})
    }
    sources = [
        (f"/v1/{task.name}/score", "post", "/results/0/warning_id") for task in TASKS.values()
    ]
    sources.append(("/v1/warnings", "get", "/items/0/id"))
    for path, method, pointer in sources:
        answer = paths.get(path, {}).get(method, {}).get("responses", {}).get("200")
        if answer is None:
            continue
        answer["links"] = {
            name: {
                "operationId": operation_id,
                "parameters": {"warning_id": f"$response.body#{pointer}"},
            }
            for name, operation_id in targets.items()
        }


class _DocumentedSpec:
    """BentoML's OpenAPI object, with `document_guard` applied when it is rendered."""

    def __init__(self, spec: Any) -> None:
        self._spec = spec

    def asdict(self) -> dict[str, Any]:
        return document_guard(self._spec.asdict())


class RiskloopBentoService(bentoml.Service):  # type: ignore[type-arg]
    """BentoML's service object with an OpenAPI document that matches the guard's answers,
    request metrics labelled by route (`serving.traffic_metrics`) and tracing only when an
    exporter is configured (`serving.tracing`)."""

    def to_asgi(self, is_main: bool = True) -> Any:
        app = label_metrics_by_route(super().to_asgi(is_main))
        return without_idle_tracing(app, configured_exporter())

    @property
    def openapi_spec(self) -> Any:
        return _DocumentedSpec(super().openapi_spec)
