"""What an API client found in a QA round (2026-12-07), on the served service.

1. A send-back (`status: "open"`) that also named an outcome or a department was answered 200
   and both were dropped without a word: a client that meant to close the case as `confirmed`,
   or to re-route it, but sent the wrong status, lost the label. Both are refused as the other
   steps refuse a field that is not theirs (409), and the case stays where it was.
2. A warning id written in capitals (`W-CBBA…`, as systems printing hexadecimal in upper case
   send it) was a 404 saying the id was not of a warning's shape, which it is: it reads as the
   warning's.
"""

from __future__ import annotations

import httpx
import pytest

from .conftest import Served
from .test_service import score, warned_records


def _step(served: Served, warning_id: str, **body: object) -> httpx.Response:
    with served.client() as client:
        return client.post(
            f"/v1/warnings/{warning_id}/feedback", json=body, headers=served.headers("every")
        )


@pytest.fixture(scope="module")
def started(served: Served) -> list[str]:
    """Two warnings dispatched to labour inspection and started there."""
    records = warned_records(served, "wage-arrears", "qa59-api", 2)
    answer = score(served, "wage-arrears", {"records": records}, key="scorer")
    assert answer.status_code == 200, answer.text
    warnings = [r["warning_id"] for r in answer.json()["results"] if r["warning_id"]]
    assert len(warnings) == 2, answer.text
    for warning_id in warnings:
        dispatched = _step(served, warning_id, status="dispatched", department="labour_inspection")
        assert dispatched.status_code == 200, dispatched.text
        assert _step(served, warning_id, status="in_progress").status_code == 200
    return warnings


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"outcome": "confirmed"}, "an outcome is given only when closing"),
        ({"department": "tax"}, "a department is set only when dispatching"),
        ({"department": "labour_inspection"}, "a department is set only when dispatching"),
    ],
    ids=["outcome", "other-department", "own-department"],
)
def test_a_send_back_naming_an_outcome_or_a_department_is_refused_not_dropped(
    served: Served, started: list[str], extra: dict[str, str], said: str
) -> None:
    warning_id = started[0]
    with served.client() as client:
        before = client.get(f"/v1/warnings/{warning_id}", headers=served.headers("every")).json()
    answer = _step(served, warning_id, status="open", note="not ours", **extra)
    assert answer.status_code == 409, answer.text
    assert said in answer.json()["error"], answer.text
    with served.client() as client:
        after = client.get(f"/v1/warnings/{warning_id}", headers=served.headers("every")).json()
    assert after["status"] == "in_progress" and after["department"] == "labour_inspection"
    assert after["version"] == before["version"]  # nothing written
    sent_back = _step(served, warning_id, status="open", note="not ours")  # the step alone: 200
    assert sent_back.status_code == 200, sent_back.text
    assert sent_back.json()["status"] == "open" and sent_back.json()["department"] is None
    again = _step(served, warning_id, status="dispatched", department="labour_inspection")
    assert again.status_code == 200, again.text
    assert _step(served, warning_id, status="in_progress").status_code == 200


def test_a_warning_id_in_capitals_is_the_warnings(served: Served, started: list[str]) -> None:
    warning_id = started[1]
    shouted = "W-" + warning_id[2:].upper()
    with served.client() as client:
        read = client.get(f"/v1/warnings/{shouted}", headers=served.headers("every"))
        lower_w = client.get(f"/v1/warnings/w-{warning_id[2:]}", headers=served.headers("every"))
    assert read.status_code == lower_w.status_code == 200, (read.text, lower_w.text)
    assert read.json()["id"] == lower_w.json()["id"] == warning_id
    noted = _step(served, shouted, status="in_progress")  # already started: the step's 409
    assert noted.status_code == 409 and "already in_progress" in noted.json()["error"], noted.text
    with served.client() as client:
        missing = client.get("/v1/warnings/W-" + "F" * 32, headers=served.headers("every"))
    assert missing.status_code == 404
    assert missing.json()["error"] == "no warning 'W-" + "f" * 32 + "'", missing.text
