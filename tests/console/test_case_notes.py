"""Progress notes in the console, in a real browser: the officer working a case records a visit
or a call without taking a step (status and version stay, so the supervisor's open form is not
made stale), the note is in the case's timeline with who wrote it, and those who may take no
step (an auditor) get no note form."""

from __future__ import annotations

import json
from typing import Any

from tests.console.conftest import Console, screenshot, session_client
from tests.console.test_pages import _axe_violations

NOTE = "已走访企业，负责人称工资将于本月20日前发放，已要求提交工资发放记录。"


def test_an_officer_records_progress_without_a_step_and_the_timeline_says_who(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(task="wage-arrears")
    sup.dispatch()
    status, department, version = console_service.case_state(warning_id)
    assert (status, department) == ("dispatched", "labour_inspection")

    lab = person()
    lab.sign_in("lab")
    lab.go(f"/console/cases/{warning_id}")
    form = lab.page.locator("form[aria-labelledby='act-note']")
    assert form.locator("h3").inner_text() == "记录进展"
    form.locator("textarea[name=note]").fill(NOTE)
    form.get_by_role("button", name="保存进展记录").click()
    lab.page.wait_for_load_state()
    assert lab.page.url.endswith(f"/console/cases/{warning_id}")
    assert lab.page.locator("p.flash").inner_text() == "进展记录已保存。"
    # no step: the case as it was, its version too
    assert console_service.case_state(warning_id) == (status, department, version)
    last = lab.page.locator("ol.timeline > li").last.inner_text()
    assert "进展记录" in last and "李监察 (lab)" in last and NOTE in last, last
    assert _axe_violations(lab.page) == []
    screenshot(lab.page, "case-note-zh")
    ((detail,),) = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = 'user:lab' AND action = 'case_note' "
        "ORDER BY id DESC LIMIT 1"
    )
    assert json.loads(detail)["warning_id"] == warning_id

    # the supervisor's page, drawn before the note, still takes its step
    sup.go(f"/console/cases/{warning_id}")
    assert "进展记录" in sup.page.locator("main").inner_text()

    # an empty note is refused beside its box (a hand-made post: the box requires text)
    with session_client(console_service, lab) as client:
        csrf = lab.page.locator("form[aria-labelledby='act-note'] input[name=csrf]")
        answer = client.post(
            f"/console/cases/{warning_id}/note",
            data={"csrf": csrf.get_attribute("value"), "note": "  "},
        )
    assert answer.status_code == 400 and "请填写进展记录的内容。" in answer.text

    # an auditor reads the case and its notes, and has no note form
    auditor = person()
    auditor.sign_in("audit")
    auditor.go(f"/console/cases/{warning_id}")
    assert NOTE in auditor.page.locator("main").inner_text()
    assert auditor.page.locator("form[aria-labelledby='act-note']").count() == 0
    with session_client(console_service, auditor) as client:
        token = auditor.page.locator("header form[action$='/sign-out'] input[name=csrf]")
        refused = client.post(
            f"/console/cases/{warning_id}/note",
            data={"csrf": token.get_attribute("value"), "note": "审计员不能记录进展"},
        )
    assert refused.status_code == 403
    notes = console_service.sql(
        "SELECT count(*) FROM warning_history WHERE warning_id = ? AND event = 'note'", warning_id
    )
    assert notes == [(1,)]

    # in English
    lab.page.locator("header form[action$='/lang'] button").click()
    lab.page.wait_for_load_state()
    assert lab.page.locator("form[aria-labelledby='act-note'] h3").inner_text() == "Record progress"
    assert "Progress note" in lab.page.locator("main").inner_text()
    screenshot(lab.page, "case-note-en")
    lab.page.locator("header form[action$='/lang'] button").click()  # the shared account: zh
    lab.page.wait_for_load_state()
    for viewer in (sup, lab, auditor):
        assert viewer.watch.errors == [] and viewer.watch.outside == []


def test_a_note_sent_after_signing_out_elsewhere_is_not_saved_and_the_sign_in_page_says_so(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(task="wage-arrears")
    elsewhere = person()  # the same supervisor signs out on another computer: every session ends
    elsewhere.sign_in("sup")
    elsewhere.sign_out()
    form = sup.page.locator("form[aria-labelledby='act-note']")
    form.locator("textarea[name=note]").fill("会话结束后写的进展")
    form.get_by_role("button").click()
    sup.page.wait_for_load_state()
    assert "/console/sign-in" in sup.page.url
    notice = sup.page.locator("p.note").inner_text()
    assert notice.startswith("您已在其他标签页或窗口退出登录，您刚才提交的操作未保存。"), notice
    saved = console_service.sql(
        "SELECT count(*) FROM warning_history WHERE warning_id = ? AND event = 'note' "
        "AND detail LIKE '%会话结束后%'",
        warning_id,
    )
    assert saved == [(0,)]
    ((detail,),) = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = 'user:sup' AND action = 'access_refused' "
        "ORDER BY id DESC LIMIT 1"
    )
    refused = json.loads(detail)
    assert refused["warning_id"] == warning_id and refused["attempted"] == "feedback"
    assert refused["rule"] == "session ended: signed out"
