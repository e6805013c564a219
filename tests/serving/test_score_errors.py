"""A score body that fails validation is refused in riskloop's words, with the route's 400.

An outside client's QA run found the score routes answering 400 with BentoML's own message
("1 validation error for WageArrearsScoreRequestIODescriptor", pydantic documentation URLs),
while every other route words it `{"error": "invalid request: body.x: ...", "detail": [...]}`;
and BentoML logged each such client mistake at ERROR with "Exception on ..." and a traceback,
noise in the operators' log. The status stays the 400 score clients have always had.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.processes import LOOPBACK_TLS

from .conftest import TASKS, Served

SCORE = "/v1/wage-arrears/score"
#: What no refusal may carry: an internal class name, pydantic's links, a stack trace.
LEAKS = ("IODescriptor", "errors.pydantic.dev", "Traceback", "validation error for")


def _records(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"entity_id": f"E{i}", **extra} for i in range(n)]


#: (case, body, the field path the answer must name, the words it must say about it)
BAD_BODIES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "wrong type",
        {"records": _records(1, si_arrears_months_3m="lots")},
        "records.0.si_arrears_months_3m",
        "valid integer",
    ),
    (
        "missing required field",
        {"records": [{"entity_id": "E0"}, {"si_arrears_months_3m": 1}]},
        "records.1.entity_id",
        "Field required",
    ),
    (
        "unknown field",
        {"records": _records(1, shoe_size=42)},
        "records.0.shoe_size",
        "Extra inputs are not permitted",
    ),
    ("too many records", {"records": _records(1001)}, "records", "at most 1000"),
    ("top_k out of range", {"records": _records(1), "top_k": 21}, "top_k", "less than or equal"),
    ("both sources", {"records": _records(1), "entity_ids": ["E0"]}, "body", "exactly one"),
]


def _post(client: httpx.Client, served: Served, body: Any) -> httpx.Response:
    return client.post(SCORE, json=body, headers=served.headers())


def _assert_riskloop_refusal(answer: httpx.Response, status: int) -> dict[str, Any]:
    """`ErrorResponse`'s shape: an `error` sentence and a `detail` list of type/loc/msg."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    for leak in LEAKS:
        assert leak not in answer.text, (leak, answer.text)
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"].startswith("invalid request: ")
    assert body["detail"] and all(set(e) == {"type", "loc", "msg"} for e in body["detail"])
    assert all(e["loc"][0] == "body" for e in body["detail"]), body
    return body


@pytest.mark.parametrize(
    ("case", "body", "path", "words"), BAD_BODIES, ids=[case for case, *_ in BAD_BODIES]
)
def test_a_bad_score_body_is_a_400_naming_the_field_in_plain_words(
    served: Served, case: str, body: dict[str, Any], path: str, words: str
) -> None:
    with served.client() as client:
        answer = _post(client, served, body)
    refusal = _assert_riskloop_refusal(answer, 400)
    located = [".".join(map(str, e["loc"])) for e in refusal["detail"]]
    expected = "body" if path == "body" else f"body.{path}"
    assert expected in located, located
    assert f"{expected}: " in refusal["error"] and words in refusal["error"], refusal
    assert "lots" not in answer.text  # the value sent is not echoed back


def test_score_and_feedback_refusals_share_their_shape(served: Served) -> None:
    """The same kind of mistake (a wrong type) on a score route and on a FastAPI route: the
    same words and field list (the score route keeps its 400, the others their 422)."""
    with served.client() as client:
        scored = _post(client, served, {"records": _records(1, si_arrears_months_3m="lots")})
        feedback = client.post(
            "/v1/warnings/W-none/feedback",
            json={"status": "open", "expected_version": "lots"},
            headers=served.headers("every"),
        )
    assert (scored.status_code, feedback.status_code) == (400, 422), (scored.text, feedback.text)
    score_body, feedback_body = scored.json(), feedback.json()
    assert set(score_body) == set(feedback_body) == {"error", "detail"}
    assert [set(e) for e in score_body["detail"]] == [set(e) for e in feedback_body["detail"]]
    assert feedback_body["error"].startswith("invalid request: body.")
    assert score_body["error"].startswith("invalid request: body.")


@pytest.mark.parametrize(
    "raw", [b'{"records":[{"entity_id":"a"}', b"not json at all", b"\xff\xfe{}"]
)
def test_a_body_that_is_not_json_keeps_its_400_in_riskloops_shape(
    served: Served, raw: bytes
) -> None:
    with served.client() as client:
        answer = client.post(
            SCORE, content=raw, headers={**served.headers(), "Content-Type": "application/json"}
        )
    refusal = _assert_riskloop_refusal(answer, 400)
    assert "JSON" in refusal["error"], refusal


def _log_from(served: Served, offset: int) -> str:
    with open(served.log, "rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", "replace")


def test_refused_score_bodies_leave_no_error_in_the_server_log(served: Served) -> None:
    """A client's mistake is not the operator's: no ERROR line, no traceback, no value sent
    (an identity-card number with a stray space stays out of the log as it did before); one
    WARNING line names the field and the error."""
    id_card = "330102199001017788"
    start = served.log.stat().st_size
    with served.client() as client:
        for body in [*(body for _case, body, *_ in BAD_BODIES), {"records": _records(0)}]:
            assert _post(client, served, body).is_client_error
        assert _post(client, served, {"records": [{"entity_id": f"{id_card} "}]}).is_client_error
        broken = client.post(
            SCORE, content=b"{", headers={**served.headers(), "Content-Type": "application/json"}
        )
        assert broken.is_client_error
        # BentoML wrote its ERROR line before answering; a moment more for the log's pipe
        deadline = time.monotonic() + 3
        while "Exception on" not in _log_from(served, start) and time.monotonic() < deadline:
            time.sleep(0.2)
        good = _post(client, served, {"records": _records(1, si_arrears_months_3m=1)})
    assert good.status_code == 200, good.text
    assert [r["entity_id"] for r in good.json()["results"]] == ["E0"]
    written = _log_from(served, start)
    assert "Exception on" not in written and "[ERROR]" not in written, written[-3000:]
    assert "Traceback" not in written and id_card not in written
    assert "records.0.si_arrears_months_3m [int_type]" in written, written[-3000:]


def test_the_document_says_a_score_body_is_refused_with_riskloops_error_shape(
    served: Served,
) -> None:
    """`/docs.json` said a score body's mistakes are a 400 of BentoML's `InvalidArgument`,
    another shape than the code now sends (a generated client, or schemathesis's checks,
    would hold it against it)."""
    document = httpx.get(f"{served.url}/docs.json", timeout=30, verify=LOOPBACK_TLS).json()
    feedback = document["paths"]["/v1/warnings/{warning_id}/feedback"]["post"]["responses"]
    for task in TASKS:
        responses = document["paths"][f"/v1/{task}/score"]["post"]["responses"]
        assert "InvalidArgument" not in str(responses["400"]), task
        assert "fails validation" in responses["400"]["description"], task
        schema = responses["400"]["content"]["application/json"]["schema"]
        assert schema == feedback["400"]["content"]["application/json"]["schema"], task
    reference = feedback["422"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert {"error", "detail"} <= set(schema["properties"]) and "error" in schema["required"]
    error = document["components"]["schemas"]["ErrorResponse"]
    assert {"error", "detail"} <= set(error["properties"])
