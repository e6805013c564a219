"""A step sent from a tab after the session ended some other way than a time-out.

The person signed out in another tab (which clears the session cookie), an administrator
reset their password, or disabled their account: the step was not made, and the console
answered with a bare sign-in page in Chinese, saying nothing, the typed note lost. A time-out
already said the step was not saved, in the person's language, and gave the note back after
signing in. Now every ended session does, the form's own token naming whose it was; a disabled
account's step is said to be unsaved but not kept (it cannot sign in to take it back).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.console.conftest import PASSWORD, Console, screenshot

UNSAVED = "riskloop_console_unsaved"
NEW_PASSWORD = "Lantern-orbit-Quay-58"


def _supervisor(name: str) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department="county_centre", role="supervisor", password=PASSWORD)


def _store_change(change: str, name: str) -> None:
    """What an administrator does with `riskloop users`: reset the password or disable."""
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        if change == "password":
            store.reset_password(name, NEW_PASSWORD)
        else:
            store.disable_user(name)


def _signed_in_in_english_on_a_case(person: Any, name: str, note: str) -> tuple[Any, str, Any]:
    """`name` signed in, English chosen, a yellow case open, its dispatch form filled in."""
    _supervisor(name)
    viewer = person()
    viewer.sign_in(name)
    viewer.page.locator("header form[action$='/lang'] button").click()
    viewer.page.wait_for_load_state()
    warning_id = viewer.open_case(status="open", level="yellow")
    form = viewer.page.locator("form[aria-labelledby='act-dispatch']")
    form.locator("select[name=department]").select_option("labour_inspection")
    form.locator("textarea[name=note]").fill(note)
    return viewer, warning_id, form


def _sign_in_here(viewer: Any, name: str, password: str = PASSWORD) -> None:
    viewer.page.locator("#name").fill(name)
    viewer.page.locator("#password").fill(password)
    viewer.page.locator("form.stack button[type=submit]").click()
    viewer.page.wait_for_load_state()


def test_a_step_sent_after_signing_out_in_another_tab_is_said_unsaved_and_given_back(
    person: Any, console_service: Console
) -> None:
    note = "Called the employer's director (staff no. B-20931); wages promised by Friday."
    viewer, warning_id, form = _signed_in_in_english_on_a_case(person, "ended.out", note)
    before = console_service.case_state(warning_id)
    other_tab = viewer.context.new_page()  # the same browser: the same cookie
    other_tab.goto(console_service.url + "/console/queue")
    other_tab.locator("header form[action$='/sign-out'] button").click()
    other_tab.wait_for_load_state()

    form.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    query = parse_qs(urlsplit(viewer.page.url).query)
    assert query.get("out") == ["1"] and query.get("unsaved") == ["1"], viewer.page.url
    assert query.get("kept") == ["1"] and query.get("lang") == ["en"], viewer.page.url
    notice = viewer.page.locator("main p.note").inner_text()
    assert "signed out" in notice and "was not saved" in notice, notice
    assert viewer.page.locator("html").get_attribute("lang") == "en"
    screenshot(viewer.page, "ended-signed-out-sign-in-en")
    assert console_service.case_state(warning_id) == before

    # going Back (or opening any page) in the signed-out tab keeps the language too
    other_tab.goto(f"{console_service.url}/console/cases/{warning_id}")
    assert parse_qs(urlsplit(other_tab.url).query).get("lang") == ["en"], other_tab.url
    assert "Sign in" in other_tab.locator("h1").inner_text()
    other_tab.goto(f"{console_service.url}/console/sign-in")
    assert "Sign in" in other_tab.locator("h1").inner_text()

    _sign_in_here(viewer, "ended.out")
    assert viewer.page.url == f"{console_service.url}/console/cases/{warning_id}"
    dispatch = viewer.page.locator("form[aria-labelledby='act-dispatch']")
    assert dispatch.locator("textarea[name=note]").input_value() == note
    assert dispatch.locator("select[name=department]").input_value() == "labour_inspection"
    assert "was not saved" in viewer.page.locator("#unsaved").inner_text()
    screenshot(viewer.page, "ended-signed-out-case-en")


@pytest.mark.parametrize("change", ["password", "disabled"])
def test_a_step_sent_after_a_password_reset_or_disabling_says_so(
    person: Any, console_service: Console, change: str
) -> None:
    name = f"ended.{change}"
    note = f"Visited the site on Tuesday ({change}); the payroll ledger is with the accountant."
    viewer, warning_id, form = _signed_in_in_english_on_a_case(person, name, note)
    before = console_service.case_state(warning_id)
    _store_change(change, name)

    form.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    query = parse_qs(urlsplit(viewer.page.url).query)
    assert query.get("lang") == ["en"] and query.get("unsaved") == ["1"], viewer.page.url
    notice = viewer.page.locator("main p.note").inner_text()
    assert "was not saved" in notice, notice
    screenshot(viewer.page, f"ended-{change}-sign-in-en")
    assert console_service.case_state(warning_id) == before
    if change == "disabled":  # it cannot sign in to take the step back: nothing is kept
        assert query.get("disabled") == ["1"] and "kept" not in query, viewer.page.url
        assert "disabled" in notice and "not kept" in notice, notice
        assert viewer.cookie(UNSAVED) is None
        return
    assert query.get("reset") == ["1"] and query.get("kept") == ["1"], viewer.page.url
    assert "password was reset" in notice, notice
    _sign_in_here(viewer, name, NEW_PASSWORD)
    assert viewer.page.url == f"{console_service.url}/console/cases/{warning_id}"
    dispatch = viewer.page.locator("form[aria-labelledby='act-dispatch']")
    assert dispatch.locator("textarea[name=note]").input_value() == note


def test_the_notices_speak_chinese_too(person: Any, console_service: Console) -> None:
    """The sign-in page's new notices in the default language (as a link carries them)."""
    viewer = person()
    for reason, words in {
        "out": ("退出登录", "未保存", "放回表单"),
        "reset": ("密码已被重置", "未保存", "放回表单"),
        "disabled": ("账号已停用", "未保存", "不会保留"),
    }.items():
        kept = "" if reason == "disabled" else "&kept=1"
        viewer.go(f"/console/sign-in?{reason}=1&unsaved=1{kept}&next=/console/queue")
        notice = viewer.page.locator("main p.note").inner_text()
        assert all(word in notice for word in words), (reason, notice)
        screenshot(viewer.page, f"ended-{reason}-sign-in-zh")
