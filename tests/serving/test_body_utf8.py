"""A body that is not UTF-8 is refused in the same words on every route, on the served service.

A QA re-check found POST /v1/session, /feedback and /reveal answering bytes that are no UTF-8
text with FastAPI's bare `{"error": "There was an error parsing the body"}` (no `detail`), while
the score routes and the reload said `invalid request: body: Invalid JSON: invalid unicode code
point at line 1 column N`.
"""

from __future__ import annotations

import pytest

from .conftest import Served

SCORE = "/v1/wage-arrears/score"
WARNING = "/v1/warnings/W-" + "0" * 32


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/v1/session", b'{"name":"wang","password":"caf\xe9"}'),
        (f"{WARNING}/feedback", b'{"status":"dispatched","note":"\xff\xfe"}'),
        (f"{WARNING}/reveal", b'{"purpose":"\xe4\xb8"}'),
    ],
)
def test_a_body_that_is_not_utf8_is_refused_as_the_score_routes_refuse_it(
    served: Served, path: str, content: bytes
) -> None:
    answer = served.post_bytes(path, content)
    scored = served.post_bytes(SCORE, content)
    reloaded = served.post_bytes("/v1/admin/reload", content)
    assert answer.status_code == scored.status_code == reloaded.status_code == 400, (
        answer.text,
        scored.text,
        reloaded.text,
    )
    assert answer.json() == scored.json() == reloaded.json(), (answer.text, scored.text)
    words = "Invalid JSON: invalid unicode code point at line 1 column"
    assert answer.json()["error"].startswith(f"invalid request: body: {words} "), answer.text
    [error] = answer.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"] == ["body"], answer.text
    assert error["msg"].startswith(words), answer.text
