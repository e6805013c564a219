"""A case worker's browser with its forms tampered with, and looks that must be on the record.

What the page offers is what the server accepts: a value the form never showed (a department
that does not handle the task) is refused in the person's language and changes nothing.
Each test drives the real service in Debian's Chromium and reads the store afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from typer.testing import CliRunner

from tests.console.conftest import PASSWORD, Console
from tests.processes import LOOPBACK_TLS
from training.cli import app

# each test opens an open yellow wage-arrears case: the red ones are left to the walk-through


def test_a_case_cannot_be_dispatched_to_a_department_the_chooser_never_offered(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    before = console_service.case_state(warning_id)
    dispatch = sup.page.locator("form[aria-labelledby='act-dispatch']")
    offered = dispatch.locator("select[name=department] option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert "labour_inspection" in offered and "anti_fraud" not in offered
    # the data office sees every task, to audit it, and acts on none: not a destination either,
    # nor a choice of the queue's department filter (it would always be empty)
    assert "data_office" not in offered
    filters = sup.page.context.new_page()
    filters.goto(f"{console_service.url}/console/queue")
    listed = filters.locator("form.filters select[name=department] option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    filters.close()
    assert "labour_inspection" in listed and "data_office" not in listed
    # the anti-fraud centre exists but handles no wage-arrears case: add each to the chooser
    for forged in ("anti_fraud", "data_office"):
        dispatch = sup.page.locator("form[aria-labelledby='act-dispatch']")
        dispatch.locator("select[name=department]").evaluate(
            "(select, code) => { select.add(new Option('x', code)); select.value = code; }",
            forged,
        )
        with sup.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
            dispatch.get_by_role("button").click()
        assert answer.value.status == 400, forged
        assert "不承办此类预警" in sup.page.locator("main").inner_text()
        assert console_service.case_state(warning_id) == before
        sup.go(f"/console/cases/{warning_id}")
    # so the anti-fraud officer never gets a wage-arrears case in their queue
    fraud = person()
    fraud.sign_in("fraud")
    fraud.go("/console/queue")
    assert warning_id not in fraud.page.content()


def _looks(console_service: Console, user: str, warning_id: str) -> int:
    return int(
        console_service.sql(
            "SELECT count(*) FROM audit_log WHERE actor = ? AND action = 'warning_page' "
            "AND detail LIKE ?",
            f"user:{user}",
            f"%{warning_id}%",
        )[0][0]
    )


def test_every_answer_showing_a_case_is_a_recorded_look(
    person: Any, console_service: Console
) -> None:
    """The stale-form page and the refused-reveal page show the whole case: each is a look."""
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    opened = _looks(console_service, "sup", warning_id)
    assert opened >= 1
    # a form drawn at an older version: the lost-update answer shows the case as it is now
    dispatch = sup.page.locator("form[aria-labelledby='act-dispatch']")
    dispatch.locator("select[name=department]").select_option("labour_inspection")
    dispatch.locator("input[name=version]").evaluate("input => input.value = '0'")
    with sup.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        dispatch.get_by_role("button").click()
    assert answer.value.status == 409
    assert warning_id in sup.page.locator("main").inner_text()
    assert _looks(console_service, "sup", warning_id) == opened + 1
    # a purpose of blanks passes the browser's length check; the server refuses it and shows
    # the case again
    reveal = sup.page.locator("form[aria-labelledby='act-reveal']")
    reveal.locator("textarea[name=purpose]").fill(" " * 12)
    with sup.page.expect_response(lambda r: r.url.endswith("/reveal")) as answer:
        reveal.get_by_role("button").click()
    assert answer.value.status == 400
    assert warning_id in sup.page.locator("main").inner_text()
    assert _looks(console_service, "sup", warning_id) == opened + 2


def test_a_queue_page_is_a_recorded_look_at_each_case_it_shows(
    person: Any, console_service: Console
) -> None:
    """A queue row shows a case's score, top reason and the start of a send-back note: the
    page's audit row names the warnings shown, under the key the API's list uses, so
    `riskloop audit --warning` tells a case's story with the console's list views in it. The
    row names the page's rows, not the first page's."""
    sup = person()
    sup.sign_in("sup")
    shown = {}
    for page in (1, 2):
        sup.go(f"/console/queue?task=wage-arrears&sort=score&page={page}")
        links = sup.page.locator("table.queue tbody a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        shown[page] = [str(link).rsplit("/", 1)[-1] for link in links]
    assert not set(shown[1]) & set(shown[2])
    recorded = [
        json.loads(detail)
        for (detail,) in console_service.sql(
            "SELECT detail FROM audit_log WHERE actor = 'user:sup' AND action = 'warning_list' "
            "ORDER BY id DESC LIMIT 2"
        )
    ]
    assert [row["query"] for row in recorded] == [
        "task=wage-arrears&sort=score&page=2",
        "task=wage-arrears&sort=score",
    ]
    assert [row["warning_ids"] for row in recorded] == [shown[2], shown[1]]
    # the small city's model warns on some 90-130 of the 1,000 employers scored: a full first
    # page of 50 and the rest (up to 50) on the second
    total = recorded[0]["total"]
    assert all(row["view"] == "console_queue" and row["total"] == total for row in recorded)
    assert total > 50 and len(shown[1]) == 50 and len(shown[2]) == min(50, total - 50)
    # (in this process, on the console's stores as this folder's settings point)
    story = CliRunner().invoke(app, ["audit", "--warning", shown[2][-1]])
    assert story.exit_code == 0, story.output[-2000:] + str(story.exception)
    # others' queue pages may have shown it too; this one is in its story, as the page showed it
    looks = [
        line
        for line in story.stdout.splitlines()
        if "\tuser:sup\twarning_list\t" in line and "task=wage-arrears&sort=score&page=2" in line
    ]
    assert looks and all('"view": "console_queue"' in line for line in looks)


def test_a_missed_deadline_reads_as_words_in_the_timeline(
    person: Any, console_service: Console
) -> None:
    """An `overdue` event names the deadline missed, when it was due and the department by
    name, in the page's language: no raw keys or department codes."""
    from models.settings import get_settings
    from serving.store import WarningStore

    warning_id = console_service.sql(
        "SELECT id FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
        "AND risk_level = 'yellow' ORDER BY score DESC LIMIT 1 OFFSET 5"
    )[0][0]
    console_service.sql(
        "UPDATE warnings SET due_at = '2020-01-01 00:00:00.000000' WHERE id = ?", warning_id
    )
    with WarningStore.from_settings(get_settings()) as store:
        # this sweep, or the service's own (every 2 s), notes the missed deadline: either way
        # the case's last history event is now an `overdue` note
        store.note_overdue(actor="system:overdue")
        events = [event["event"] for event in store.get_warning(warning_id)["history"]]
    assert events[-1] == "overdue", events
    sup = person()
    sup.sign_in("sup")
    sup.go(f"/console/cases/{warning_id}")
    item = sup.page.locator("ol.timeline > li", has_text="超期").inner_text()
    assert "错过派发期限" in item and "2020-01-01 08:00" in item
    assert "县级矛盾纠纷调处化解中心" in item
    assert "department" not in item and "county_centre" not in item and "deadline" not in item
    sup.page.locator("header form[action$='/lang'] button").click()
    sup.page.wait_for_load_state()
    item = sup.page.locator("ol.timeline > li", has_text="overdue").inner_text()
    assert "Missed the dispatch deadline" in item and "County conflict-resolution centre" in item
    assert "county_centre" not in item
    sup.page.locator("header form[action$='/lang'] button").click()
    sup.page.wait_for_load_state()


def test_an_unknown_console_page_answers_in_the_persons_language(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    answer = sup.go("/console/no-such-page")
    assert answer.status == 404
    assert sup.page.locator("h1").inner_text() == "未找到"
    assert sup.page.locator("header nav").count() == 1  # still inside the console's frame
    wrong = sup.go("/console/sign-out")  # a POST-only path opened by GET
    assert wrong.status == 405 and "POST" in wrong.headers["allow"]
    assert "不接受" in sup.page.locator("main").inner_text()
    sup.page.locator("header form[action$='/lang'] button").click()
    sup.page.wait_for_load_state()
    assert sup.page.locator("h1").inner_text() == "Method not allowed"
    sup.page.locator("header form[action$='/lang'] button").click()
    sup.page.wait_for_load_state()
    # before signing in: the default language, or the one the link asks for
    stranger = person()
    assert stranger.go("/console/nothing-here?lang=en").status == 404
    assert stranger.page.locator("h1").inner_text() == "Not found"
    assert "Traceback" not in stranger.page.content()


def test_an_unknown_static_file_answers_the_consoles_404_page(
    person: Any, console_service: Console
) -> None:
    """`/console/static/x` answered a bare English "not found": it answers the console's page,
    in the person's language, with the headers of every page; the real files are still
    served, and cached."""
    sup = person()
    sup.sign_in("sup")
    answer = sup.go("/console/static/x")
    assert answer.status == 404 and answer.headers["content-type"].startswith("text/html")
    assert sup.page.locator("h1").inner_text() == "未找到"
    assert "没有这个页面" in sup.page.locator("main").inner_text()
    assert sup.page.locator("header nav").count() == 1  # inside the console's frame
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as client:
        for path in ("no-such.css", "", "css/riskloop.css", "%2e%2e%2fqueue"):
            stranger = client.get(f"/console/static/{path}?lang=en")
            assert stranger.status_code == 404, path
            assert "<h1>Not found</h1>" in stranger.text, path
            assert stranger.headers["cache-control"] == "no-store"
            assert stranger.headers["content-security-policy"].startswith("default-src 'self'")
            assert stranger.headers["x-content-type-options"] == "nosniff"
        assert client.head("/console/static/x").status_code == 404
        for name, kind in (("riskloop.css", "text/css"), ("favicon.svg", "image/svg+xml")):
            served = client.get(f"/console/static/{name}")
            assert served.status_code == 200 and served.headers["content-type"].startswith(kind)
            assert served.headers["cache-control"] == "public, max-age=3600"


def test_over_long_sign_in_and_language_fields_are_a_400_not_a_500(
    console_service: Console,
) -> None:
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        for lang, words in (("zh", "用户名"), ("en", "User name")):
            answer = client.post(
                f"/console/sign-in?lang={lang}",
                data={"name": "x" * 5000, "password": "p", "csrf": token},
            )
            assert answer.status_code == 400, answer.text[:200]
            assert words in answer.text and "Traceback" not in answer.text
        long_next = {
            "name": "sup",
            "password": PASSWORD,
            "csrf": token,
            "next": "/console/" + "q" * 4100,
        }
        assert client.post("/console/sign-in", data=long_next).status_code == 400
        signed = client.post(
            "/console/sign-in", data={**long_next, "next": "/console/queue"}, follow_redirects=False
        )
        assert signed.status_code == 303
        csrf = console_service.sql(
            "SELECT csrf FROM console_sessions WHERE user_name = 'sup' AND ended_at IS NULL "
            "ORDER BY created_at DESC LIMIT 1"
        )[0][0]
        switched = client.post(
            "/console/lang", data={"csrf": csrf, "lang": "en", "next": "/console/" + "q" * 4100}
        )
        assert switched.status_code == 400 and "Traceback" not in switched.text


def test_a_tampered_outcome_is_refused_in_the_persons_words(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    before = console_service.case_state(warning_id)
    # triage may close only as a false alarm or unreachable: slip `prevented` into the chooser
    triage = sup.page.locator("form[aria-labelledby='act-triage_close']")
    triage.locator("select[name=outcome]").evaluate(
        "select => { select.add(new Option('x', 'prevented')); select.value = 'prevented'; }"
    )
    with sup.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        triage.get_by_role("button").click()
    assert answer.value.status == 400
    shown = sup.page.locator("main").inner_text()
    assert "处置结果无效" in shown and "needs" not in shown and "outcome" not in shown
    assert console_service.case_state(warning_id) == before


def test_riskloops_own_jobs_are_named_in_the_pages_language(
    person: Any, console_service: Console
) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    warning_id = console_service.sql(
        "SELECT id FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
        "AND risk_level = 'yellow' ORDER BY score DESC LIMIT 1 OFFSET 6"
    )[0][0]
    console_service.sql(
        "UPDATE warnings SET due_at = '2020-01-01 00:00:00.000000' WHERE id = ?", warning_id
    )
    with WarningStore.from_settings(get_settings()) as store:
        store.note_overdue(actor="system:overdue")
    sup = person()
    sup.sign_in("sup")
    sup.go(f"/console/cases/{warning_id}")
    timeline = sup.page.locator("ol.timeline").inner_text()
    assert "系统任务 超期巡检" in timeline and "overdue" not in timeline


def test_sending_back_without_a_note_is_refused_in_the_persons_words(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    sup.dispatch()
    before = console_service.case_state(warning_id)
    lab = person()
    lab.sign_in("lab")
    lab.go(f"/console/cases/{warning_id}")
    back = lab.page.locator("form[aria-labelledby='act-send_back']")
    back.locator("textarea[name=note]").evaluate("area => area.removeAttribute('required')")
    with lab.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        back.get_by_role("button").click()
    assert answer.value.status == 409
    shown = lab.page.locator("main #form-error").inner_text()
    assert "请填写退回原因" in shown and "needs" not in shown
    assert console_service.case_state(warning_id) == before
    # the message is tied to the field it is about: a screen reader says it there
    note = lab.page.locator("#send_back-note")
    assert note.get_attribute("aria-invalid") == "true"
    described = str(note.get_attribute("aria-describedby")).split()
    # the field's own message is the summary's, without the summary's heading
    assert lab.page.locator(f"#{described[0]}").inner_text() in shown


def test_an_administrator_lands_on_a_page_they_may_see(
    person: Any, console_service: Console
) -> None:
    """An administrator sees no case content: signing in lands on the model reports, and the
    header offers no link to pages that would only refuse them (the reports and the people)."""
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user("it.admin", department="data_office", role="admin", password=PASSWORD)
    admin = person()
    admin.sign_in("it.admin", path="/console/")
    assert admin.page.url.endswith("/console/reports")
    assert admin.page.locator("h1").inner_text() == "模型报告"
    links = admin.page.locator("header nav a").evaluate_all("links => links.map(a => a.href)")
    assert [link.rsplit("/", 1)[-1] for link in links] == ["reports", "people"]
    assert admin.watch.errors == [] and admin.watch.outside == []
    admin.go("/console/no-such-page")  # an error page leads back to a page they may open
    back = admin.page.locator("main a")
    assert str(back.get_attribute("href")).endswith("/console/reports")
    assert back.inner_text() == "返回报告列表"
    # a supervisor's header still has all three
    sup = person()
    sup.sign_in("sup")
    assert sup.page.locator("header nav a").count() == 3


def test_a_page_past_the_last_says_so_and_links_back(person: Any, console_service: Console) -> None:
    sup = person()
    sup.sign_in("sup", path="/console/queue?task=wage-arrears&page=999")
    main = sup.page.locator("main").inner_text()
    assert "没有符合条件的预警" not in main  # there are some: this page is past the last
    assert "超出" in main
    last = sup.page.get_by_role("link", name="最后一页")
    pages = int(str(last.get_attribute("href")).rsplit("page=", 1)[-1])
    previous = sup.page.locator("nav.pager a[rel=prev]").get_attribute("href")
    assert str(previous).endswith(f"page={pages}")  # not page 998, past the end too
    last.click()
    sup.page.wait_for_load_state()
    assert sup.page.locator("table.queue tbody tr").count() >= 1
    assert f"第 {pages} / {pages} 页" in sup.page.locator("main").inner_text()


def test_a_form_the_console_never_draws_is_a_400_page_in_the_persons_language(
    console_service: Console,
) -> None:
    """A file upload or a flood of fields (no console form has either): refused before any
    check, with the console's page and headers, not the framework's bare English text."""
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        flood = client.post("/console/sign-in", data={f"f{i}": "1" for i in range(30)})
        assert flood.status_code == 400 and "请求有误" in flood.text
        assert flood.headers["content-security-policy"].startswith("default-src 'self'")
        signed = client.post(
            "/console/sign-in",
            data={"name": "sup", "password": PASSWORD, "csrf": token, "next": "/console/queue"},
        )
        assert signed.status_code in (200, 303)
        warning_id = console_service.sql("SELECT id FROM warnings LIMIT 1")[0][0]
        upload = client.post(
            f"/console/cases/{warning_id}/act",
            data={"transition": "start"},
            files={"note": ("note.txt", b"hello")},
        )
        assert upload.status_code == 400 and "请求有误" in upload.text
        assert "Too many" not in upload.text


def test_every_method_on_a_console_path_gets_the_consoles_page(console_service: Console) -> None:
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as client:
        for method in ("OPTIONS", "PATCH", "PUT", "DELETE"):
            answer = client.request(method, "/console/queue?lang=en")
            assert answer.status_code == 405, method
            assert answer.headers["allow"] == "GET, HEAD"
            assert "Method not allowed" in answer.text and answer.headers["x-frame-options"]


def test_a_warning_scored_without_reasons_says_so(person: Any, console_service: Console) -> None:
    """A score request with `explain: false` stores no reasons: the case page says so instead
    of an empty table and a waterfall that is all "other features"."""
    warning_id = console_service.sql(
        "SELECT id FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
        "ORDER BY score LIMIT 1 OFFSET 3"
    )[0][0]
    console_service.sql("UPDATE warnings SET reasons = '[]' WHERE id = ?", warning_id)
    sup = person()
    sup.sign_in("sup")
    sup.go(f"/console/cases/{warning_id}")
    reasons = sup.page.locator("section[aria-labelledby='h-reasons']")
    assert reasons.locator("table").count() == 0
    assert "未计算原因" in reasons.inner_text()
    waterfall = sup.page.locator("section[aria-labelledby='h-waterfall']")
    assert waterfall.locator("img").count() == 0 and "未计算原因" in waterfall.inner_text()
    assert sup.watch.errors == [] and sup.watch.outside == []


def test_a_shared_link_with_a_filter_value_not_in_the_choices_still_shows_the_filter(
    person: Any, console_service: Console
) -> None:
    """A bookmarked view filtered on a district or department no visible warning has: the
    page must not show "any" while filtering on the value (0 rows, for no visible reason)."""
    sup = person()
    sup.sign_in("sup", path="/console/queue?district=gone&department=old_office")
    assert sup.page.locator("#f-district").input_value() == "gone"
    assert sup.page.locator("#f-department").input_value() == "old_office"
    # applying the form again keeps the view it shows
    sup.page.locator("form.filters button[type=submit]").click()
    sup.page.wait_for_load_state()
    assert "district=gone" in sup.page.url and "department=old_office" in sup.page.url


def test_signing_out_says_so_in_the_persons_language(person: Any, console_service: Console) -> None:
    sup = person()
    sup.sign_in("sup")
    sup.sign_out()
    assert "/console/sign-in" in sup.page.url
    said = sup.page.get_by_role("status").inner_text()
    # a sign-out ends every session of the person, the API's tokens too, and says so
    assert said.startswith("您已退出登录。") and "所有会话均已结束" in said, said


def test_the_lost_update_message_names_who_changed_the_case_not_a_later_overdue_note(
    person: Any, console_service: Console
) -> None:
    """An `overdue` event changes nothing in the case (no new version): the lost-update
    message names the person whose step made the form stale."""
    from models.settings import get_settings
    from serving.store import WarningStore

    first, second = person(), person()
    first.sign_in("sup")
    second.sign_in("sup")
    warning_id = first.open_case(level="yellow")
    second.go(f"/console/cases/{warning_id}")
    dispatch = first.page.locator("form[aria-labelledby='act-dispatch']")
    dispatch.locator("select[name=department]").select_option(index=1)
    dispatch.get_by_role("button").click()
    first.page.wait_for_load_state()
    console_service.sql(
        "UPDATE warnings SET due_at = '2020-01-01 00:00:00.000000' WHERE id = ?", warning_id
    )
    with WarningStore.from_settings(get_settings()) as store:
        # this sweep, or the service's own (every 2 s), notes the missed deadline: either way
        # the case's last history event is now an `overdue` note
        store.note_overdue(actor="system:overdue")
        events = [event["event"] for event in store.get_warning(warning_id)["history"]]
    assert events[-1] == "overdue", events
    triage = second.page.locator("form[aria-labelledby='act-triage_close']")
    triage.locator("select[name=outcome]").select_option("false_alarm")
    with second.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        triage.get_by_role("button").click()
    assert answer.value.status == 409
    stale = second.page.locator("#stale").inner_text()
    assert "王主管 (sup)" in stale and "超期巡检" not in stale


def test_a_note_with_control_characters_is_refused(person: Any, console_service: Console) -> None:
    """A NUL or another control character (which no keyboard types, and PostgreSQL's JSON
    refuses) is a 400 naming the field; line breaks and tabs are text."""
    from tests.console.conftest import session_client

    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    before = console_service.case_state(warning_id)
    form = sup.page.locator("form[aria-labelledby='act-dispatch']")
    fields = {
        "csrf": str(form.locator("input[name=csrf]").get_attribute("value")),
        "version": str(form.locator("input[name=version]").get_attribute("value")),
        "transition": "dispatch",
        "department": "labour_inspection",
    }
    with session_client(console_service, sup) as client:
        for bad in ("a\x00b", "bell\x07", "esc\x1b[31m"):
            answer = client.post(f"/console/cases/{warning_id}/act", data={**fields, "note": bad})
            assert answer.status_code == 400 and "备注" in answer.text, bad
        # a hand-made version: missing, or not a number, each said as it is
        for version, says in (("", "表单缺少版本号"), ("x", "表单的版本号不是数字")):
            answer = client.post(
                f"/console/cases/{warning_id}/act", data={**fields, "version": version}
            )
            assert answer.status_code == 400 and says in answer.text, version
        # no department chosen is not an unknown one
        answer = client.post(f"/console/cases/{warning_id}/act", data={**fields, "department": ""})
        assert answer.status_code == 400 and "未选择承办部门" in answer.text
        assert console_service.case_state(warning_id) == before
        fine = client.post(
            f"/console/cases/{warning_id}/act", data={**fields, "note": "第一行\r\n第二行\t完"}
        )
        assert fine.status_code == 303


def test_a_reveal_past_the_hourly_limit_says_when_to_retry(console_service: Console) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(
            "many.reveals", department="county_centre", role="supervisor", password=PASSWORD
        )
    limit = get_settings().reveal_limit_per_hour
    warning_id = console_service.sql(
        "SELECT id FROM warnings WHERE task = 'wage-arrears' AND risk_level = 'yellow' "
        "ORDER BY score DESC LIMIT 1"
    )[0][0]
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        client.post(
            "/console/sign-in",
            data={"name": "many.reveals", "password": PASSWORD, "csrf": token},
        )
        csrf = console_service.sql(
            "SELECT csrf FROM console_sessions WHERE user_name = 'many.reveals' "
            "AND ended_at IS NULL"
        )[0][0]
        purpose = {"csrf": csrf, "purpose": "核实企业联系人以便现场检查"}
        for _ in range(limit):  # each answered by a redirect to the case page that shows it
            shown = client.post(f"/console/cases/{warning_id}/reveal", data=purpose)
            assert shown.status_code == 303, shown.text
        refused = client.post(f"/console/cases/{warning_id}/reveal", data=purpose)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    # Retry-After counts seconds; the page says about how many minutes, as a person would
    minutes = round(int(refused.headers["retry-after"]) / 60)
    assert f"请约 {minutes} 分钟后再试" in refused.text and "秒后再试" not in refused.text
    (refusal,) = console_service.sql(
        "SELECT task FROM audit_log WHERE actor = 'user:many.reveals' AND action = 'access_refused'"
    )
    assert refusal == ("wage-arrears",)  # the task, as other refusals of the case carry it


def test_a_purged_identity_is_explained_in_the_persons_language(
    person: Any, console_service: Console
) -> None:
    """Retention (`riskloop store purge`) deletes a closed warning's encrypted id: a reveal
    then says why in the page's language, not the store's English sentence."""
    warning_id = console_service.sql(
        "SELECT id FROM warnings WHERE task = 'wage-arrears' ORDER BY score LIMIT 1 OFFSET 7"
    )[0][0]
    console_service.sql(
        "UPDATE warnings SET entity_cipher = NULL, key_id = NULL WHERE id = ?", warning_id
    )
    sup = person()
    sup.sign_in("sup")
    sup.go(f"/console/cases/{warning_id}")
    reveal = sup.page.locator("form[aria-labelledby='act-reveal']")
    reveal.locator("textarea[name=purpose]").fill("核实企业联系人以便现场检查")
    with sup.page.expect_response(lambda r: r.url.endswith("/reveal")) as answer:
        reveal.get_by_role("button").click()
    assert answer.value.status == 409
    shown = sup.page.locator("main #form-error").inner_text()
    assert "保存期限" in shown and "purged" not in shown and "warning" not in shown


def test_rerouting_to_the_department_that_holds_the_case_is_refused_in_the_persons_words(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    sup.dispatch()
    before = console_service.case_state(warning_id)
    reroute = sup.page.locator("form[aria-labelledby='act-reroute']")
    offered = reroute.locator("select[name=department] option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert "labour_inspection" not in offered
    reroute.locator("select[name=department]").evaluate(
        "s => { s.add(new Option('x', 'labour_inspection')); s.value = 'labour_inspection'; }"
    )
    with sup.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        reroute.get_by_role("button").click()
    assert answer.value.status == 400
    shown = sup.page.locator("main").inner_text()
    assert "请从列表中选择" in shown and "already" not in shown
    assert console_service.case_state(warning_id) == before


def test_a_wrong_password_on_the_english_sign_in_page_answers_in_english(
    person: Any, console_service: Console
) -> None:
    viewer = person()
    viewer.go("/console/sign-in?lang=en")
    viewer.page.locator("#name").fill("sup")
    viewer.page.locator("#password").fill("not-the-password")
    viewer.page.locator("form.stack button[type=submit]").click()
    viewer.page.wait_for_load_state()
    assert viewer.page.locator("html").get_attribute("lang") == "en"
    assert viewer.page.locator("#sign-in-error").inner_text().startswith("Sign-in failed")


def test_an_expired_session_asks_to_sign_in_again_in_the_persons_language(
    person: Any, console_service: Console
) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(
            "english.sup", department="county_centre", role="supervisor", password=PASSWORD
        )
    viewer = person()
    viewer.sign_in("english.sup", path="/console/dashboard")
    viewer.page.locator("header form[action$='/lang'] button").click()  # remembered: English
    viewer.page.wait_for_load_state()
    console_service.age_session(31 * 60)  # past the 30-minute idle time-out
    viewer.go("/console/dashboard")
    assert "expired=1" in viewer.page.url
    assert viewer.page.locator("html").get_attribute("lang") == "en"
    assert viewer.page.get_by_role("status").inner_text().startswith("Your session timed out")
