"""The reveal form's rules, as a case worker meets them.

- a purpose is words, and Chinese counts fairly: `----------` was taken and `核实欠薪线索`
  refused by a bare ten-character length check;
- no one reveals the identity of a closed case (the form was offered, and worked, after
  closing);
- the hourly limit says about how many minutes to wait, not 3553 seconds;
- a queue link written with the API's `overdue=true` is read, not a 400.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import PASSWORD, Console, screenshots_at_two_widths, session_client
from tests.processes import LOOPBACK_TLS


def _person(name: str, department: str = "county_centre", role: str = "supervisor") -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department=department, role=role, password=PASSWORD)


def _to_english(viewer: Any) -> None:
    viewer.page.locator("header form[action$='/lang'] button").click()
    viewer.page.wait_for_load_state()


def test_a_purpose_without_words_is_refused_and_a_short_chinese_one_taken(
    person: Any, console_service: Console
) -> None:
    _person("purpose.words")
    viewer = person()
    viewer.sign_in("purpose.words")
    viewer.open_case(status="open")
    reveal = viewer.page.locator("form[aria-labelledby='act-reveal']")
    for lang in ("zh", "en"):
        reveal.locator("textarea[name=purpose]").fill("----------")
        reveal.get_by_role("button").click()
        viewer.page.wait_for_load_state()
        message = viewer.page.locator("#form-error").inner_text()
        if lang == "zh":
            assert "至少 5 个汉字" in message and "至少含 4 个不同的字或字母" in message
        else:
            assert "a Chinese character counting as two" in message
            assert "at least four different letters or Chinese characters" in message
        field = viewer.page.locator("#reveal-purpose")
        assert field.get_attribute("aria-invalid") == "true"
        assert field.input_value() == "----------"  # given back to correct
        screenshots_at_two_widths(viewer.page, f"purpose-refused-{lang}")
        if lang == "zh":
            _to_english(viewer)
    reveal.locator("textarea[name=purpose]").fill("核实欠薪线索")
    reveal.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert "#revealed" in viewer.page.url or viewer.page.locator("#revealed").count() == 1
    assert "核实欠薪线索" in viewer.page.locator("#revealed").inner_text()


def test_a_closed_case_offers_no_reveal_and_refuses_one_sent_anyway(
    person: Any, console_service: Console
) -> None:
    from serving.auth import create_key

    _person("closes.cases")
    viewer = person()
    viewer.sign_in("closes.cases")
    warning_id = viewer.open_case(status="open")
    version = console_service.case_state(warning_id)[2]
    token = str(
        viewer.page.locator("form[aria-labelledby='act-reveal'] input[name=csrf]").get_attribute(
            "value"
        )
    )
    close = viewer.page.locator("form[aria-labelledby='act-triage_close']")
    close.locator("select[name=outcome]").select_option("unreachable")
    close.locator("textarea[name=note]").fill("多次电话无人接听，企业已注销。")
    close.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert console_service.case_state(warning_id)[0] == "closed"
    assert viewer.page.locator("form[aria-labelledby='act-reveal']").count() == 0
    assert "不能再查看真实身份" in viewer.page.locator("#closed-note").inner_text()
    screenshots_at_two_widths(viewer.page, "closed-case-zh")
    _to_english(viewer)
    assert viewer.page.locator("form[aria-labelledby='act-reveal']").count() == 0
    screenshots_at_two_widths(viewer.page, "closed-case-en")
    # the form from before closing, sent anyway: refused with the rule, and on the record
    with session_client(console_service, viewer) as client:
        refused = client.post(
            f"/console/cases/{warning_id}/reveal",
            data={"csrf": token, "version": str(version), "purpose": "核实企业联系人电话"},
        )
    assert refused.status_code == 403
    assert "The warning is closed; re-identification is for the people working an open case" in (
        refused.text
    )
    rules = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = 'user:closes.cases' "
        "AND action = 'access_refused' ORDER BY id DESC LIMIT 1"
    )
    assert "the warning is closed" in rules[0][0]
    assert not console_service.sql(
        "SELECT id FROM audit_log WHERE actor = 'user:closes.cases' AND action = 'identity_reveal'"
    )
    # over the API as well, for a key that may reveal the task's cases
    key = create_key("closed.reveals", ("review", "reveal"))
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as client:
        answer = client.post(
            f"/v1/warnings/{warning_id}/reveal",
            json={"purpose": "check the closed case again"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert answer.status_code == 403, answer.text
    assert "the warning is closed" in answer.text


def test_a_queue_link_with_the_apis_true_and_false_is_read(
    person: Any, console_service: Console
) -> None:
    viewer = person()
    viewer.sign_in("sup")
    for value, checked in (("true", True), ("false", False), ("1", True)):
        answer = viewer.go(f"/console/queue?overdue={value}&sent_back=false")
        assert answer is not None and answer.status == 200, value
        assert viewer.page.locator("input[name=overdue]").is_checked() is checked
    answer = viewer.go("/console/queue?overdue=yes")
    assert answer is not None and answer.status == 400
    viewer.go("/console/queue?overdue=true")
    screenshots_at_two_widths(viewer.page, "queue-overdue-true-zh")
