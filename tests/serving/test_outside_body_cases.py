"""A case dispatched to an outside body is worked on that body's behalf by the task's owners.

docs/closed-loop.md lets an API client dispatch a warning to a name riskloop does not know (an
outside body: a street office its own system names). A QA run dispatched a wage-arrears case to
"城东街道办" with a key bound to the county centre, the task's owner; then nobody could start it
("only the department the warning is dispatched to may start it": no account is in that body),
and closing it as confirmed was a 409, so its deadline ran out and such cases never gave a
positive feedback label. The task's supervisors and the keys bound to its owner (who see the
case, as auditors do) now record its start and its close with any outcome, each step under their
own name; everyone else is still refused, and a case at a known department keeps its rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from serving.schemas import MAX_RECORDS

from .conftest import Served
from .test_service import as_records, materialized, score

PASSWORD = "an outside body's password"
OUTSIDE = "城东街道办"
# (department, role); names of this module's own
PEOPLE = {
    "ob_sup_county": ("county_centre", "supervisor"),  # owns wage-arrears and disputes
    "ob_off_county": ("county_centre", "officer"),
    "ob_sup_fraud": ("anti_fraud", "supervisor"),  # owns telecom-fraud
    "ob_off_labour": ("labour_inspection", "officer"),
    "ob_auditor": ("data_office", "auditor"),
}
KEYS = {
    "ob-county-desk": (("review", "feedback"), "county_centre"),
    "ob-labour-desk": (("review", "feedback"), "labour_inspection"),
}


@dataclass
class Outside:
    """The served service, everyone's headers and fresh warnings of each task."""

    served: Served
    headers: dict[str, dict[str, str]]
    wage: list[str]
    fraud: list[str]

    def step(self, warning_id: str, who: str, **body: str) -> httpx.Response:
        with self.served.client() as client:
            return client.post(
                f"/v1/warnings/{warning_id}/feedback", json=body, headers=self.headers[who]
            )

    def read(self, warning_id: str) -> dict[str, Any]:
        with self.served.client() as client:
            answer = client.get(f"/v1/warnings/{warning_id}", headers=self.headers["ob_auditor"])
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


def _warnings(served: Served, task: str, prefix: str, count: int) -> list[str]:
    """`count` fresh warnings of `task`, of units under ids of this module's own."""
    frame = materialized(served, task).head(MAX_RECORDS)  # what one request may score
    records = [{**r, "entity_id": f"{prefix}-{i}"} for i, r in enumerate(as_records(task, frame))]
    answer = score(served, task, {"records": records}, key="scorer")
    assert answer.status_code == 200, answer.text
    ids = [r["warning_id"] for r in answer.json()["results"] if r["warning_id"]][:count]
    assert len(ids) == count
    return ids


@pytest.fixture(scope="module")
def outside(served: Served) -> Iterator[Outside]:
    from serving.auth import create_key
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        for name, (department, role) in PEOPLE.items():
            store.create_user(name, department=department, role=role, password=PASSWORD)
    headers = {
        f"key:{name}": {"Authorization": f"Bearer {create_key(name, scopes, department=dept)}"}
        for name, (scopes, dept) in KEYS.items()
    }
    with served.client() as client:
        for name in PEOPLE:
            signed = client.post("/v1/session", json={"name": name, "password": PASSWORD})
            assert signed.status_code == 200, signed.text
            headers[name] = {"Authorization": f"Bearer {signed.json()['token']}"}
    yield Outside(
        served,
        headers,
        wage=_warnings(served, "wage-arrears", "outside-body", 5),
        fraud=_warnings(served, "telecom-fraud", "outside-body", 1),
    )


def test_the_tasks_supervisor_starts_and_closes_an_outside_bodys_case_as_confirmed(
    outside: Outside,
) -> None:
    warning_id = outside.wage[0]
    dispatched = outside.step(warning_id, "ob_sup_county", status="dispatched", department=OUTSIDE)
    assert dispatched.status_code == 200, dispatched.text
    assert dispatched.json()["department"] == OUTSIDE
    # no one else may record the outside body's work: those who do not see the case, the
    # owner's officers among them, and the auditor, who changes nothing
    for who in (
        "ob_off_county",
        "ob_sup_fraud",
        "ob_off_labour",
        "ob_auditor",
        "key:ob-labour-desk",
    ):
        refused = outside.step(warning_id, who, status="in_progress")
        assert refused.status_code == 403, (who, refused.text)
        assert refused.json()["rule_zh"]
    started = outside.step(warning_id, "ob_sup_county", status="in_progress")
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "in_progress"
    assert started.json()["department"] == OUTSIDE
    closed = outside.step(
        warning_id, "ob_sup_county", status="closed", outcome="confirmed", note="done by outside"
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["outcome"]) == ("closed", "confirmed")
    steps = [e for e in outside.read(warning_id)["history"] if e["event"] == "disposition"]
    assert [(e["to"], e["actor"]) for e in steps] == [
        ("dispatched", "user:ob_sup_county"),
        ("in_progress", "user:ob_sup_county"),
        ("closed", "user:ob_sup_county"),
    ]
    with outside.served.client() as client:
        rows = client.get(
            "/v1/audit", params={"warning_id": warning_id}, headers=outside.headers["ob_auditor"]
        ).json()["items"]
    written = [row["actor"] for row in rows if row["action"] == "disposition"]
    assert written == ["user:ob_sup_county"] * 3


def test_a_key_bound_to_the_owner_records_the_outside_bodys_work_too(outside: Outside) -> None:
    """The QA run's own steps: dispatch, start, close with a positive outcome."""
    warning_id = outside.wage[1]
    for body in (
        {"status": "dispatched", "department": OUTSIDE},
        {"status": "in_progress"},
        {"status": "closed", "outcome": "prevented", "note": "done by outside"},
    ):
        answer = outside.step(warning_id, "key:ob-county-desk", **body)
        assert answer.status_code == 200, (body, answer.text)
    assert outside.read(warning_id)["outcome"] == "prevented"


def test_each_tasks_own_supervisors_and_no_other_work_its_outside_case(outside: Outside) -> None:
    """Telecom fraud is the anti-fraud centre's: the county centre's supervisor, who owns the
    other tasks, neither sees nor works its case at an outside body."""
    warning_id = outside.fraud[0]
    dispatched = outside.step(
        warning_id, "ob_sup_fraud", status="dispatched", department="某银行城东支行"
    )
    assert dispatched.status_code == 200, dispatched.text
    for who in ("ob_sup_county", "key:ob-county-desk"):
        assert outside.step(warning_id, who, status="in_progress").status_code == 403, who
    assert outside.step(warning_id, "ob_sup_fraud", status="in_progress").status_code == 200
    closed = outside.step(warning_id, "ob_sup_fraud", status="closed", outcome="false_alarm")
    assert closed.status_code == 200, closed.text


def test_an_outside_bodys_case_is_not_sent_back_and_a_known_departments_keeps_its_rules(
    outside: Outside,
) -> None:
    at_outside, at_labour = outside.wage[2], outside.wage[3]
    dispatched = outside.step(at_outside, "ob_sup_county", status="dispatched", department=OUTSIDE)
    assert dispatched.status_code == 200, dispatched.text
    sent_back = outside.step(at_outside, "ob_sup_county", status="open", note="not theirs")
    assert sent_back.status_code == 403
    assert sent_back.json()["error"].startswith("a case dispatched to an outside body is not sent")
    assert sent_back.json()["rule_zh"].startswith("派发给系统外单位的预警不能退回")
    # unhandled, a positive outcome still needs the case started first
    early = outside.step(at_outside, "ob_sup_county", status="closed", outcome="confirmed")
    assert early.status_code == 409 and "in_progress" in early.json()["error"]

    dispatched = outside.step(
        at_labour, "ob_sup_county", status="dispatched", department="labour_inspection"
    )
    assert dispatched.status_code == 200, dispatched.text
    for who in ("ob_sup_county", "key:ob-county-desk"):
        refused = outside.step(at_labour, who, status="in_progress")
        assert refused.status_code == 403, who
        assert refused.json()["error"] == (
            "only the department the warning is dispatched to may start it"
        )
    assert outside.step(at_labour, "ob_off_labour", status="in_progress").status_code == 200


def test_the_console_offers_the_supervisor_the_outside_bodys_steps(outside: Outside) -> None:
    """The case page's forms are the policy's steps: start, then close with any outcome."""
    served = outside.served
    warning_id = outside.wage[4]
    dispatched = outside.step(warning_id, "ob_sup_county", status="dispatched", department=OUTSIDE)
    assert dispatched.status_code == 200, dispatched.text
    with served.client() as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        signed = client.post(
            "/console/sign-in",
            data={
                "name": "ob_sup_county",
                "password": PASSWORD,
                "csrf": token,
                "next": "/console/queue",
            },
        )
        assert signed.status_code == 303, signed.text

        def forms() -> tuple[set[str], str, str]:
            page = client.get(f"/console/cases/{warning_id}")
            assert page.status_code == 200, page.text
            offered = set(re.findall(r'name="transition" value="(\w+)"', page.text))
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            version = re.search(r'name="version" value="(\d+)"', page.text)
            assert csrf and version
            return offered, csrf.group(1), version.group(1)

        offered, csrf, version = forms()
        assert offered == {"reroute", "start", "triage_close"}
        started = client.post(
            f"/console/cases/{warning_id}/act",
            data={"csrf": csrf, "version": version, "transition": "start", "note": ""},
        )
        assert started.status_code == 303, started.text
        offered, csrf, version = forms()
        assert offered == {"close"}
        closed = client.post(
            f"/console/cases/{warning_id}/act",
            data={
                "csrf": csrf,
                "version": version,
                "transition": "close",
                "outcome": "prevented",
                "note": "the street office visited the employer",
            },
        )
        assert closed.status_code == 303, closed.text
    final = outside.read(warning_id)
    assert (final["status"], final["outcome"]) == ("closed", "prevented")
