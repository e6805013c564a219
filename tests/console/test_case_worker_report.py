"""A QA case worker's report on the console: one test per defect, each saying what was wrong.

(3., a form sent under another person's sign-in, is in `test_form_of_another_person`.)
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from tests.console.conftest import PASSWORD, Console, session_client


def _showing(html: str) -> str:
    """The queue's "共 N 条" line (or its empty message)."""
    found = re.search(r"共 \d+ 条|没有符合条件的预警。", html)
    assert found is not None, html[:2000]
    return found.group(0)


def test_an_unknown_department_or_district_is_a_bad_filter_and_shown_names_are_codes(
    person: Any, console_service: Console
) -> None:
    """1. An unknown department or district in the queue's address listed nothing ("no
    warning matches", 200), as if there were none; a district or department written as the
    page shows it (吴兴区, Wuxing) did the same. Now an unknown one is a 400 naming the field,
    like any filter the console cannot read, and a shown name, in either language, is its code.
    """
    from serving.console.i18n import Messages

    district, _count = console_service.sql(
        "SELECT district, count(*) AS n FROM warnings WHERE task = 'wage-arrears' "
        "AND district IS NOT NULL GROUP BY district ORDER BY n DESC LIMIT 1"
    )[0]
    department, name_zh, name_en = console_service.sql(
        "SELECT code, name_zh, name_en FROM departments WHERE code = 'county_centre'"
    )[0]
    sup = person()
    sup.sign_in("audit")
    with session_client(console_service, sup) as client:
        for query, label in (
            ("district=Nowhere", "所属区县"),
            ("department=nowhere", "承办部门"),
            ("district=" + quote("黄浦区"), "所属区县"),
        ):
            answer = client.get(f"/console/queue?{query}")
            assert answer.status_code == 400, (query, answer.text[:1000])
            assert "筛选条件有误" in answer.text and label in answer.text, query
            assert "不是可选的值" in answer.text and "没有符合条件的预警" not in answer.text
        by_code = _showing(client.get(f"/console/queue?district={district}").text)
        assert by_code != "没有符合条件的预警。"
        for shown in (
            Messages("zh").word("district", district),
            Messages("en").word("district", district),
        ):
            answer = client.get(f"/console/queue?district={quote(shown)}")
            assert answer.status_code == 200, (shown, answer.text[:1000])
            assert _showing(answer.text) == by_code, shown
            # the dropdown has the district chosen under its code, not the text as typed
            assert f'<option value="{district}" selected>' in answer.text, shown
        by_department = _showing(client.get(f"/console/queue?department={department}").text)
        for shown in (name_zh, name_en, name_en.upper()):
            answer = client.get(f"/console/queue?department={quote(shown)}")
            assert answer.status_code == 200, (shown, answer.text[:1000])
            assert _showing(answer.text) == by_department, shown


@pytest.mark.parametrize(("why", "lang"), [("out", "zh"), ("reset", "en")])
def test_the_case_page_says_why_a_step_was_not_saved(
    person: Any, console_service: Console, why: str, lang: str
) -> None:
    """2. After a sign-out in another tab (or a password reset), the step given back on the
    case page was said to be unsaved "after a time-out": it now says the real reason."""
    from models.settings import get_settings
    from serving.store import WarningStore

    name, password = f"qa.{why}", PASSWORD
    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department="county_centre", role="supervisor", password=PASSWORD)
    viewer = person()
    viewer.sign_in(name)
    if lang == "en":
        viewer.page.locator("header form[action$='/lang'] button").click()
        viewer.page.wait_for_load_state()
    warning_id = viewer.open_case(status="open", level="yellow")
    form = viewer.page.locator("form[aria-labelledby='act-dispatch']")
    form.locator("select[name=department]").select_option("labour_inspection")
    form.locator("textarea[name=note]").fill("Phoned the employer on Monday.")
    if why == "out":
        other_tab = viewer.context.new_page()
        other_tab.goto(console_service.url + "/console/queue")
        other_tab.locator("header form[action$='/sign-out'] button").click()
        other_tab.wait_for_load_state()
    else:
        password = "Lantern-orbit-Quay-77"
        with WarningStore.from_settings(get_settings()) as store:
            store.reset_password(name, password)
    form.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    viewer.page.locator("#name").fill(name)
    viewer.page.locator("#password").fill(password)
    viewer.page.locator("form.stack button[type=submit]").click()
    viewer.page.wait_for_load_state()
    assert viewer.page.url == f"{console_service.url}/console/cases/{warning_id}"
    banner = viewer.page.locator("#unsaved").inner_text()
    if lang == "zh":
        assert "退出登录" in banner and "未保存" in banner and "超时" not in banner, banner
    else:
        assert "password was reset" in banner and "not saved" in banner, banner
        assert "timed out" not in banner, banner


def test_a_saved_step_is_said_once_and_the_address_stays_the_cases(
    person: Any, console_service: Console
) -> None:
    """4. "Dispatched." lived in the address (`?done=dispatch`): a reload, the language
    switch and a shared link said it again. Now a short-lived cookie says it once."""
    from models.settings import get_settings
    from serving.store import WarningStore

    name = "qa.done"  # switches language: an account of its own, not one other tests use
    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department="county_centre", role="supervisor", password=PASSWORD)
    sup = person()
    sup.sign_in(name)
    warning_id = sup.open_case(level="yellow")
    with sup.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        sup.dispatch()
    said = (answer.value.header_value("set-cookie") or "").lower()
    assert "riskloop_console_done=dispatch" in said, said
    assert "httponly" in said and "samesite=strict" in said and "path=/console" in said, said
    assert sup.page.url == f"{console_service.url}/console/cases/{warning_id}"
    assert sup.page.locator("p.flash").inner_text() == "已派发。"
    assert sup.cookie("riskloop_console_done") is None  # read and cleared by that page
    switch_to = sup.page.locator("header form[action$='/lang'] input[name=next]")
    assert "done" not in str(switch_to.get_attribute("value"))
    sup.page.reload()
    assert sup.page.locator("p.flash").count() == 0
    sup.page.locator("header form[action$='/lang'] button").click()
    sup.page.wait_for_load_state()
    assert sup.page.locator("p.flash").count() == 0
    assert sup.page.url == f"{console_service.url}/console/cases/{warning_id}"


def test_english_chosen_on_the_sign_in_page_wins_and_is_remembered(
    person: Any, console_service: Console
) -> None:
    """5. English chosen on the sign-in page was dropped after signing in, for an account
    whose remembered language is Chinese; now the choice wins and the account keeps it."""
    from models.settings import get_settings
    from serving.store import WarningStore

    name = "qa.lang"
    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department="county_centre", role="supervisor", password=PASSWORD)
        store.set_user_lang(name, "zh")
    viewer = person()
    viewer.go("/console/queue")  # the sign-in page, in Chinese
    viewer.page.get_by_role("link", name="English").click()
    viewer.page.wait_for_load_state()
    viewer.page.locator("#name").fill(name)
    viewer.page.locator("#password").fill(PASSWORD)
    viewer.page.locator("form.stack button[type=submit]").click()
    viewer.page.wait_for_load_state()
    assert "/console/queue" in viewer.page.url
    assert viewer.page.locator("html").get_attribute("lang") == "en"
    assert console_service.sql("SELECT lang FROM users WHERE name = ?", name) == [("en",)]
    # a sign-in page not chosen on (the browser's default) changes nobody's language
    viewer.sign_out()
    other = person()
    other.sign_in(name)
    assert other.page.locator("html").get_attribute("lang") == "en"
    assert console_service.sql("SELECT lang FROM users WHERE name = ?", name) == [("en",)]


def test_the_sign_in_page_states_the_lockout_rule_before_any_failure(
    person: Any, console_service: Console
) -> None:
    """6. The sign-in page said only that wrong passwords lock the account for a while; the
    numbers came only after a failure. Now they are there from the start, in both languages."""
    import math

    from models.settings import get_settings
    from serving.store.people import MAX_FAILED_SIGN_INS

    attempts = MAX_FAILED_SIGN_INS + 1
    minutes = math.ceil(get_settings().lockout_s / 60)
    viewer = person()
    viewer.go("/console/sign-in")
    said = viewer.page.locator("main").inner_text()
    assert f"连续输错密码 {attempts} 次后，账号将锁定 {minutes} 分钟" in said, said
    viewer.go("/console/sign-in?lang=en")
    said = viewer.page.locator("main").inner_text()
    assert f"After {attempts} wrong passwords in a row" in said, said
    assert f"locked for {minutes} minutes" in said, said


def test_signing_out_leaves_the_cookies_the_readme_names(
    person: Any, console_service: Console
) -> None:
    """7. README said signing out leaves one cookie; the sign-in page it leads to sets the
    sign-in form's token too. The README now names both, and this keeps it true."""
    from tests.console.conftest import PROJECT_ROOT

    viewer = person()
    viewer.sign_in("sup")
    viewer.sign_out()
    left = sorted(cookie["name"] for cookie in viewer.context.cookies())
    assert left == ["riskloop_console_lang", "riskloop_console_pre"], left
    readme = " ".join((PROJECT_ROOT / "README.md").read_text("utf-8").split())
    assert "Signing out leaves two cookies: `riskloop_console_lang`" in readme
    assert "`riskloop_console_pre`, the sign-in form's CSRF token" in readme
