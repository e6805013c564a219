"""The queue as a supervisor reads it, in a real browser: a case sent back does not pass for a
new one, a page past the last does not claim to be shown, and filters the console cannot read
come back in the form as typed, each problem beside its field in words."""

from __future__ import annotations

from typing import Any

from tests.console.conftest import PASSWORD, Console, screenshot
from tests.console.test_pages import _axe_violations


def _switch_language(viewer: Any) -> None:
    viewer.page.locator("header form[action$='/lang'] button").click()
    viewer.page.wait_for_load_state()


def test_a_case_sent_back_is_marked_in_the_queue_with_who_and_why(
    person: Any, console_service: Console
) -> None:
    # a case in the middle of the queue (the walk-throughs work on its top and bottom)
    warning_id, never_sent_back = (
        row[0]
        for row in console_service.sql(
            "SELECT id FROM warnings WHERE task = 'wage-arrears' AND status = 'open' "
            "AND NOT EXISTS (SELECT 1 FROM warning_history h WHERE h.warning_id = warnings.id "
            "AND h.event = 'disposition') ORDER BY score LIMIT 2 OFFSET 6"
        )
    )
    sup = person()
    sup.sign_in("sup")
    sup.go(f"/console/cases/{warning_id}")
    sup.dispatch()
    lab = person()
    lab.sign_in("lab")
    lab.go(f"/console/cases/{warning_id}")
    back = lab.page.locator("form[aria-labelledby='act-send_back']")
    note = "不属于本部门辖区：企业注册地在外县，请改派当地劳动保障监察大队处理。"
    back.locator("textarea[name=note]").fill(note)
    back.get_by_role("button").click()
    lab.page.wait_for_load_state()
    assert console_service.case_state(warning_id)[:2] == ("open", None)

    # the supervisor's open cases: this one says it came back, from whom, when and why
    sup.go("/console/queue?task=wage-arrears&status=open&sent_back=1")
    row = sup.page.locator("table.queue tbody tr", has=sup.page.locator(f"a[href$='{warning_id}']"))
    assert row.count() == 1
    status = row.locator("td[data-label='状态']").inner_text()
    assert "待派发" in status and "已退回" in status, status
    assert "李监察 (lab) 于 " in status and "退回：不属于本部门辖区" in status, status
    assert note not in status and "…" in status  # the note's first words; the case has the rest
    assert "派发期限" in status  # the deadline that restarted, now explained
    # the case page's summary says so too, beside its status
    sup.go(f"/console/cases/{warning_id}")
    summary = sup.page.locator("#h-summary + dl.card").inner_text()
    assert "退回记录" in summary and "李监察 (lab) 于 " in summary, summary
    assert "退回：不属于本部门辖区" in summary, summary
    sup.go("/console/queue?task=wage-arrears&status=open&sent_back=1")
    # the filter keeps to sent-back cases: a case nobody sent back is not in it
    assert sup.page.locator(f"a[href$='{never_sent_back}']").count() == 0
    assert sup.page.locator("#f-sent_back").is_checked()
    screenshot(sup.page, "queue-sent-back-zh")
    # and without the filter, a new open case carries no such mark
    sup.go("/console/queue?task=wage-arrears&status=open&sort=age")
    marked = sup.page.locator("table.queue tbody tr", has=sup.page.locator("span.sent-back"))
    unmarked = sup.page.locator("table.queue tbody tr").count() - marked.count()
    assert unmarked > 0
    for text in marked.all_inner_texts():
        assert "退回：" in text

    _switch_language(sup)
    sup.go("/console/queue?task=wage-arrears&status=open&sent_back=1")
    row = sup.page.locator("table.queue tbody tr", has=sup.page.locator(f"a[href$='{warning_id}']"))
    status = row.locator("td[data-label='Status']").inner_text()
    assert "open" in status and "sent back" in status and "By 李监察 (lab) on " in status, status
    assert _axe_violations(sup.page) == []
    screenshot(sup.page, "queue-sent-back-en")
    _switch_language(sup)  # leave the shared account in Chinese
    for viewer in (sup, lab):
        assert viewer.watch.errors == [] and viewer.watch.outside == []


def test_a_page_past_the_last_never_claims_to_be_shown(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup", path="/console/queue?task=wage-arrears&page=99")
    main = sup.page.locator("main").inner_text()
    assert "第 99 /" not in main, main  # "第 99 / 6 页" named a page nobody sees
    assert "第 99 页超出范围" in main
    last = sup.page.get_by_role("link", name="最后一页")
    pages = int(str(last.get_attribute("href")).rsplit("page=", 1)[-1])
    assert 1 < pages < 99 and f"只有 {pages} 页" in main
    assert sup.page.locator("nav.pager").inner_text().split() == ["上一页", "共", str(pages), "页"]
    previous = sup.page.locator("nav.pager a[rel=prev]").get_attribute("href")
    assert str(previous).endswith(f"page={pages}")
    screenshot(sup.page, "queue-past-last-zh")
    last.click()
    sup.page.wait_for_load_state()
    assert sup.page.locator("table.queue tbody tr").count() >= 1
    assert f"第 {pages} / {pages} 页" in sup.page.locator("main").inner_text()

    # nothing matches at all: no page count of a page that cannot exist either
    sup.go("/console/queue?task=wage-arrears&date_from=2099-01-01&page=5")
    main = sup.page.locator("main").inner_text()
    assert "没有符合条件的预警" in main and "第 5 /" not in main, main

    _switch_language(sup)
    sup.go("/console/queue?task=wage-arrears&page=99")
    main = sup.page.locator("main").inner_text()
    assert "There is no page 99" in main and "Page 99 of" not in main, main
    assert f"Go to the last page (page {pages})" in main
    screenshot(sup.page, "queue-past-last-en")
    _switch_language(sup)
    assert sup.watch.errors == [] and sup.watch.outside == []


def test_bad_filters_come_back_in_the_form_each_marked_in_words(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    typed = "task=wage-arrears&district=anji&level=purple&date_from=2026-13-01&page=abc"
    answer = sup.go(f"/console/queue?{typed}")
    assert answer.status == 400
    page = sup.page
    assert page.locator("h1").inner_text() == "预警队列"
    # every filter as typed, the valid ones and the wrong ones alike
    assert page.locator("#f-task").input_value() == "wage-arrears"
    assert page.locator("#f-district").input_value() == "anji"
    assert page.locator("#f-level").input_value() == "purple"
    assert page.locator("#f-date_from").input_value() == "2026-13-01"
    # every problem listed in words, none by its parameter's name
    summary = page.locator("[role=alert]").inner_text()
    assert "筛选条件有误" in summary
    for said in (
        "风险等级：“purple”不是可选的值",
        "评估日期起：“2026-13-01”不是日期",
        "页码：“abc”",
    ):
        assert said in summary, summary
    # the page number has no field: a link starts again from page 1, the rest as typed
    first = str(page.get_by_role("link", name="从第 1 页看起").get_attribute("href"))
    assert "page=" not in first and "date_from=2026-13-01" in first and "district=anji" in first
    main = page.locator("main").inner_text()
    for raw in ("date_from", "(page)", "level"):
        assert raw not in main, raw
    # and each beside its field: marked invalid, described by its message
    for name, words in (("level", "不是可选的值"), ("date_from", "不是日期")):
        field = page.locator(f"#f-{name}")
        assert field.get_attribute("aria-invalid") == "true"
        described = str(field.get_attribute("aria-describedby")).split()
        assert any(words in page.locator(f"#{ref}").inner_text() for ref in described), name
    assert page.locator("#f-task").get_attribute("aria-invalid") is None
    assert page.locator("table.queue").count() == 0  # no list under filters half applied
    assert _axe_violations(page) == []
    screenshot(page, "queue-bad-filters-zh")

    # the same page in English, the address kept
    _switch_language(sup)
    assert page.url.endswith(typed)
    summary = page.locator("[role=alert]").inner_text()
    assert 'As of, from: "2026-13-01" is not a date' in summary, summary
    assert "(date_from)" not in summary and "(page)" not in summary
    screenshot(page, "queue-bad-filters-en")
    _switch_language(sup)

    # corrected in the form, the queue is shown with the filters that were right
    page.locator("#f-level").select_option("red")
    page.locator("#f-date_from").fill("2026-01-01")
    with page.expect_response(lambda response: "/console/queue?" in response.url) as shown:
        page.locator("form.filters button[type=submit]").click()
    page.wait_for_load_state()
    assert shown.value.status == 200
    assert "task=wage-arrears" in page.url and "district=anji" in page.url
    assert "level=red" in page.url and "page=" not in page.url
    assert page.locator("[role=alert]").count() == 0
    assert page.locator("#f-district").input_value() == "anji"
    # Chromium logs each 400 answer as a console error; nothing else may be there
    assert [e for e in sup.watch.errors if "status of 400" not in e] == [], sup.watch.errors
    assert sup.watch.outside == []


def test_a_shared_links_task_outside_ones_work_is_named_in_words(
    person: Any, console_service: Console
) -> None:
    """A colleague's bookmark of another task's queue: the officer's task chooser shows that
    task by its name, not its code (the queue it filters is empty for them)."""
    lab = person()
    lab.sign_in("lab")
    lab.go("/console/queue?task=telecom-fraud&department=anti_fraud")
    task = lab.page.locator("#f-task option:checked")
    assert task.get_attribute("value") == "telecom-fraud" and task.inner_text() == "电信诈骗风险"
    department = lab.page.locator("#f-department option:checked")
    assert department.inner_text() == "反诈中心"
    assert "telecom-fraud" not in lab.page.locator("form.filters").inner_text()


def test_an_empty_view_says_so_rather_than_that_filters_hid_every_case(
    person: Any, console_service: Console
) -> None:
    """An officer whose department holds no case yet, opening the queue with no filter, read
    "No warning matches these filters" (as if they had filtered everything out). Now the page
    says nothing is in their view yet, and what their view is; with a filter set it still
    says that nothing matches."""
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(
            "housing.new",
            department="housing",
            role="officer",
            password=PASSWORD,
            display_name="孙住建",
        )
    officer = person()
    officer.sign_in("housing.new")
    main = officer.page.locator("main").inner_text()
    assert "您的可见范围内暂无预警（派发给住房和城乡建设局的预警）" in main, main
    assert "没有符合条件的预警" not in main
    screenshot(officer.page, "queue-empty-view-zh")
    officer.go("/console/queue?level=red")
    main = officer.page.locator("main").inner_text()
    assert "没有符合条件的预警" in main and "暂无预警" not in main, main
    officer.go("/console/queue?sort=score")  # an order alone filters nothing
    assert "您的可见范围内暂无预警" in officer.page.locator("main").inner_text()
    _switch_language(officer)
    officer.go("/console/queue")
    main = officer.page.locator("main").inner_text()
    assert "No warning in your view yet (warnings dispatched to Housing" in main, main
    screenshot(officer.page, "queue-empty-view-en")
    assert officer.watch.errors == [] and officer.watch.outside == []


def test_longest_waiting_first_puts_closed_cases_after_every_waiting_one(
    console_service: Console,
) -> None:
    """ "等待最久优先" mixed closed cases, which wait no more, among the waiting ones."""
    import re

    from models.settings import get_settings
    from serving.store import WarningStore
    from tests.console.conftest import signed_in_client

    ((warning_id,),) = console_service.sql(  # one closed case at least, a quarter of the way up
        "SELECT id FROM warnings WHERE task = 'wage-arrears' AND status = 'open' "
        "ORDER BY score, id LIMIT 1 OFFSET (SELECT COUNT(*) / 4 FROM warnings "
        "WHERE task = 'wage-arrears' AND status = 'open') + 36"
    )
    with WarningStore.from_settings(get_settings()) as store:
        store.add_feedback(
            warning_id, actor="user:sup", status="closed", department=None,
            outcome="false_alarm", note=None,
        )  # fmt: skip
    statuses: list[str] = []
    with signed_in_client(console_service, "sup") as client:
        for page in range(1, 100):
            shown = client.get(f"/console/queue?task=wage-arrears&sort=age&page={page}").text
            cells = re.findall(r'<td data-label="状态">\s*([^<\s]+)', shown)
            if not cells:
                break
            statuses += cells
    closed = [status == "已办结" for status in statuses]
    assert any(closed) and not all(closed), statuses
    assert closed == sorted(closed), statuses  # every waiting case, then every closed one
