"""`POST /v1/warnings/{id}/notes` over real HTTP: a department's system records its officer's
progress on a case it holds (201, the note in the history, no step), while a key of another
department, a reviewer without the feedback scope, a closed case and a blank note are refused,
each refusal on the record."""

from __future__ import annotations

import re

import pytest

from .conftest import Served
from .test_service import score, warned_records


def _notes(served: Served, warning_id: str, headers: dict[str, str], body: object) -> object:
    with served.client() as client:
        return client.post(f"/v1/warnings/{warning_id}/notes", json=body, headers=headers)


@pytest.fixture(scope="module")
def keys() -> dict[str, dict[str, str]]:
    from serving.auth import create_key

    made = {
        "labour": create_key(
            "notes-labour-desk", ("review", "feedback"), department="labour_inspection"
        ),
        "tax": create_key("notes-tax-desk", ("review", "feedback"), department="tax"),
    }
    return {name: {"Authorization": f"Bearer {secret}"} for name, secret in made.items()}


def test_a_department_records_progress_on_the_case_it_holds_and_others_cannot(
    served: Served, keys: dict[str, dict[str, str]]
) -> None:
    records = warned_records(served, "wage-arrears", "notes-api", 2)
    answer = score(served, "wage-arrears", {"records": records}, key="scorer")
    assert answer.status_code == 200, answer.text
    held, other = (r["warning_id"] for r in answer.json()["results"])
    with served.client() as client:
        for warning_id in (held, other):
            sent = client.post(
                f"/v1/warnings/{warning_id}/feedback",
                json={"status": "dispatched", "department": "labour_inspection"},
                headers=served.headers("all"),
            )
            assert sent.status_code == 200, sent.text
    before = sent.json()

    noted = _notes(served, held, keys["labour"], {"note": "已电话联系企业，约定周三走访"})
    assert noted.status_code == 201, noted.text
    body = noted.json()
    assert body["status"] == "dispatched" and body["version"] == before["version"]
    event = body["history"][-1]
    assert event["event"] == "note" and event["actor"] == "key:notes-labour-desk"
    assert event["note"] == "已电话联系企业，约定周三走访"

    # another department's key may not touch the case; a reviewer key takes no step at all
    refused = _notes(served, held, keys["tax"], {"note": "不是本部门的案件"})
    assert refused.status_code == 403, refused.text
    reviewer = _notes(served, held, served.headers("reviewer"), {"note": "只读"})
    assert reviewer.status_code == 403, reviewer.text
    # a blank note, an unknown field, no note: refused before anything is written; a note of
    # blanks (line breaks too) is refused by the pattern the OpenAPI document publishes, so a
    # client validating against it never sends one (schemathesis's stateful phase did: 422)
    for bad in ({"note": "   "}, {"note": "ok", "status": "closed"}, {}):
        answer = _notes(served, held, keys["labour"], bad)
        assert answer.status_code in (400, 422), (bad, answer.text)
    blank = _notes(served, held, keys["labour"], {"note": " \n\u3000\t"})
    assert blank.status_code == 422 and "besides white space" in blank.text, blank.text
    with served.client() as client:
        published = client.get("/docs.json").json()["components"]["schemas"]["NoteCreate"]
    pattern = re.compile(published["properties"]["note"]["pattern"])
    assert not pattern.search(" \n\u3000\t") and pattern.search(" 已走访\n")
    # a closed case takes no more notes (409), and an unknown warning is a 404
    with served.client() as client:
        closed = client.post(
            f"/v1/warnings/{other}/feedback",
            json={"status": "closed", "outcome": "false_alarm"},
            headers=served.headers("all"),
        )
    assert closed.status_code == 200, closed.text
    late = _notes(served, other, served.headers("all"), {"note": "补充说明"})
    assert late.status_code == 409 and "closed" in late.json()["error"], late.text
    missing = _notes(served, "W-" + "0" * 32, keys["labour"], {"note": "无此预警"})
    assert missing.status_code == 404, missing.text

    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        rows = store.audit_rows()
        history = store.get_warning(held)["history"]
    assert [e["event"] for e in history].count("note") == 1
    (noted_row,) = [r for r in rows if r["action"] == "case_note"]
    assert noted_row["actor"] == "key:notes-labour-desk"
    # each refusal is on the record: the other department's, and the closed case's note
    refused_rows = [
        r
        for r in rows
        if r["action"] == "access_refused" and r["detail"].get("warning_id") in (held, other)
    ]
    by_actor = {r["actor"]: r["detail"] for r in refused_rows}
    assert by_actor["key:notes-tax-desk"]["attempted"] == "feedback"
    assert by_actor["key:all"]["step"] == "note" and "closed" in by_actor["key:all"]["rule"]


def test_a_note_racing_a_re_route_is_never_written_for_the_department_that_lost_the_case(
    served: Served, keys: dict[str, dict[str, str]]
) -> None:
    """Notes sent by one department's system while a supervisor re-routes the case to another:
    each note is written only while the case is held as its decision was made (a note landing
    after the re-route was written and answered with the new department's case)."""
    import threading

    from serving.store import WarningStore

    records = warned_records(served, "wage-arrears", "notes-race", 3)
    answer = score(served, "wage-arrears", {"records": records}, key="scorer")
    assert answer.status_code == 200, answer.text
    shown_elsewhere: list[dict[str, object]] = []
    for warning_id in (r["warning_id"] for r in answer.json()["results"]):
        with served.client() as client:
            sent = client.post(
                f"/v1/warnings/{warning_id}/feedback",
                json={"status": "dispatched", "department": "labour_inspection"},
                headers=served.headers("all"),
            )
        assert sent.status_code == 200, sent.text
        moved = threading.Event()
        statuses: list[int] = []

        def note(
            moved: threading.Event = moved,
            warning_id: str = warning_id,
            statuses: list[int] = statuses,
        ) -> None:
            with served.client() as client:
                for _ in range(400):  # until refused (403), after the re-route
                    noted = client.post(
                        f"/v1/warnings/{warning_id}/notes",
                        json={"note": "走访企业"},
                        headers=keys["labour"],
                    )
                    if noted.status_code == 201 and noted.json()["department"] != (
                        "labour_inspection"
                    ):
                        shown_elsewhere.append(noted.json())
                    statuses.append(noted.status_code)
                    if noted.status_code != 201 and (noted.status_code != 403 or moved.is_set()):
                        return  # refused after the re-route (or an answer the test names)

        notes = [threading.Thread(target=note) for _ in range(3)]
        for thread in notes:
            thread.start()
        with served.client() as client:
            for _ in range(20):  # let some notes land first
                client.get(f"/v1/warnings/{warning_id}", headers=served.headers("all"))
            rerouted = client.post(
                f"/v1/warnings/{warning_id}/feedback",
                json={"status": "dispatched", "department": "township_labour"},
                headers=served.headers("all"),
            )
        moved.set()
        for thread in notes:
            thread.join(timeout=60)
        assert rerouted.status_code == 200, rerouted.text
        assert set(statuses) <= {201, 403} and 403 in statuses, statuses
        with WarningStore.from_settings() as store:
            history = store.get_warning(warning_id)["history"]
        moved_at = max(i for i, e in enumerate(history) if e.get("department") == "township_labour")
        late = [e for e in history[moved_at:] if e["event"] == "note"]
        assert late == [], late
        assert any(e["event"] == "note" for e in history[:moved_at]), "no note raced"
    assert shown_elsewhere == []
