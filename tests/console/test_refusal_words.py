"""Refusals of a case's step say what is wrong.

Re-routing a case held by the tax bureau to the tax bureau said "Unknown department, or one
that does not handle this kind of warning"; it now says the case is already with that
department. A form carrying a version the case never had (999) said "you changed this case in
another window or tab"; it now says the form is out of date. Either way nothing changes, and
the note typed is given back in its form.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Console, session_client

WORDS = {
    "zh": {"same": "该预警已由税务局承办", "unknown": "此表单已过期", "mine": "另一个窗口"},
    "en": {
        "same": "This case is already with Tax bureau",
        "unknown": "This form is out of date",
        "mine": "another window",
    },
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_refusals_say_what_is_wrong(person: Any, console_service: Console, lang: str) -> None:
    from tests.console.test_unsaved_after_time_out import _supervisor

    name = f"refusals.{lang}"
    _supervisor(name)
    viewer = person()
    viewer.sign_in(name)
    warning_id = viewer.open_case(status="open", level="yellow")
    viewer.dispatch("tax")
    status, department, version = console_service.case_state(warning_id)
    assert (status, department) == ("dispatched", "tax")
    csrf = str(
        viewer.page.locator("form[aria-labelledby='act-reroute'] input[name=csrf]").get_attribute(
            "value"
        )
    )
    note = f"改派说明（{lang}）：请复核。"
    with session_client(console_service, viewer) as client:
        if lang == "en":
            client.post(
                "/console/lang", data={"csrf": csrf, "lang": "en", "next": "/console/queue"}
            )
        path = f"/console/cases/{warning_id}/act"
        same = client.post(
            path,
            data={
                "csrf": csrf,
                "transition": "reroute",
                "department": "tax",
                "note": note,
                "version": str(version),
            },
        )
        unknown = client.post(
            path,
            data={
                "csrf": csrf,
                "transition": "reroute",
                "department": "labour_inspection",
                "note": note,
                "version": "999",
            },
        )
    assert same.status_code == 400, same.text[:300]
    assert WORDS[lang]["same"] in same.text
    assert unknown.status_code == 409, unknown.text[:300]
    assert WORDS[lang]["unknown"] in unknown.text and WORDS[lang]["mine"] not in unknown.text
    for answer in (same, unknown):
        assert note in answer.text  # given back in the re-route form
        assert "Unknown department" not in answer.text and "未知的承办部门" not in answer.text
    assert console_service.case_state(warning_id) == (status, department, version)
