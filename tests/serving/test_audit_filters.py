"""`GET /v1/audit` as a data-protection inspector found it, over real HTTP.

A warning id no warning has answered 200 `{"items": []}` (a mistyped digit read as "nobody
looked"), the short id the console shows was a 422 though `riskloop audit` takes it, there was
no filter by action nor an end to the window, and a `since` after now answered an empty log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from models.pages import CITY_TIME

from .conftest import Served

TASK = "wage-arrears"
UNKNOWN = "W-" + "0" * 32


@pytest.fixture(scope="module")
def raised(served: Served) -> str:
    """A warning raised by a score request of units no other test scores."""
    from .test_service import as_records, materialized

    records = as_records(TASK, materialized(served, TASK).head(50))
    for i, record in enumerate(records):
        record["entity_id"] = f"audit-filters-{i}"
    with served.client() as client:
        scored = client.post(
            f"/v1/{TASK}/score", json={"records": records}, headers=served.headers("every")
        )
    assert scored.status_code == 200, scored.text
    return str(next(r["warning_id"] for r in scored.json()["results"] if r["warning_id"]))


def _read(served: Served, **params: Any) -> httpx.Response:
    with served.client() as client:
        return client.get("/v1/audit", params=params, headers=served.headers("every"))


def _actions(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [row["action"] for row in answer.json()["items"]]


def test_a_warning_id_no_warning_has_is_a_404_and_its_start_names_it(
    served: Served, raised: str
) -> None:
    unknown = _read(served, warning_id=UNKNOWN)
    assert unknown.status_code == 404, unknown.text
    assert (
        UNKNOWN in unknown.json()["error"] and "no warning has that id" in unknown.json()["error"]
    )
    unknown_start = _read(served, warning_id="W-00000000")
    assert unknown_start.status_code == 404 and "W-00000000" in unknown_start.text
    short = _read(served, warning_id="w-0000")
    assert short.status_code == 422, short.text
    assert short.json()["detail"][0]["loc"] == ["query", "warning_id"]
    assert "too short" in short.json()["error"] and "8 digits" in short.json()["error"]

    # the short id screens show, in any case and without `W-`, reads the warning's story
    whole = _read(served, warning_id=raised, action="warning_raised").json()["items"]
    assert [row["detail"]["warning_id"] for row in whole] == [raised]
    for named in (raised[:10], raised[2:10].upper()):
        assert _read(served, warning_id=named, action="warning_raised").json()["items"] == whole
    # the read is on the record under the whole id
    reads = _read(served, action="audit_read", warning_id=raised).json()["items"]
    assert reads[-1]["detail"]["warning_id"] == raised


def test_the_log_filters_by_actions_and_a_window(served: Served, raised: str) -> None:
    today = datetime.now(CITY_TIME).date()
    day, yesterday = today.isoformat(), (today - timedelta(days=1)).isoformat()

    both = _read(served, warning_id=raised, action="score_request,warning_raised")
    assert _actions(both) == ["warning_raised"]  # the request's row names its unchanged ids
    listed = _read(served, warning_id=raised, action="audit_read,warning_raised")
    assert _actions(listed)[0] == "warning_raised"
    assert set(_actions(listed)) == {"warning_raised", "audit_read"}
    # a day of the city, `until` through its end; a moment with its zone, `until` exclusive
    assert _actions(_read(served, warning_id=raised, since=day, until=day))[0] == "warning_raised"
    assert _actions(_read(served, warning_id=raised, until=yesterday)) == []
    raised_at = _read(served, warning_id=raised).json()["items"][0]["at"]
    assert _actions(_read(served, warning_id=raised, until=raised_at)) == []
    assert _actions(_read(served, warning_id=raised, since=raised_at))[0] == "warning_raised"


def test_the_pages_of_a_filtered_read_join_to_the_whole(served: Served, raised: str) -> None:
    for _ in range(3):
        assert _read(served, warning_id=raised).status_code == 200  # audit_read rows
    params = {"action": "audit_read,warning_raised", "since": datetime.now(CITY_TIME).date()}
    whole = _read(served, **params).json()
    assert whole["next_after_id"] is None and len(whole["items"]) >= 4
    pages, after = [], 0
    while True:
        page = _read(served, **params, limit=2, after_id=after).json()
        pages.append(page["items"])
        if page["next_after_id"] is None:
            break
        after = page["next_after_id"]
    joined = [row for page in pages for row in page]
    # the reads of the pages came after the whole's: its rows are the joined pages' start
    assert joined[: len(whole["items"])] == whole["items"]
    assert {row["action"] for row in joined} == {"audit_read", "warning_raised"}


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"action": "identity_revael"}, "action", ["'identity_revael'", "identity_reveal"]),
        ({"action": "warning_read,nope"}, "action", ["'nope'", "warning_read"]),
        ({"since": "2099-01-01"}, "since", ["since 2099-01-01 is after now"]),
        ({"since": "2026-11-30", "until": "2026-11-29"}, "until", ["is not after since"]),
        ({"since": "2026-11-30T25:00:00Z"}, "since", ["or a date YYYY-MM-DD"]),
        ({"until": "yesterday"}, "until", ["RFC 3339", "YYYY-MM-DD"]),
    ],
)
def test_a_filter_that_names_nothing_is_a_422_naming_it(
    served: Served, params: dict[str, str], parameter: str, words: list[str]
) -> None:
    answer = _read(served, **params)
    assert answer.status_code == 422, answer.text
    assert [error["loc"] for error in answer.json()["detail"]] == [["query", parameter]]
    assert all(word in answer.json()["error"] for word in words), answer.text


def test_a_future_moment_is_refused_and_the_document_says_the_filters(served: Served) -> None:
    later = (datetime.now(CITY_TIME) + timedelta(minutes=5)).isoformat(timespec="seconds")
    answer = _read(served, since=later)
    assert answer.status_code == 422 and "is after now" in answer.json()["error"], answer.text
    with served.client() as client:
        document = client.get("/docs.json").json()
    operation = document["paths"]["/v1/audit"]["get"]
    described = {param["name"]: param for param in operation["parameters"]}
    assert {"action", "until", "since", "warning_id"} <= set(described)
    assert "exclusive" in described["until"]["description"]
    assert "404" in operation["responses"]
