"""A form left open by one person, sent after another signed in on the same browser.

Wang's tab shows a case's form; Sun signs in on the same browser (which ends Wang's session)
and Wang's tab is then submitted under Sun's cookie. Nothing may be done, and nothing was; but
the audit log said `user:sun` tried a step on a case she cannot see. Now the row names whose
form it was (`form_of`) and the rule says the form is another person's sign-in's, and the page
says so instead of calling the form forged: not to reload (which shows only the other
person's view) but to sign out and sign in as oneself, the form's note not kept.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.console.conftest import PASSWORD, Console, screenshot


def _supervisor(name: str, lang: str) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department="county_centre", role="supervisor", password=PASSWORD)
        store.set_user_lang(name, lang)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_form_of_another_persons_sign_in_is_recorded_as_theirs(
    person: Any, console_service: Console, lang: str
) -> None:
    first, second = f"form.wang.{lang}", f"form.sun.{lang}"
    _supervisor(first, lang)
    _supervisor(second, lang)
    viewer = person()
    viewer.sign_in(first)
    warning_id = viewer.open_case(level="yellow")
    before = console_service.case_state(warning_id)
    form = viewer.page.locator("form[aria-labelledby='act-dispatch']")
    form.locator("select[name=department]").select_option("labour_inspection")
    form.locator("textarea[name=note]").fill("已约谈企业负责人")

    other_tab = viewer.context.new_page()  # the same browser: the sign-in replaces the cookie
    other_tab.goto(console_service.url + "/console/sign-in")
    other_tab.locator("#name").fill(second)
    other_tab.locator("#password").fill(PASSWORD)
    other_tab.locator("form.stack button[type=submit]").click()
    other_tab.wait_for_load_state()
    assert "/console/queue" in other_tab.url

    with viewer.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        form.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert answer.value.status == 403
    said = viewer.page.locator("main").inner_text()
    assert ("另一人的登录" if lang == "zh" else "another person's sign-in") in said, said
    # refreshing shows only the other person's view: the page says to sign out and in as
    # oneself, and that what the form carried was not kept
    if lang == "zh":
        assert "退出当前登录" in said and "未保留" in said and "刷新" not in said, said
    else:
        assert "sign out" in said and "not kept" in said and "Reload" not in said, said
    assert "已约谈企业负责人" not in viewer.page.content()  # not shown to the other person
    assert console_service.case_state(warning_id) == before
    screenshot(viewer.page, f"form-of-another-person-{lang}")
    rows = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = ? AND action = 'access_refused' ORDER BY id",
        f"user:{second}",
    )
    detail = json.loads(rows[-1][0])
    assert detail["attempted"] == "console_form" and detail["form_of"] == first, detail
    assert detail["rule"].startswith("CSRF token of another person's sign-in"), detail
