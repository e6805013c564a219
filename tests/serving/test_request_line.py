"""What a URL sends is checked before it is read or echoed.

A QA run found bytes that are not UTF-8 accepted as U+FFFD (`GET /v1/warnings/%ff%fe` -> 404
"no warning '��'", `?entity_id=%ff%fe` -> 200 and an empty list, as if filtered by it), and a
5,000-character warning id echoed whole in its 404. Now such a path or query is a 400 saying
so, and a warning id that is not `W-` and 32 hex digits is a 404 repeating only its escaped
start.
"""

from __future__ import annotations

import pytest

from .conftest import Served


@pytest.mark.parametrize(
    "url", ["/v1/warnings/%ff%fe", "/v1/warnings?entity_id=%ff%fe", "/v1/nowhere/%c3%28"]
)
def test_a_url_that_is_not_utf8_is_refused(served: Served, url: str) -> None:
    with served.client() as client:
        answer = client.get(url, headers=served.headers())
    assert answer.status_code == 400, answer.text
    assert "not UTF-8" in answer.json()["error"], answer.text
    assert "\ufffd" not in answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/warnings/W-" + "a" * 5000,
        "/v1/warnings/" + "x" * 5000 + "/feedback",
        "/v1/nowhere/" + "y" * 5000,
    ],
)
def test_a_long_path_is_not_echoed_whole(served: Served, path: str) -> None:
    with served.client() as client:
        if path.endswith("/feedback"):
            answer = client.post(path, json={"status": "in_progress"}, headers=served.headers())
        else:
            answer = client.get(path, headers=served.headers())
    assert answer.status_code == 404, answer.text
    assert len(answer.json()["error"]) < 200, answer.text


def test_an_ill_formed_warning_id_is_a_404_naming_the_shape(served: Served) -> None:
    with served.client() as client:
        answer = client.get("/v1/warnings/W-nothing", headers=served.headers())
        well_formed = client.get("/v1/warnings/W-" + "0" * 32, headers=served.headers())
    assert answer.status_code == well_formed.status_code == 404
    assert answer.json()["error"] == (
        "no warning 'W-nothing': a warning id is 'W-' and 32 hexadecimal digits"
    )
    assert well_formed.json()["error"] == f"no warning 'W-{'0' * 32}'"
