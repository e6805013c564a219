"""A form drawn under another sign-in of the same person keeps what they typed.

One browser, two tabs: tab 1 on a case page types a long note into triage close; tab 2 signs
out and in again as the same person; tab 1 submits. The form's CSRF token is the ended
session's, so nothing may be done; the console answered with its generic 403 ("the form has
expired or did not come from this console"), the note was gone, and nothing said the person
had signed in again. Now the case page comes back with the note in its form and why; a token
of another person, or a request with no session, is refused as before.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.console.conftest import PASSWORD, Console, screenshots_at_two_widths, session_client
from tests.processes import LOOPBACK_TLS

NOTE = (
    "已电话联系企业负责人，核实本月工资已于 12 月 3 日足额发放，工人代表确认无异议；"
    "此前的欠薪线索系统计口径差异所致，建议初筛办结。"
)


def _supervisor(name: str) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department="county_centre", role="supervisor", password=PASSWORD)


def _refusals(console_service: Console, name: str) -> list[str]:
    return [
        str(row[0])
        for row in console_service.sql(
            "SELECT detail FROM audit_log WHERE actor = ? AND action = 'access_refused' "
            "ORDER BY id",
            f"user:{name}",
        )
    ]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_form_from_before_signing_in_again_comes_back_with_the_note(
    person: Any, console_service: Console, lang: str
) -> None:
    name = f"two.tabs.{lang}"
    _supervisor(name)
    viewer = person()
    viewer.sign_in(name)
    if lang == "en":  # remembered on the account, so the new sign-in speaks it too
        viewer.page.locator("header form[action$='/lang'] button").click()
        viewer.page.wait_for_load_state()
    warning_id = viewer.open_case(status="open")
    before = console_service.case_state(warning_id)
    form = viewer.page.locator("form[aria-labelledby='act-triage_close']")
    form.locator("select[name=outcome]").select_option("false_alarm")
    form.locator("textarea[name=note]").fill(NOTE)

    other_tab = viewer.context.new_page()  # the same browser: the same cookie
    other_tab.goto(console_service.url + "/console/queue")
    other_tab.locator("header form[action$='/sign-out'] button").click()
    other_tab.wait_for_load_state()
    other_tab.locator("#name").fill(name)
    other_tab.locator("#password").fill(PASSWORD)
    other_tab.locator("form.stack button[type=submit]").click()
    other_tab.wait_for_load_state()
    assert "/console/queue" in other_tab.url

    with viewer.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        form.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert answer.value.status == 403
    message = viewer.page.locator("#form-error").inner_text()
    if lang == "zh":
        assert "另一次登录" in message and "未保存" in message and "放回下方表单" in message
    else:
        assert "another sign-in of yours" in message and "nothing was saved" in message
    again = viewer.page.locator("form[aria-labelledby='act-triage_close']")
    assert again.locator("textarea[name=note]").input_value() == NOTE
    assert console_service.case_state(warning_id) == before  # nothing done on the old token
    assert "CSRF token of another sign-in of this person" in _refusals(console_service, name)[-1]
    screenshots_at_two_widths(viewer.page, f"other-sign-in-{lang}")
    assert again.locator("select[name=outcome]").input_value() == "false_alarm"
    # sent again from the page drawn now, it is made
    again.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert console_service.case_state(warning_id)[0] == "closed"
    # the one error a browser logs is the refused form's own status, 403
    assert all("status of 403" in error for error in viewer.watch.errors), viewer.watch.errors
    assert not viewer.watch.outside


def test_a_token_of_another_live_session_of_the_same_person_keeps_the_note(
    person: Any, console_service: Console
) -> None:
    """Two browsers signed in as the same person: one's form sent with the other's cookie is
    still refused, and still theirs."""
    _supervisor("two.browsers")
    first, second = person(), person()
    first.sign_in("two.browsers")
    warning_id = first.open_case(status="open")
    first_token = first.page.locator("form[aria-labelledby='act-dispatch'] input[name=csrf]")
    token = str(first_token.get_attribute("value"))
    second.sign_in("two.browsers")
    version = console_service.case_state(warning_id)[2]
    data = {
        "csrf": token,
        "version": str(version),
        "transition": "triage_close",
        "outcome": "false_alarm",
        "note": NOTE,
    }
    with session_client(console_service, second) as client:
        answer = client.post(f"/console/cases/{warning_id}/act", data=data)
    assert answer.status_code == 403
    assert "另一次登录" in answer.text and NOTE in answer.text
    assert console_service.case_state(warning_id)[2] == version


def test_a_token_of_another_person_or_no_session_is_refused_as_before(
    person: Any, console_service: Console
) -> None:
    _supervisor("token.owner")
    _supervisor("token.thief")
    owner, thief = person(), person()
    owner.sign_in("token.owner")
    warning_id = owner.open_case(status="open")
    token = str(
        owner.page.locator("form[aria-labelledby='act-dispatch'] input[name=csrf]").get_attribute(
            "value"
        )
    )
    thief.sign_in("token.thief")
    data = {"csrf": token, "transition": "triage_close", "outcome": "false_alarm", "note": NOTE}
    with session_client(console_service, thief) as client:
        forged = client.post(f"/console/cases/{warning_id}/act", data=data)
    assert forged.status_code == 403
    assert "另一人的登录" in forged.text and NOTE not in forged.text
    # on the record as a form of the owner's session, not one of the thief's own
    refusal = json.loads(_refusals(console_service, "token.thief")[-1])
    assert refusal["form_of"] == "token.owner", refusal
    assert refusal["rule"].startswith("CSRF token of another person's sign-in"), refusal
    with httpx.Client(
        base_url=console_service.url, follow_redirects=False, verify=LOOPBACK_TLS
    ) as client:
        nobody = client.post(f"/console/cases/{warning_id}/act", data=data)
    assert nobody.status_code == 303 and "/console/sign-in" in nobody.headers["location"]
