"""The OpenAPI document at `/docs.json`, made to say what the guard and the routes answer."""

from __future__ import annotations

import logging
from typing import Any

import bentoml

from serving import schemas

logger = logging.getLogger("riskloop.serving")

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_GUARD_RESPONSES: dict[str, str] = {
    "401": "Missing or unknown API key",
    "403": "The key lacks the endpoint's scope",
}
_BODY_RESPONSES: dict[str, str] = {
    "413": "Request body over the size limit",
    "415": "Content type is not JSON",
}


def document_guard(spec: dict[str, Any]) -> dict[str, Any]:
    """Make `/docs.json` say what the service really answers.

    BentoML documents its 400 body's `detail` as a string while sending pydantic's error list,
    and knows nothing of the guard's 401/403/413/415 or the bearer scheme; a client (or a
    schemathesis run) reading the document would be misled on every error.
    """
    schemas_section = spec.setdefault("components", {}).setdefault("schemas", {})
    error_schema = schemas.ErrorResponse.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    schemas_section["ErrorResponse"] = error_schema
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        if name in schemas_section:
            schemas_section[name].setdefault("properties", {})["detail"] = {
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
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, item in spec.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["security"] = [{"bearer": []}]
            extra = dict(_GUARD_RESPONSES)
            if method.upper() in BODY_METHODS:
                extra.update(_BODY_RESPONSES)
            for status, description in extra.items():
                operation["responses"].setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": error_ref}},
                    },
                )
    return spec


class _DocumentedSpec:
    """BentoML's OpenAPI object, with `document_guard` applied when it is rendered."""

    def __init__(self, spec: Any) -> None:
        self._spec = spec

    def asdict(self) -> dict[str, Any]:
        return document_guard(self._spec.asdict())


class RiskloopBentoService(bentoml.Service):  # type: ignore[type-arg]
    """BentoML's service object with an OpenAPI document that matches the guard's answers."""

    @property
    def openapi_spec(self) -> Any:
        return _DocumentedSpec(super().openapi_spec)
