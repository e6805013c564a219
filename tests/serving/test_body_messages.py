"""A malformed body is refused for what is wrong with it.

A QA run found an empty body on a score route answered "send exactly one of 'records' or
'entity_ids'" (BentoML read it as `{}`), a body with a byte order mark located at
`["body", 0]`, and `Content-Type: application/json; charset=utf-16` (or latin-1) accepted and
the bytes read as UTF-8.
"""

from __future__ import annotations

import json

import pytest

from .conftest import Served

SCORE = "/v1/wage-arrears/score"
FEEDBACK = "/v1/warnings/W-" + "0" * 32 + "/feedback"


@pytest.mark.parametrize("content", [b"", b"  \n"])
def test_an_empty_score_body_is_said_to_be_empty(served: Served, content: bytes) -> None:
    with served.client() as client:
        answer = client.post(
            SCORE, content=content, headers={**served.headers(), "Content-Type": "application/json"}
        )
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert "the body is empty" in body["error"] and "exactly one" not in body["error"], body
    assert [error["loc"] for error in body["detail"]] == [["body"]], body


def test_a_byte_order_mark_is_located_at_the_body(served: Served) -> None:
    with served.client() as client:
        answer = client.post(
            SCORE,
            content=b"\xef\xbb\xbf" + json.dumps({"entity_ids": ["x"]}).encode(),
            headers={**served.headers(), "Content-Type": "application/json"},
        )
    assert answer.status_code == 400, answer.text
    assert [error["loc"] for error in answer.json()["detail"]] == [["body"]], answer.text


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [("utf-16", "utf-16"), ("latin-1", "latin-1"), ('"UTF-16LE"', "utf-16-le")],
)
@pytest.mark.parametrize("path", [SCORE, FEEDBACK])
def test_a_charset_other_than_utf8_is_a_415(
    served: Served, path: str, charset: str, encoding: str
) -> None:
    body = json.dumps({"records": [{"entity_id": "Müller"}]}, ensure_ascii=False)
    headers = {**served.headers("every"), "Content-Type": f"application/json; charset={charset}"}
    with served.client() as client:
        answer = client.post(path, content=body.encode(encoding), headers=headers)
    assert answer.status_code == 415, answer.text
    error = answer.json()["error"]
    assert "charset" in error and "UTF-8" in error, error


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8"])
def test_utf8_named_as_the_charset_is_read(served: Served, charset: str) -> None:
    headers = {**served.headers(), "Content-Type": f"application/json; charset={charset}"}
    body = {"records": [{"entity_id": "E-charset", "si_arrears_months_3m": 1}]}
    with served.client() as client:
        answer = client.post(SCORE, content=json.dumps(body).encode(), headers=headers)
    assert answer.status_code == 200, answer.text
