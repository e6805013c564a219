"""`/docs.json` as an outside client team reads it: a valid OpenAPI 3.0 document naming the
riskloop build, whose examples score and whose errors are the ones the routes send.

An integration programmer found the document declared OpenAPI 3.0.2 over JSON Schema 2020-12
(`openapi-spec-validator` refused it), its score requests unreadable to
`openapi-python-client` (a client without the score routes), BentoML's boilerplate as `info`,
no example or body limit, and the score routes' 404/405/503 missing or in another shape.
`openapi-python-client` itself cannot share the project's environment (it pins older `typer`
and `httpx`); the client it generates from this document was checked by hand against a real
server, and `test_no_schema_mixes_properties_with_a_union` keeps the shape it failed on out.
"""

from __future__ import annotations

import copy
import json
from importlib.metadata import version
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from features.tasks import TASK_NAMES, TASKS
from models.settings import get_settings
from serving.schemas import MAX_RECORDS
from tests.processes import LOOPBACK_TLS

from .conftest import Served


@pytest.fixture(scope="module")
def document(served: Served) -> dict[str, Any]:
    return httpx.get(f"{served.url}/docs.json", timeout=30, verify=LOOPBACK_TLS).json()


def _request_validator(document: dict[str, Any], task: str) -> OAS30Validator:
    """An OpenAPI 3.0 schema validator of `task`'s published score request, refs resolved in
    the document (a strict client-side check, as a generated client or a gateway makes it)."""
    operation = document["paths"][f"/v1/{task}/score"]["post"]
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return OAS30Validator({"$ref": reference, "components": document["components"]})


def test_the_document_is_valid_openapi_3_0(document: dict[str, Any]) -> None:
    """It says 3.0.3 and is valid as such: pydantic's `type: null` is spelt `nullable`."""
    assert document["openapi"] == "3.0.3"
    assert '{"type": "null"}' not in json.dumps(document)
    validate(copy.deepcopy(document))


def test_info_names_the_riskloop_build_not_bentoml(document: dict[str, Any]) -> None:
    info = document["info"]
    assert info["title"] == "riskloop"
    assert info["version"] == version("riskloop")
    assert "contact" not in info
    assert "bentoml" not in str(info).lower()
    for task in TASK_NAMES:
        assert f"`{task}`" in info["description"], task
    limit = f"{get_settings().max_body_bytes:,} bytes"
    assert limit in info["description"]
    for task in TASK_NAMES:
        operation = document["paths"][f"/v1/{task}/score"]["post"]
        assert limit in operation["requestBody"]["description"], task
        assert limit in operation["responses"]["413"]["description"], task
        assert f"{MAX_RECORDS:,}" in operation["requestBody"]["description"], task


def test_no_schema_mixes_properties_with_a_union(document: dict[str, Any]) -> None:
    """A `oneOf`/`anyOf` beside `properties` is read by code generators as a union of its
    branches: `openapi-python-client` refused the score requests' bare branches ("Invalid
    property in union") and generated a client without the score routes."""
    for name, schema in document["components"]["schemas"].items():
        if "properties" in schema:
            assert not {"oneOf", "anyOf"} & set(schema), name


@pytest.mark.parametrize("task", TASK_NAMES)
def test_the_score_examples_validate_and_score(
    served: Served, document: dict[str, Any], task: str
) -> None:
    """The records example is schema-valid and scores; the entity-ids one is schema-valid and
    answered 404 in the documented shape (its ids are not materialised)."""
    operation = document["paths"][f"/v1/{task}/score"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    validator = _request_validator(document, task)
    with served.client() as client:
        by_records = examples["records"]["value"]
        validator.validate(by_records)
        scored = client.post(f"/v1/{task}/score", json=by_records, headers=served.headers())
        assert scored.status_code == 200, scored.text
        (result,) = scored.json()["results"]
        assert result["entity_id"] == by_records["records"][0]["entity_id"]
        assert 0.0 <= result["score"] <= 1.0 and result["reasons"]
        by_ids = examples["entity_ids"]["value"]
        validator.validate(by_ids)
        missing = client.post(f"/v1/{task}/score", json=by_ids, headers=served.headers())
    assert missing.status_code == 404, missing.text
    assert set(missing.json()) == {"error"}
    documented = operation["responses"]["404"]["content"]["application/json"]
    assert documented["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    slug = next(spec.slug for spec in TASKS.values() if spec.name == task)
    assert f"have no materialized {slug} features" in documented["example"]["error"]


def test_the_exactly_one_source_rule_matches_the_server(
    served: Served, document: dict[str, Any]
) -> None:
    """Records beside `"entity_ids": null` are valid to a strict validator and scored; both
    sources, or neither, are invalid and refused (400). The old `oneOf` branches both matched
    the first body, so a validator refused what the server scores."""
    task = "wage-arrears"
    validator = _request_validator(document, task)
    record = {"entity_id": "one-source-check"}
    bodies = {
        "records, ids null": ({"records": [record], "entity_ids": None}, True),
        "ids, records null": ({"entity_ids": ["x"], "records": None}, True),
        "both": ({"records": [record], "entity_ids": ["x"]}, False),
        "neither": ({"explain": False}, False),
        "both null": ({"records": None, "entity_ids": None}, False),
        # 3.0's integer, as the strict models read it (2020-12, and so OpenAPI 3.1, took 5.0)
        "integer with a fraction": ({"entity_ids": ["x"], "top_k": 5.0}, False),
    }
    with served.client() as client:
        for name, (body, valid) in bodies.items():
            assert validator.is_valid(body) is valid, name
            answer = client.post(f"/v1/{task}/score", json=body, headers=served.headers())
            expected = {200, 404} if valid else {400}
            assert answer.status_code in expected, (name, answer.text)


def test_every_other_method_is_a_documented_405_with_its_allow(
    served: Served, document: dict[str, Any]
) -> None:
    """Each `/v1/` operation documents the 405 another method gets, with the `Allow` the guard
    really sends on that path (PATCH: no route takes it; `DELETE /v1/session` signs out)."""
    with served.client() as client:
        for path, item in document["paths"].items():
            if not path.startswith("/v1/"):
                continue
            answer = client.patch(
                path.replace("{warning_id}", "W-" + "0" * 32), headers=served.headers("every")
            )
            assert answer.status_code == 405, (path, answer.text)
            assert set(answer.json()) == {"error"}
            for operation in item.values():
                allow = operation["responses"]["405"]["headers"]["Allow"]
                assert allow["required"] is True
                assert allow["schema"]["enum"] == [answer.headers["allow"]], path
    score = document["paths"]["/v1/wage-arrears/score"]["post"]["responses"]["405"]
    assert score["headers"]["Allow"]["schema"]["enum"] == ["POST"]


def test_score_routes_document_their_503(document: dict[str, Any]) -> None:
    """A store outage (with `Retry-After`) or unreadable online features (without): a 503 in
    the error shape on every score route, its `Retry-After` documented but not required."""
    for task in TASK_NAMES:
        answer = document["paths"][f"/v1/{task}/score"]["post"]["responses"]["503"]
        content = answer["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
        assert answer["headers"]["Retry-After"]["required"] is False
        assert "materialised features" in answer["description"]
    listing = document["paths"]["/v1/warnings"]["get"]["responses"]["503"]
    assert listing["headers"]["Retry-After"]["required"] is True
