"""Every refused step of a case's form is on the record, with the step and the rule.

A dispatch to a department outside the task, a bad outcome, no department, a missing or bad
version: each was answered 400 and left no audit row, though the README promises every
refused attempt. A step on a case of another department was recorded as a refused look
without the step. A note refused for a character dropped the department or outcome chosen.
"""

from __future__ import annotations

import json
from typing import Any

from tests.console.conftest import PASSWORD, Console, screenshot, session_client


def _supervisor(name: str) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department="county_centre", role="supervisor", password=PASSWORD)


def _refusals(console_service: Console, name: str, warning_id: str) -> list[dict[str, Any]]:
    rows = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = ? AND action = 'access_refused' "
        "AND detail LIKE ? ORDER BY id",
        f"user:{name}",
        f"%{warning_id}%",
    )
    return [json.loads(row[0]) for row in rows]


def _form_token(viewer: Any) -> str:
    field = viewer.page.locator("form[aria-labelledby='act-dispatch'] input[name=csrf]")
    return str(field.get_attribute("value"))


def test_each_refused_choice_of_a_step_is_recorded_with_its_rule(
    person: Any, console_service: Console
) -> None:
    _supervisor("refused.steps")
    sup = person()
    sup.sign_in("refused.steps")
    warning_id = sup.open_case(level="yellow")
    before = console_service.case_state(warning_id)
    version = str(before[2])
    base = {"csrf": _form_token(sup), "version": version, "note": "核实中"}
    long_name = "tax" * 200
    chosen = {"transition": "dispatch", "department": "labour_inspection"}
    sent = [
        ({"transition": "dispatch", "department": code}, "department", code)
        for code in ("anti_fraud", "data_office", "outside", "<b>x</b>", long_name)
    ] + [
        ({"transition": "dispatch"}, None, None),
        ({"transition": "triage_close", "outcome": "nope"}, "outcome", "nope"),
        ({**chosen, "version": ""}, None, None),
        ({**chosen, "version": "x1"}, None, None),
    ]
    with session_client(console_service, sup) as client:
        for fields, _named, _value in sent:
            answer = client.post(f"/console/cases/{warning_id}/act", data={**base, **fields})
            assert answer.status_code == 400, (fields, answer.status_code)
    assert console_service.case_state(warning_id) == before
    rows = _refusals(console_service, "refused.steps", warning_id)
    assert len(rows) == len(sent), rows
    for row, (fields, named, value) in zip(rows, sent, strict=True):
        assert row["attempted"] == "feedback" and row["step"] == fields["transition"], row
        assert row["rule"], row
        if named is not None:
            assert row[named] == (value if len(value) <= 64 else value[:63] + "…"), row
    rules = [row["rule"] for row in rows]
    assert rules[0] == "a case goes only to a department that handles its task"
    assert rules[5] == "a dispatch or re-route names the department to send the case to"
    assert rules[6] == "a step closes a case only with an outcome its form offers"
    assert rules[7] == rules[8] == "a step carries the case version its page was drawn at"
    assert rows[7]["version"] == "" and rows[8]["version"] == "x1"


def test_a_step_on_a_case_of_another_department_is_recorded_with_the_step(
    person: Any, console_service: Console
) -> None:
    """The labour officer posts `start` on an open case (held by no department of his)."""
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    version = str(console_service.case_state(warning_id)[2])
    officer = person()
    officer.sign_in("lab")
    token = str(
        officer.page.locator("header form[action$='/lang'] input[name=csrf]").get_attribute("value")
    )
    with session_client(console_service, officer) as client:
        answer = client.post(
            f"/console/cases/{warning_id}/act",
            data={"csrf": token, "version": version, "transition": "start"},
        )
    assert answer.status_code == 403
    row = _refusals(console_service, "lab", warning_id)[-1]
    assert row["attempted"] == "feedback" and row["step"] == "start", row
    rule = "officers see and work only the warnings dispatched to their own department"
    assert row["rule"] == rule


def test_a_refused_note_keeps_the_department_and_outcome_chosen(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    for form_name, field, value in (
        ("act-dispatch", "department", "labour_inspection"),
        ("act-triage_close", "outcome", "false_alarm"),
    ):
        form = sup.page.locator(f"form[aria-labelledby='{form_name}']")
        form.locator(f"select[name={field}]").select_option(value)
        form.locator("textarea[name=note]").fill("企业已补发\u202e工资")
        with sup.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
            form.get_by_role("button").click()
        sup.page.wait_for_load_state()
        assert answer.value.status == 400
        again = sup.page.locator(f"form[aria-labelledby='{form_name}']")
        assert "U+202E" in sup.page.locator("#form-error").inner_text()
        assert again.locator("textarea[name=note]").input_value() == "企业已补发工资"
        assert again.locator(f"select[name={field}]").input_value() == value, form_name
        screenshot(sup.page, f"refused-note-keeps-{field}-zh")
        sup.go(f"/console/cases/{warning_id}")


def test_an_officer_dispatching_his_own_case_is_refused_by_the_role_rule(
    person: Any, console_service: Console
) -> None:
    """Officers never dispatch: the rule on record is the role's, not the case's state."""
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    sup.dispatch("labour_inspection")
    officer = person()
    officer.sign_in("lab")
    officer.go(f"/console/cases/{warning_id}")
    token = str(
        officer.page.locator("header form[action$='/lang'] input[name=csrf]").get_attribute("value")
    )
    before = console_service.case_state(warning_id)
    with session_client(console_service, officer) as client:
        answer = client.post(
            f"/console/cases/{warning_id}/act",
            data={
                "csrf": token,
                "version": str(before[2]),
                "transition": "dispatch",
                "department": "labour_inspection",
            },
        )
    assert answer.status_code == 403
    assert "只有该任务负责部门的主管" in answer.text
    assert console_service.case_state(warning_id) == before
    row = _refusals(console_service, "lab", warning_id)[-1]
    assert row["step"] == "dispatch", row
    assert (
        row["rule"] == "only a supervisor of the department owning the task may dispatch a warning"
    )
