"""The API's text filters: an empty one is refused, white space around one is trimmed.

`?entity_id=`, `?department=`, `?actor=` and `?warning_id=` answered 200 and nothing found
(every other empty filter was a 422): an integrating system whose template sent an empty
parameter read "no warnings". A padded `?entity_id=%20ID%20` found nothing either, while a
dispatch took a padded department. Every text filter now trims alike, an empty (or blank) one
is a 422 naming it, and so is an empty cursor, said to be empty.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.processes import LOOPBACK_TLS

from .conftest import Served
from .test_service import as_records, materialized

TEXT_FILTERS = [
    ("/v1/warnings", "entity_id"),
    ("/v1/warnings", "department"),
    ("/v1/audit", "actor"),
    ("/v1/audit", "warning_id"),
]
PADDING = " \t\u3000"  # a space, a tab and an ideographic space, as templates and IMEs pad


@pytest.fixture(scope="module")
def document(served: Served) -> dict:
    return httpx.get(f"{served.url}/docs.json", timeout=30, verify=LOOPBACK_TLS).json()


def _raised(served: Served, client: httpx.Client, prefix: str) -> tuple[str, str]:
    """(the raw entity id, the warning id) of one warning raised for units of this test's own."""
    task = "dispute-escalation"
    records = as_records(task, materialized(served, task).head(100))
    for i, record in enumerate(records):
        record["entity_id"] = f"{prefix}-{i}"
    scored = client.post(
        f"/v1/{task}/score", json={"records": records}, headers=served.headers("every")
    )
    assert scored.status_code == 200, scored.text
    hit = next(r for r in scored.json()["results"] if r["warning_id"])
    return hit["entity_id"], hit["warning_id"]


def _refusal(answer: httpx.Response, parameter: str) -> str:
    """The 422's sentence, after checking it names `parameter` alone."""
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert [error["loc"] for error in body["detail"]] == [["query", parameter]], body
    return str(body["error"])


@pytest.mark.parametrize(("path", "parameter"), TEXT_FILTERS)
@pytest.mark.parametrize("value", ["", "   ", PADDING])
def test_an_empty_text_filter_is_refused_naming_it(
    served: Served, document: dict, path: str, parameter: str, value: str
) -> None:
    with served.client() as client:
        answer = client.get(path, params={parameter: value}, headers=served.headers("every"))
    error = _refusal(answer, parameter)
    assert parameter in error and "empty" in error, error
    (documented,) = (
        p for p in document["paths"][path]["get"]["parameters"] if p["name"] == parameter
    )
    pattern = documented["schema"]["pattern"]  # the document says so too
    assert not re.search(pattern, value)
    assert re.search(pattern, f"{PADDING}W-1a2b 中文{PADDING}")


def test_white_space_around_a_text_filter_is_trimmed(served: Served) -> None:
    headers = served.headers("every")
    with served.client() as client:
        entity_id, warning_id = _raised(served, client, "padded-filter")

        def listed(**params: str) -> list[str]:
            answer = client.get("/v1/warnings", params=params, headers=headers)
            assert answer.status_code == 200, answer.text
            return [item["id"] for item in answer.json()["items"]]

        assert listed(entity_id=entity_id) == [warning_id]
        assert listed(entity_id=f"{PADDING}{entity_id}{PADDING}") == [warning_id]

        # an outside body's name is stored trimmed, and found trimmed or padded
        outside = "Harbour legal aid centre"
        dispatched = client.post(
            f"/v1/warnings/{warning_id}/feedback",
            json={"status": "dispatched", "department": f"  {outside} "},
            headers=headers,
        )
        assert dispatched.status_code == 200, dispatched.text
        assert dispatched.json()["department"] == outside
        assert listed(department=outside) == [warning_id]
        assert listed(department=f"{PADDING}{outside}{PADDING}") == [warning_id]

        # the audit log's filters: the same rows (and the first read's own), the padded read
        # audited under the trimmed id, so it is part of the case's story too
        story = client.get("/v1/audit", params={"warning_id": warning_id}, headers=headers)
        padded = client.get(
            "/v1/audit", params={"warning_id": f"{PADDING}{warning_id} "}, headers=headers
        )
        after = client.get("/v1/audit", params={"warning_id": warning_id}, headers=headers)
        assert story.status_code == padded.status_code == after.status_code == 200, padded.text
        rows = story.json()["items"]
        assert rows[0]["action"] == "warning_raised"
        assert padded.json()["items"][:-1] == rows
        assert after.json()["items"][:-1] == padded.json()["items"]
        assert after.json()["items"][-1]["detail"] == {
            "warning_id": warning_id,
            "rows": len(rows) + 1,
            "channel": "api",
        }
        by_name = client.get("/v1/audit", params={"actor": "key:scorer"}, headers=headers)
        by_padded_name = client.get(
            "/v1/audit", params={"actor": f"{PADDING}key:scorer "}, headers=headers
        )
    assert by_padded_name.status_code == 200, by_padded_name.text
    assert by_padded_name.json() == by_name.json()


@pytest.mark.parametrize(
    ("cursor", "words"),
    [("", "is empty"), ("  ", "is empty"), ("begin", "is not a cursor"), ("1.", "is not a cursor")],
)
def test_a_cursor_that_is_none_says_what_is_wrong(served: Served, cursor: str, words: str) -> None:
    """An empty cursor was said to hold "characters this field does not take"."""
    with served.client() as client:
        answer = client.get(
            "/v1/warnings", params={"cursor": cursor}, headers=served.headers("every")
        )
    error = _refusal(answer, "cursor")
    assert words in error and "characters this field does not take" not in error, error
