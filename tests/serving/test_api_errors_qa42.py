"""Refusals an API integrator found unclear or missing (QA 42), on the session's served service.

A body that was not JSON was located at a byte offset on the routes besides scoring
(`body.45: JSON decode error`, as if a field were named "45") and an empty one was a 422
`body: Field required`; the score routes' words are now every route's.
"""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest

from models.settings import get_settings, sqlite_file
from serving.openapi import NOT_READY_MESSAGE
from tests.processes import LOOPBACK_TLS

from .conftest import TASKS, Served

SCORE = "/v1/wage-arrears/score"
WARNING = "/v1/warnings/W-" + "0" * 32


@pytest.mark.parametrize(
    ("path", "content", "words"),
    [
        (
            "/v1/session",
            b'{"name":"lio","password":"x"',
            "EOF while parsing an object at line 1 column 28",
        ),
        (f"{WARNING}/feedback", b"nope", "expected ident at line 1 column 2"),
        (f"{WARNING}/reveal", b'{"purpose": }', "expected value at line 1 column 13"),
        ("/v1/admin/reload", b"{} x", "trailing characters at line 1 column 4"),
    ],
)
def test_a_body_that_is_not_json_is_refused_in_the_score_routes_words(
    served: Served, path: str, content: bytes, words: str
) -> None:
    answer = served.post_bytes(path, content)
    scored = served.post_bytes(SCORE, content)
    assert answer.status_code == scored.status_code == 400, (answer.text, scored.text)
    assert answer.json() == scored.json(), (answer.text, scored.text)
    assert answer.json()["error"] == f"invalid request: body: Invalid JSON: {words}", answer.text
    assert answer.json()["detail"] == [
        {"type": "json_invalid", "loc": ["body"], "msg": f"Invalid JSON: {words}"}
    ]


@pytest.mark.parametrize(
    ("path", "content", "wanted"),
    [
        ("/v1/session", b"", "with 'name' and 'password'"),
        ("/v1/session", b" \n", "with 'name' and 'password'"),
        (f"{WARNING}/feedback", b"", "with 'status'"),
        (f"{WARNING}/reveal", b"\t", "with 'purpose'"),
    ],
)
def test_an_empty_body_is_said_to_be_empty_on_every_route(
    served: Served, path: str, content: bytes, wanted: str
) -> None:
    answer = served.post_bytes(path, content)
    assert answer.status_code == 400, answer.text
    message = f"the body is empty: send a JSON object {wanted}"
    assert answer.json() == {
        "error": f"invalid request: body: {message}",
        "detail": [{"type": "missing", "loc": ["body"], "msg": message}],
    }
    scored = served.post_bytes(SCORE, content)
    assert scored.json()["error"].startswith("invalid request: body: the body is empty: send a")


@pytest.mark.parametrize("given", ["W-zzz", "W-x" + "0" * 32])
def test_an_audit_filter_that_is_no_warning_id_is_refused(served: Served, given: str) -> None:
    """(A start of an id, or an id no warning has, is a 404: tests/serving/test_audit_filters.py.)"""
    with served.client() as client:
        answer = client.get(
            "/v1/audit", params={"warning_id": given}, headers=served.headers("every")
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["query", "warning_id"], answer.text
    assert "'W-' and 32 hexadecimal digits" in answer.json()["error"], answer.text


def test_readiness_refused_is_json_and_documented(served: Served) -> None:
    """`/readyz`'s 503 was BentoML's text/plain sentence and missing from the document."""
    document = httpx.get(f"{served.url}/docs.json", timeout=30).json()
    documented = document["paths"]["/readyz"]["get"]["responses"]["503"]
    assert "warnings store cannot record" in documented["description"], documented
    assert documented["content"]["application/json"]["example"] == {"error": NOT_READY_MESSAGE}
    # held as by a process stopped mid-write, past the grace a recent commit vouches for
    database = sqlite_file(get_settings().store_url)
    assert database is not None
    locker = sqlite3.connect(database, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        time.sleep(1.2)  # serving.store.sqlite.WRITE_LOCK_GRACE_S and a little
        refused = httpx.get(f"{served.url}/readyz", timeout=10, verify=LOOPBACK_TLS)
    finally:
        locker.close()  # its transaction rolled back: the lock let go
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {"error": NOT_READY_MESSAGE}
    deadline = time.monotonic() + 10
    while not served.healthy():
        assert time.monotonic() < deadline, "not ready again after the lock was let go"
        time.sleep(0.2)


def test_the_score_examples_say_which_one_scores(served: Served) -> None:
    """The document said each score route had "an example that scores"; its `entity_ids` one
    answers 404 (placeholder ids: real ones identify people), and now says so."""
    document = httpx.get(f"{served.url}/docs.json", timeout=30).json()
    for task in TASKS:
        operation = document["paths"][f"/v1/{task}/score"]["post"]
        examples = operation["requestBody"]["content"]["application/json"]["examples"]
        assert "it scores" in examples["records"]["summary"], examples["records"]
        by_ids = examples["entity_ids"]
        assert "shape only" in by_ids["summary"] and "404" in by_ids["summary"], by_ids
        assert "riskloop materialize" in by_ids["description"], by_ids
        with served.client() as client:
            answer = client.post(
                f"/v1/{task}/score", json=by_ids["value"], headers=served.headers()
            )
        assert answer.status_code == 404, answer.text
