"""The document and the answers agree where a QA run found them apart.

BentoML's `/healthz`, `/livez`, `/readyz` and `/metrics` answered POST with a plain-text 405
while the document listed only their 200; nullable enums (`WarningPublic.outcome`,
`FeedbackCreate.outcome`) were `{"enum": [...], "nullable": true}` without null in the enum,
so a strict OpenAPI 3.0 validator refused every open warning (outcome null); `/docs` and
`/V1/warnings` answered a plain-text "Not Found" where `/v1/` answers JSON.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator

from tests.processes import LOOPBACK_TLS

from .conftest import Served
from .test_service import score, warned_records

INFRASTRUCTURE = ("/healthz", "/livez", "/readyz", "/metrics")


@pytest.fixture(scope="module")
def document(served: Served) -> dict[str, Any]:
    return httpx.get(f"{served.url}/docs.json", timeout=30, verify=LOOPBACK_TLS).json()


def _validator(document: dict[str, Any], model: str) -> OAS30Validator:
    schema = {"$ref": f"#/components/schemas/{model}", "components": document["components"]}
    return OAS30Validator(schema)


@pytest.mark.parametrize("path", INFRASTRUCTURE)
def test_another_method_on_an_infrastructure_route_is_the_documented_405(
    served: Served, document: dict[str, Any], path: str
) -> None:
    answer = httpx.post(f"{served.url}{path}", timeout=30, verify=LOOPBACK_TLS)
    assert answer.status_code == 405, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"error": f"POST is not allowed on {path}"}
    documented = document["paths"][path]["get"]["responses"]["405"]
    assert documented["headers"]["Allow"]["schema"]["enum"] == [answer.headers["allow"]]


def test_a_warning_with_a_null_outcome_is_valid_by_the_document(
    served: Served, document: dict[str, Any]
) -> None:
    record = warned_records(served, "wage-arrears", "null-outcome", 1)
    warning_id = score(served, "wage-arrears", {"records": record}).json()["results"][0][
        "warning_id"
    ]
    with served.client() as client:
        warning = client.get(f"/v1/warnings/{warning_id}", headers=served.headers()).json()
    assert warning["outcome"] is None
    _validator(document, "WarningPublic").validate(warning)
    _validator(document, "FeedbackCreate").validate({"status": "in_progress", "outcome": None})
    outcome = document["components"]["schemas"]["WarningPublic"]["properties"]["outcome"]
    assert outcome["nullable"] is True and None in outcome["enum"], outcome


@pytest.mark.parametrize("path", ["/docs", "/V1/warnings", "/nothing/" + "x" * 5000])
def test_an_unknown_path_outside_v1_is_a_json_404(served: Served, path: str) -> None:
    answer = httpx.get(f"{served.url}{path}", timeout=30, verify=LOOPBACK_TLS)
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error.startswith("no such endpoint: ") and len(error) < 200, error
