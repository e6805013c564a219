"""What a person types, refused or not, and the steps a case page offers as the case moves.

A note or a purpose the server refuses comes back on the case page with the message beside it
and the text kept (nothing typed is lost); a form drawn before the case moved away says so.
Each test drives the real service in Debian's Chromium and reads the store afterwards.
"""

from __future__ import annotations

import json
from typing import Any

from tests.console.conftest import Console, session_client


def test_an_over_long_note_comes_back_with_the_limit_and_the_text_kept(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    before = console_service.case_state(warning_id)
    dispatch = sup.page.locator("form[aria-labelledby='act-dispatch']")
    note = dispatch.locator("textarea[name=note]")
    # the box takes what the server takes, as the API does, and says so beside it
    assert note.get_attribute("maxlength") == "2000"
    assert "最多 2000 字" in dispatch.locator("label[for='dispatch-note']").inner_text()
    dispatch.locator("select[name=department]").select_option("labour_inspection")
    note.evaluate("area => area.removeAttribute('maxlength')")  # past the limit by hand
    # a line break first and one inside: given back as typed, each one character
    typed = "\n" + "长" * 1000 + "\n" + "长" * 1000
    note.fill(typed)
    with sup.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        dispatch.get_by_role("button").click()
    assert answer.value.status == 400
    error = sup.page.locator("#form-error").inner_text()
    assert "备注" in error and "2000" in error and "longer than" not in error
    # it says how long the text is, so the person knows how much to cut
    assert "现为 2002 个字符" in error, error
    # the whole text comes back, to be shortened by the person, not cut at the limit
    kept = sup.page.locator("form[aria-labelledby='act-dispatch'] textarea[name=note]")
    assert kept.input_value() == typed
    assert kept.get_attribute("aria-invalid") == "true"
    assert console_service.case_state(warning_id) == before


def test_a_note_of_the_longest_length_with_line_breaks_goes_through_whole(
    person: Any, console_service: Console
) -> None:
    """The box counts a line break as one character and takes 2,000; the browser sends each as
    CRLF. The server counted them twice and refused the note the box took, as over 2,000, and
    gave it back cut to 1,993. It is taken, kept with its breaks as LF, and shown whole."""
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    dispatch = sup.page.locator("form[aria-labelledby='act-dispatch']")
    dispatch.locator("select[name=department]").select_option("labour_inspection")
    note = "\n".join(["已电话核实" + "情" * 244] * 7 + ["转监察大队跟进" + "况" * 243])
    assert len(note) == 2000 and note.count("\n") == 7
    area = dispatch.locator("textarea[name=note]")
    area.fill(note)
    # the box took it all: as long as its limit, and not too long for it
    assert area.evaluate("area => [area.value.length, area.validity.valid]") == [2000, True]
    with sup.page.expect_request(lambda r: r.url.endswith("/act")) as sent:
        dispatch.get_by_role("button").click()
    sup.page.wait_for_load_state()
    assert "%0D%0A" in str(sent.value.post_data)  # what a browser sends for a line break
    assert sup.page.locator("#form-error").count() == 0
    assert console_service.case_state(warning_id)[:2] == ("dispatched", "labour_inspection")
    (stored,) = console_service.sql(
        "SELECT detail FROM warning_history WHERE warning_id = ? AND event = 'disposition'",
        warning_id,
    )[0]
    assert json.loads(stored)["note"] == note
    shown = sup.page.locator("ol.timeline .note-text").last
    assert shown.inner_text() == note


def test_a_note_with_a_direction_override_is_given_back_without_it(
    person: Any, console_service: Console
) -> None:
    """A right-to-left override pasted into a note made the timeline read "live" where the
    store held "evil"; a form feed pasted from a word processor is white space and stays."""
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    before = console_service.case_state(warning_id)
    dispatch = sup.page.locator("form[aria-labelledby='act-dispatch']")
    dispatch.locator("select[name=department]").select_option("labour_inspection")
    dispatch.locator("textarea[name=note]").fill("已电话核实\u202eevil，转监察大队\f跟进")
    with sup.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        dispatch.get_by_role("button").click()
    assert answer.value.status == 400
    error = sup.page.locator("#form-error").inner_text()
    assert "U+202E" in error and "U+000C" not in error and "已从下方文本中删除" in error
    assert console_service.case_state(warning_id) == before
    dispatch = sup.page.locator("form[aria-labelledby='act-dispatch']")
    kept = dispatch.locator("textarea[name=note]")
    assert kept.input_value() == "已电话核实evil，转监察大队\f跟进"
    dispatch.locator("select[name=department]").select_option("labour_inspection")
    dispatch.get_by_role("button").click()  # sent again as given back: it goes through
    sup.page.wait_for_load_state()
    assert console_service.case_state(warning_id)[:2] == ("dispatched", "labour_inspection")
    notes = sup.page.locator("ol.timeline .note-text").all_inner_texts()
    assert any("已电话核实evil" in note for note in notes), notes


def test_a_refused_purpose_is_kept_and_a_made_up_step_is_named_as_unknown(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    reveal = sup.page.locator("form[aria-labelledby='act-reveal']")
    assert reveal.locator("textarea[name=purpose]").get_attribute("maxlength") == "500"
    purpose = reveal.locator("textarea[name=purpose]")
    purpose.evaluate("area => area.removeAttribute('minlength')")  # the browser's own check
    purpose.fill("核实")  # under ten characters
    with sup.page.expect_response(lambda r: r.url.endswith("/reveal")) as answer:
        reveal.get_by_role("button").click()
    assert answer.value.status == 400
    purpose = sup.page.locator("form[aria-labelledby='act-reveal'] textarea[name=purpose]")
    assert purpose.input_value() == "核实"
    revealed = console_service.sql(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'identity_reveal' AND detail LIKE ?",
        f"%{warning_id}%",
    )
    assert revealed == [(0,)]
    version = console_service.case_state(warning_id)[2]
    csrf = str(reveal.locator("input[name=csrf]").get_attribute("value"))
    with session_client(console_service, sup) as client:
        made_up = client.post(
            f"/console/cases/{warning_id}/act",
            data={"csrf": csrf, "version": str(version), "transition": "explode"},
        )
    assert made_up.status_code == 400
    assert "未知的操作" in made_up.text and "explode" not in made_up.text


def test_an_officer_whose_case_was_re_routed_meanwhile_is_told_it_moved(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    sup.dispatch("labour_inspection")
    lab = person()
    lab.sign_in("lab")
    lab.go(f"/console/cases/{warning_id}")
    start = lab.page.locator("form[aria-labelledby='act-start']")
    assert start.count() == 1
    reroute = sup.page.locator("form[aria-labelledby='act-reroute']")
    reroute.locator("select[name=department]").select_option("tax")
    reroute.get_by_role("button").click()
    sup.page.wait_for_load_state()
    assert console_service.case_state(warning_id)[:2] == ("dispatched", "tax")
    # the re-route's timeline entry names the new department, not "dispatched -> dispatched"
    last = sup.page.locator("ol.timeline > li").last.inner_text()
    assert "改派" in last and "税务局" in last and "已派发 → 已派发" not in last
    start.locator("textarea[name=note]").fill("已约企业负责人周三面谈")
    with lab.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        start.get_by_role("button").click()
    assert answer.value.status == 403
    shown = lab.page.locator("main").inner_text()
    assert "您打开页面后，该预警已有变动" in shown and "办事人员只能" in shown
    # the note the officer typed is given back to copy, not lost with the refusal
    assert lab.page.locator("#refused-typed").inner_text() == "已约企业负责人周三面谈"
    assert console_service.case_state(warning_id)[:2] == ("dispatched", "tax")
    refused = console_service.sql(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'access_refused' AND actor LIKE ?"
        " AND detail LIKE ?",
        "%lab%",
        f"%{warning_id}%",
    )
    assert refused[0][0] >= 1


def test_a_supervisor_holding_a_case_at_their_own_department_cannot_send_it_to_themselves(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    warning_id = sup.open_case(level="yellow")
    sup.dispatch("county_centre")
    offered = sup.page.locator("form.act").evaluate_all(
        "forms => forms.map(f => f.getAttribute('aria-labelledby'))"
    )
    assert "act-send_back" not in offered and "act-start" in offered, offered
    sup.page.locator("form[aria-labelledby='act-start']").get_by_role("button").click()
    sup.page.wait_for_load_state()
    offered = sup.page.locator("form.act").evaluate_all(
        "forms => forms.map(f => f.getAttribute('aria-labelledby'))"
    )
    assert "act-send_back" not in offered and "act-close" in offered, offered
    assert console_service.case_state(warning_id)[:2] == ("in_progress", "county_centre")


def test_a_long_unbroken_note_stays_inside_the_case_page(
    person: Any, console_service: Console
) -> None:
    """A link or reference number with no space in it widened the case page to 17,155 px."""
    sup = person()
    sup.sign_in("sup")
    sup.open_case(level="yellow")
    dispatch = sup.page.locator("form[aria-labelledby='act-dispatch']")
    dispatch.locator("select[name=department]").select_option("labour_inspection")
    dispatch.locator("textarea[name=note]").fill("https://example.org/ref/" + "A1" * 600)
    dispatch.get_by_role("button").click()
    sup.page.wait_for_load_state()
    assert "A1A1A1" in sup.page.locator("ol.timeline").inner_text()
    width = sup.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width[0] <= width[1], width
