"""Refusals a penetration tester found unclear, on the served service.

1. A body Python's JSON reader raises on (a number past its 4,300-digit limit, nesting past its
   recursion limit) was answered on /v1/session, /feedback and /reveal with FastAPI's bare
   `{"error": "There was an error parsing the body"}`, while the score routes said
   `invalid request: body: Invalid JSON: number out of range at line 1 column N`.
2. Another department's supervisor sending back a case was told "only the department the warning
   is dispatched to may send back it"; the Chinese rule named every step at once.
3. `GET /v1/warnings?department=labour_inspection,tax` took the list for one outside body's name
   and answered no items.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from .conftest import Served
from .test_service import score, warned_records

SCORE = "/v1/wage-arrears/score"
WARNING = "/v1/warnings/W-" + "0" * 32
LONG_NUMBER = "9" * 4301  # one digit past Python's limit for reading an integer
DEEP = "[" * 3000 + "]" * 3000  # past Python's recursion limit, and pydantic's nesting limit
PASSWORD = "a refusal tester's password"
OUTSIDE_WITH_COMMA = "城东街道办,二组"


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/v1/session", f'{{"name":"a","password":{LONG_NUMBER}}}'),
        (f"{WARNING}/feedback", f'{{"status":"closed","expected_version":{LONG_NUMBER}}}'),
        (f"{WARNING}/reveal", f'{{"purpose":-{LONG_NUMBER}}}'),
        ("/v1/session", f'{{"name":{DEEP},"password":"x"}}'),
    ],
)
def test_a_body_pythons_json_reader_cannot_read_is_refused_as_the_score_routes_refuse_it(
    served: Served, path: str, content: str
) -> None:
    answer = served.post_bytes(path, content.encode())
    scored = served.post_bytes(SCORE, content.encode())
    assert answer.status_code == scored.status_code == 400, (answer.text, scored.text)
    assert answer.json() == scored.json(), (answer.text, scored.text)
    assert answer.json()["error"].startswith("invalid request: body: Invalid JSON: "), answer.text
    [error] = answer.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"] == ["body"], answer.text
    assert " at line 1 column " in error["msg"], answer.text


@dataclass
class Desk:
    """The served service, the headers of this module's people and keys, fresh warnings."""

    served: Served
    headers: dict[str, dict[str, str]]
    warnings: list[str]

    def step(self, warning_id: str, who: str, **body: str) -> httpx.Response:
        with self.served.client() as client:
            return client.post(
                f"/v1/warnings/{warning_id}/feedback", json=body, headers=self.headers[who]
            )

    def listed(self, who: str, department: str) -> set[str]:
        with self.served.client() as client:
            answer = client.get(
                "/v1/warnings",
                params={"department": department, "page_size": 500},
                headers=self.headers[who],
            )
        assert answer.status_code == 200, answer.text
        return {item["id"] for item in answer.json()["items"]}


@pytest.fixture(scope="module")
def desk(served: Served) -> Iterator[Desk]:
    from serving.auth import create_key
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        store.create_user(
            "r46_sup_county", department="county_centre", role="supervisor", password=PASSWORD
        )
    headers = {
        "every": served.headers("every"),
        "key:labour": {
            "Authorization": "Bearer "
            + create_key("r46-labour-desk", ("review",), department="labour_inspection")
        },
    }
    records = warned_records(served, "wage-arrears", "refusals46", 4)
    answer = score(served, "wage-arrears", {"records": records}, key="scorer")
    assert answer.status_code == 200, answer.text
    warnings = [r["warning_id"] for r in answer.json()["results"] if r["warning_id"]]
    assert len(warnings) == 4, answer.text
    with served.client() as client:
        signed = client.post("/v1/session", json={"name": "r46_sup_county", "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    headers["r46_sup_county"] = {"Authorization": f"Bearer {signed.json()['token']}"}
    yield Desk(served, headers, warnings)


def test_a_refused_step_is_named_in_words_in_both_languages(desk: Desk) -> None:
    warning_id = desk.warnings[0]
    dispatched = desk.step(warning_id, "every", status="dispatched", department="labour_inspection")
    assert dispatched.status_code == 200, dispatched.text
    # the task's supervisor at the county centre sees the case, but it is not theirs to handle
    sent_back = desk.step(warning_id, "r46_sup_county", status="open", note="back")
    assert sent_back.status_code == 403, sent_back.text
    assert sent_back.json()["error"] == (
        "only the department the warning is dispatched to may send it back"
    )
    assert sent_back.json()["rule_zh"] == "只有预警派发到的部门可以退回该预警"
    started = desk.step(warning_id, "r46_sup_county", status="in_progress")
    assert started.status_code == 403, started.text
    assert started.json()["error"].endswith("may start it")
    assert started.json()["rule_zh"] == "只有预警派发到的部门可以开始处理该预警"
    # held at their own department, it is theirs already: not "only the department it is
    # dispatched to", which is theirs (QA, 2026-12-07)
    rerouted = desk.step(warning_id, "every", status="dispatched", department="county_centre")
    assert rerouted.status_code == 200, rerouted.text
    own = desk.step(warning_id, "r46_sup_county", status="open", note="back")
    assert own.status_code == 403, own.text
    assert own.json()["error"] == (
        "a supervisor holding a case at their own department has no one to send it back to: "
        "the task's supervisors are they themselves"
    )
    assert own.json()["rule_zh"] == "主管所在部门承办的预警无人可退回：该任务的主管就是本人"


def test_a_comma_list_of_departments_lists_the_warnings_of_any_of_them(desk: Desk) -> None:
    at_labour, at_tax, at_outside = desk.warnings[1:4]
    for warning_id, department in (
        (at_labour, "labour_inspection"),
        (at_tax, "Tax bureau"),
        (at_outside, OUTSIDE_WITH_COMMA),
    ):
        dispatched = desk.step(warning_id, "every", status="dispatched", department=department)
        assert dispatched.status_code == 200, dispatched.text

    # a key bound to labour inspection sees its own department's cases through the list
    listed = desk.listed("key:labour", "labour_inspection,tax")
    assert at_labour in listed and at_tax not in listed
    # codes and names in either language, any case and spacing, name the same departments
    both = desk.listed("every", "labour_inspection, 税务局")
    assert {at_labour, at_tax} <= both and at_outside not in both
    assert desk.listed("every", "LABOUR_INSPECTION,tax,") == both
    # a comma in an outside body's name keeps it one name
    assert at_outside in desk.listed("every", OUTSIDE_WITH_COMMA)
    assert not {at_labour, at_tax} & desk.listed("every", OUTSIDE_WITH_COMMA)
    assert desk.listed("every", "labour_inspection,城东街道办").isdisjoint(desk.warnings)
    # `outside` lists every outside body's cases, alone or beside departments (QA,
    # 2026-12-07: read as one outside body's name, it listed none)
    outside = desk.listed("every", "outside")
    assert at_outside in outside and not {at_labour, at_tax} & outside
    assert {at_tax, at_outside} <= desk.listed("every", "tax, OUTSIDE")
    assert at_labour not in desk.listed("every", "tax,outside")
    # only commas name no department: a 422, as an empty filter (QA: an empty list)
    with desk.served.client() as client:
        for commas in (",", " , ,"):
            answer = client.get(
                "/v1/warnings", params={"department": commas}, headers=desk.headers["every"]
            )
            assert answer.status_code == 422, answer.text
            assert "names no department (only commas)" in answer.text
    # a blank department is refused as the schema says, like an empty one (was the 409 of a
    # dispatch without a department)
    for blank in ("", "   "):
        refused = desk.step(at_tax, "every", status="dispatched", department=blank)
        assert refused.status_code == 422, refused.text
        assert "department" in refused.text
    # a dispatch to a list of known departments is refused, not kept as one outside body's
    # name that no list finds (QA, 2026-12-07)
    for listed_departments in ("labour_inspection,tax", "劳动保障监察大队、税务局"):
        two = desk.step(at_labour, "every", status="dispatched", department=listed_departments)
        assert two.status_code == 422, two.text
        assert "names more than one department" in two.text
