"""The OpenAPI document at `/docs.json`, made to say what the guard and the routes answer; and
the BentoML service class that serves it (`RiskloopBentoService`)."""

from __future__ import annotations

import logging
from importlib.metadata import metadata
from typing import Any

import bentoml
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from features.catalog import CATALOG, FeatureDef
from features.tasks import TASKS, Task
from models.settings import get_settings
from serving import schemas
from serving.guard import JsonErrors
from serving.online_store import EntityNotMaterialized
from serving.routes import ROUTES, find
from serving.store.common import OUTAGE_MESSAGE
from serving.tracing import configured_exporter, without_idle_tracing
from serving.traffic_metrics import label_metrics_by_route

logger = logging.getLogger("riskloop.serving")

#: The document's OpenAPI version, its schemas spelt as 3.0 spells them (`_as_openapi_30`).
#: Not 3.1: JSON Schema 2020-12, which 3.1 is written in, counts `5.0` as an integer, and the
#: strict request models refuse it (400); 3.0's integer is "a JSON number without a fraction
#: or exponent part", as they read it. BentoML said 3.0.2 over pydantic's 2020-12 schemas
#: (`type: null`), which a validator refused.
OPENAPI_VERSION = "3.0.3"
#: JSON Schema 2020-12's null, which OpenAPI 3.0 says as `nullable: true`.
_NULL = {"type": "null"}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_GUARD_RESPONSES: dict[str, str] = {
    "401": "Missing or unknown API key",
    "403": "The key lacks the endpoint's scope",
}
_REQUEST_RESPONSES: dict[str, str] = {
    "400": "A query parameter the endpoint does not read or given twice, a path or query "
    "string that is not UTF-8 once percent-decoded, or a body that is empty or not UTF-8 JSON "
    "(`detail` locates it at `body`)",
}
_BODY_RESPONSES: dict[str, str] = {
    "413": "Request body over the size limit of {max_body_bytes:,} bytes",
    "415": "Content type is not JSON, its charset is not UTF-8, or the body is compressed "
    "(Content-Encoding)",
}
_NOT_ALLOWED = "Any other method on this path: `Allow` names the ones it takes"
_OUTAGE = "The warnings store did not answer: nothing was done; retry after `Retry-After` seconds"
#: `/readyz`'s refusal (`ServiceNotReady`), the `error` of its 503.
NOT_READY_MESSAGE = (
    "not ready: the warnings store cannot record a request now (it does not answer, or another "
    "process holds its write lock); send requests to another instance, or retry later"
)
_REF = "#/components/schemas/{model}"
#: The score routes' tag, for BentoML's "Service APIs" (a client generator's module name).
SCORE_TAG = "score"
#: FastAPI's schema of a 422, which the mounted `/v1` app documents for its routes.
_INVALID_INPUT = "HTTPValidationError"


def document_guard(spec: dict[str, Any]) -> dict[str, Any]:
    """Make `/docs.json` say what the service really answers.

    BentoML declares OpenAPI 3.0.2 over JSON Schema 2020-12 schemas, fills `info` with its own
    boilerplate, documents its 400 body's `detail` as a string while sending pydantic's error
    list, knows nothing of the guard's 400/401/403/405/413/415/503 or the bearer scheme,
    flattens the score request so that the "exactly one of `records` or `entity_ids`" rule is
    lost, and documents a 400 and a 404 of its own for the score body with another shape than
    riskloop's; FastAPI's 422 schema lacks the `error` sentence riskloop's handler sends. A
    client (or a schemathesis run, or a code generator) reading the document would be misled
    on every error.
    """
    max_body_bytes = get_settings().max_body_bytes
    spec["openapi"] = OPENAPI_VERSION
    spec["info"] = _info(max_body_bytes)
    spec["tags"] = [
        {"name": SCORE_TAG, "description": "The score routes, one per task."},
        {"name": "Infrastructure", "description": "Liveness, readiness and Prometheus metrics."},
    ]
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
        "description": "riskloop API key (`riskloop keys create NAME --scopes ...`) or a "
        "person's session token (`POST /v1/session`)",
    }
    public = {(route.method, route.template) for route in ROUTES if route.action is None}
    for path, item in spec.get("paths", {}).items():
        if not path.startswith("/v1/"):
            _document_infrastructure(item)
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _document_answers(
                operation, method.upper(), path, (method.upper(), path) in public, max_body_bytes
            )
    _document_readiness(spec)
    _document_score_requests(spec, max_body_bytes)
    _document_links(spec)
    _as_openapi_30(spec)
    return spec


def _as_openapi_30(node: Any) -> None:
    """pydantic's and FastAPI's JSON Schema 2020-12 spelt as OpenAPI 3.0 spells it, in place:
    `anyOf: [T, {type: null}]` as `T` with `nullable: true` (each branch nullable when there
    are several; a `$ref`, which takes no sibling in 3.0, under `allOf`). Examples are data,
    not schemas: left as they are."""
    if isinstance(node, list):
        for item in node:
            _as_openapi_30(item)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key not in ("example", "examples"):
            _as_openapi_30(value)
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list) and _NULL in branches:
            kept: list[dict[str, Any]] = [
                {"allOf": [branch], "nullable": True}
                if "$ref" in branch
                else {**branch, "nullable": True}
                for branch in branches
                if branch != _NULL
            ]
            for branch in kept:
                enum = branch.get("enum")
                if isinstance(enum, list) and None not in enum:
                    # 3.0 checks `enum` beside `nullable`: a null the enum lacks is refused
                    branch["enum"] = [*enum, None]
            del node[key]
            if len(kept) == 1:
                node.update(kept[0])
            else:
                node[key] = kept


def _info(max_body_bytes: int) -> dict[str, Any]:
    """Which riskloop this is (the installed package's name, version and summary) and what a
    client must know before its first call, in place of BentoML's boilerplate."""
    package = metadata("riskloop")
    tasks = "\n".join(f"- `{task.name}`: each {task.unit}, {task.label}" for task in TASKS.values())
    return {
        "title": package["Name"],
        "version": package["Version"],
        "description": f"""\
{package["Summary"]}

`POST /v1/<task>/score` scores units of a task: a calibrated probability, a risk level, the
reasons (TreeSHAP contributions in words) and the actions a department can take; a score of
`yellow` and above raises a warning that the `/v1/warnings` routes review and close.

{tasks}

Every `/v1/` route but `POST /v1/session` takes `Authorization: Bearer <API key or session
token>`; the key's scopes decide what it may call (403 names the rule). Bodies are UTF-8 JSON,
uncompressed, at most {max_body_bytes:,} bytes (413 beyond); a score request sends at most
{schemas.MAX_RECORDS:,} records or entity ids. Every error answer is JSON with an `error`
sentence (`ErrorResponse`; invalid input adds each field's location and problem in `detail`).
`GET /v1/models` names the model version serving each task.""",
    }


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


def _error(description: str, **extra: Any) -> dict[str, Any]:
    """A documented answer in riskloop's error shape (`ErrorResponse`)."""
    content: dict[str, Any] = {"schema": {"$ref": _REF.format(model="ErrorResponse")}}
    if "example" in extra:
        content["example"] = extra.pop("example")
    return {"description": description, "content": {"application/json": content}, **extra}


def _retry_after(required: bool) -> dict[str, Any]:
    return {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": required,
            "schema": {"type": "integer", "minimum": 1},
        }
    }


def _document_answers(
    operation: dict[str, Any], method: str, path: str, public: bool, max_body_bytes: int
) -> None:
    """The security scheme, the query parameters and the guard's own answers of one operation:
    its refusals, the 405 of another method on the path (`Allow` as the guard sends it, from
    the routing table) and the 503 of a warnings store that does not answer."""
    operation["security"] = [] if public else [{"bearer": []}]
    for parameter in operation.get("parameters", ()):
        _absent_not_null(parameter)
    extra = dict(_REQUEST_RESPONSES) if public else {**_GUARD_RESPONSES, **_REQUEST_RESPONSES}
    if method in BODY_METHODS:
        extra.update(
            (status, text.format(max_body_bytes=max_body_bytes))
            for status, text in _BODY_RESPONSES.items()
        )
    answers = operation["responses"]
    for status, description in extra.items():
        answers.setdefault(status, _error(description))
    # no route has an empty method: `find` then names every method the path allows
    allowed = ", ".join(find("", path)[2])
    answers.setdefault("405", _error(_NOT_ALLOWED, headers=_allow_header(allowed)))
    answers.setdefault(
        "503", _error(_OUTAGE, headers=_retry_after(True), example={"error": OUTAGE_MESSAGE})
    )


def _allow_header(allowed: str) -> dict[str, Any]:
    return {
        "Allow": {
            "description": "The methods this path takes.",
            "required": True,
            "schema": {"type": "string", "enum": [allowed]},
        }
    }


def _document_infrastructure(item: dict[str, Any]) -> None:
    """BentoML's own routes (`/healthz`, `/livez`, `/readyz`, `/metrics`) take GET and HEAD;
    any other method is a 405 with `Allow`, in the error shape (`serving.guard.JsonErrors`)."""
    methods = [method.upper() for method, operation in item.items() if isinstance(operation, dict)]
    allowed = ", ".join(sorted({*methods, *(["HEAD"] if "GET" in methods else [])}))
    for operation in item.values():
        if isinstance(operation, dict) and "responses" in operation:
            operation["responses"].setdefault(
                "405", _error(_NOT_ALLOWED, headers=_allow_header(allowed))
            )


def _document_readiness(spec: dict[str, Any]) -> None:
    """`/readyz`'s 503 (`ServiceNotReady`), which BentoML's document of the route leaves out."""
    readiness = spec.get("paths", {}).get("/readyz", {}).get("get")
    if readiness is None:
        return
    readiness["responses"].setdefault(
        "503",
        _error(
            "Not ready: the warnings store cannot record a request (it does not answer, or "
            "another process holds SQLite's write lock), so a load balancer sends requests "
            "elsewhere; ready again by itself once the store can record",
            example={"error": NOT_READY_MESSAGE},
        ),
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


def _document_score_requests(spec: dict[str, Any], max_body_bytes: int) -> None:
    """Each score route's request body (the strict pydantic model, one-of rule included, with
    an example by records that scores and one by entity ids that shows the shape), its result (`ScoreResponse`) and its refusals in riskloop's error
    shape: a 400 (`serving.score_routes.ScoreInput`), not BentoML's own, and the 404 and 503
    of `entity_ids` the online store lacks or cannot read."""
    components = spec["components"]["schemas"]
    response = schemas.ScoreResponse.model_json_schema(ref_template=_REF)
    components.update(response.pop("$defs", {}))
    components["ScoreResponse"] = response
    components.pop("ScoreResponseIODescriptor", None)
    for task in TASKS.values():
        operation = spec.get("paths", {}).get(f"/v1/{task.name}/score", {}).get("post")
        if operation is None:
            continue
        # BentoML keys its answers by number, the rest of the document by text ("400" twice)
        answers = {str(status): answer for status, answer in operation["responses"].items()}
        answers["200"]["content"] = {
            "application/json": {"schema": {"$ref": _REF.format(model="ScoreResponse")}}
        }
        answers["400"] = _error(
            "A body that fails validation (each field's location and problem in `detail`) or "
            "is not UTF-8 JSON, or a query parameter the endpoint does not read or given twice"
        )
        answers["404"] = _error(
            "Some `entity_ids` have no materialised features: `error` counts them and names "
            "the first five",
            example={"error": str(EntityNotMaterialized(task.slug, ["example-0002"]))},
        )
        answers["503"] = _error(
            f"{_OUTAGE} (`Retry-After` set); or, for `entity_ids`, the task's materialised "
            "features cannot be read until the operator materialises them again",
            headers=_retry_after(False),
            example={"error": OUTAGE_MESSAGE},
        )
        operation["responses"] = answers
        operation["tags"] = [SCORE_TAG]
        model = schemas.score_request_model(task.slug)
        schema = {**model.model_json_schema(ref_template=_REF), **schemas.EXACTLY_ONE_SOURCE}
        components.update(schema.pop("$defs", {}))
        components.pop(f"{model.__name__}IODescriptor", None)
        components[model.__name__] = schema
        operation["requestBody"] = {
            "required": True,
            "description": f"Exactly one of `records` or `entity_ids` (the other absent or "
            f"null), at most {schemas.MAX_RECORDS:,} of them; the body at most "
            f"{max_body_bytes:,} bytes of JSON.",
            "content": {
                "application/json": {
                    "schema": {"$ref": _REF.format(model=model.__name__)},
                    "examples": _score_examples(task),
                }
            },
        }


def _score_examples(task: Task) -> dict[str, Any]:
    """A score request by records, made from the task's catalog so it validates and scores,
    and one by entity ids that shows the shape only: its placeholder ids are not materialised
    (404). Entity ids identify people, so real ones never go into the document."""
    record: dict[str, Any] = {"entity_id": "example-0001", "district": "wuxing"}
    record.update((feature.name, _example_value(feature)) for feature in CATALOG[task.slug])
    return {
        "records": {
            "summary": f"One {task.entity_kind}'s features, sent in the request: it scores",
            "value": {"records": [record], "explain": True, "top_k": 3, "lang": "en"},
        },
        "entity_ids": {
            "summary": f"{task.entity_kind.capitalize()}s by id, their latest materialised "
            "features (the shape only: these ids answer 404)",
            "description": "Scores ids whose features `riskloop run` or `riskloop materialize` "
            "put in the online store; the placeholder ids here are not among them, so this "
            "request answers the documented 404. Entity ids identify people: the document "
            "carries none.",
            "value": {"entity_ids": ["example-0001", "example-0002"], "explain": False},
        },
    }


def _example_value(feature: FeatureDef) -> Any:
    """A value the catalog allows: the first category, false, or 0 moved into the range."""
    if feature.dtype == "category":
        return feature.categories[0]
    if feature.dtype == "bool":
        return False
    value = 0.0
    if feature.min_value is not None:
        value = max(value, feature.min_value)
    if feature.max_value is not None:
        value = min(value, feature.max_value)
    return int(value) if feature.dtype == "int" else value


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


class ServiceNotReady(Exception):
    """Raised by the service's readiness check (`__is_ready__`) in place of returning False:
    BentoML's `/readyz` route lets it through, and `RiskloopBentoService`'s app answers it as
    a 503 in the error shape (`NOT_READY_MESSAGE`), not BentoML's plain-text sentence."""


async def _not_ready(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse({"error": NOT_READY_MESSAGE}, status_code=503)


class RiskloopBentoService(bentoml.Service):  # type: ignore[type-arg]
    """BentoML's service object with an OpenAPI document that matches the guard's answers,
    its own 404 and 405 in the error shape (`serving.guard.JsonErrors`), `/readyz`'s 503 too
    (`ServiceNotReady`), request metrics labelled by route (`serving.traffic_metrics`) and
    tracing only when an exporter is configured (`serving.tracing`)."""

    def to_asgi(self, is_main: bool = True) -> Any:
        app = label_metrics_by_route(super().to_asgi(is_main))
        app.user_middleware.insert(0, Middleware(JsonErrors))  # outermost: it sees every answer
        app.add_exception_handler(ServiceNotReady, _not_ready)
        return without_idle_tracing(app, configured_exporter())

    @property
    def openapi_spec(self) -> Any:
        return _DocumentedSpec(super().openapi_spec)
