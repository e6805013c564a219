"""Four console flows a QA session found wrong, in a real browser on the real service.

1. A sign-in tab left open put a second person into the first one's session: tab B signed in
   as a supervisor, tab A then signed in as an officer with the officer's right password, and
   tab A went on as the supervisor (the form's spent token answered "signed in already"), the
   officer's sign-in never made nor recorded. Now the name typed decides: the officer's
   password is checked like any sign-in, the supervisor's session in this browser ends (their
   `sign_out` on the record) and the officer is signed in; a wrong password is refused as any.
2. A progress note the case stopped taking meanwhile (closed in another tab, re-routed by the
   supervisor) was lost on a bare 409 or 403 page. Now it comes back as a step's does: the
   case page saying who changed it and why no note is taken, the note to copy; or, for a case
   no longer this person's, the page saying it moved, the note to copy.
3. A progress note sent from a tab opened under an earlier sign-in got a bare 403; now the case
   page comes back saying why, the note in its form, as the step forms do.
4. A reveal's purpose sent after the session timed out was lost; now it is kept in memory (as
   a note is) and given back in its box once they signed in again, saying no identity was
   shown. The same flow after a password change (the session's end `changed`) drew no page.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.console.conftest import (
    PASSWORD,
    Console,
    create_person,
    screenshots_at_two_widths,
)
from tests.processes import LOOPBACK_TLS

NEW_PASSWORD = "staple-battery-horse-correct"
NOTE = {
    "zh": "今天上午再次走访企业，财务负责人提供了 11 月工资发放流水，已复印存档待核对。",
    "en": "Visited the employer again this morning; the finance lead handed over the November "
    "payroll records, copied for checking.",
}
PURPOSE = {
    "zh": "需与当事人电话核实欠薪金额及发放时间，以便约谈企业负责人",
    "en": "To call the worker and check the unpaid amount before meeting the employer",
}


def _submit(page: Any, name: str, password: str = PASSWORD) -> None:
    page.locator("#name").fill(name)
    page.locator("#password").fill(password)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_load_state()


def _session_owner(console_service: Console, viewer: Any) -> tuple[str, str | None]:
    """Whose session this browser's cookie names, and why it ended (None: live)."""
    cookie = viewer.cookie("riskloop_console")
    assert cookie is not None
    key = hashlib.sha256(cookie["value"].encode("utf-8")).hexdigest()
    ((owner, why),) = console_service.sql(
        "SELECT user_name, ended_why FROM console_sessions WHERE id = ?", key
    )
    return owner, why


def _audit(console_service: Console, actor: str, action: str) -> list[dict[str, Any]]:
    rows = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = ? AND action = ? ORDER BY id",
        actor,
        action,
    )
    return [json.loads(row[0]) if row[0] else {} for row in rows]


def _open_quiet_case(console_service: Console, viewer: Any, offset: int) -> str:
    """Open an open wage-arrears case a quarter of the way up the scores (`offset` apart for
    each test here): its notes, steps and reveals stay out of the way of the other files'
    tests, which take the highest-scored open cases (the queue's first row), the highest-scored
    yellow ones or the lowest-scored few."""
    ((warning_id,),) = console_service.sql(
        "SELECT id FROM warnings WHERE task = 'wage-arrears' AND status = 'open' "
        "ORDER BY score, id LIMIT 1 OFFSET (SELECT COUNT(*) / 4 FROM warnings "
        "WHERE task = 'wage-arrears' AND status = 'open') + ?",
        offset,
    )
    viewer.go(f"/console/cases/{warning_id}")
    return str(warning_id)


# ----------------------------------------------------------------------------- 1: sign-in tabs


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_sign_in_tab_left_open_signs_in_the_person_typed_not_the_one_signed_in(
    person: Any, console_service: Console, lang: str
) -> None:
    name = f"qa59.tabs.{lang}"
    create_person(name, "labour_inspection", "officer", lang)
    viewer = person()
    first, second = viewer.page, viewer.context.new_page()
    sign_in_page = f"{console_service.url}/console/sign-in?lang={lang}"
    first.goto(sign_in_page)
    second.goto(sign_in_page)
    _submit(second, "sup")
    assert second.url.endswith("/console/queue")
    assert _session_owner(console_service, viewer) == ("sup", None)

    # a wrong password for the other name: refused as any, and the supervisor stays signed in
    with first.expect_response(lambda r: r.url.endswith("/console/sign-in")) as answer:
        _submit(first, name, "not-the-password-42")
    assert answer.value.status == 401
    error = first.locator("#sign-in-error").inner_text()
    assert ("登录失败" if lang == "zh" else "Sign-in failed") in error, error
    assert _session_owner(console_service, viewer) == ("sup", None)
    assert _audit(console_service, f"user:{name}", "sign_in") == []
    assert _audit(console_service, f"user:{name}", "sign_in_failed")[-1]["reason"] == (
        "wrong password"
    )
    screenshots_at_two_widths(first, f"qa59-sign-in-other-refused-{lang}")

    # the right one, from a page whose token the other tab spent: the officer is signed in
    sup_out = len(_audit(console_service, "user:sup", "sign_out"))
    first.goto(sign_in_page)
    second.goto(sign_in_page)
    _submit(second, "sup")
    _submit(first, name)
    assert first.url.endswith("/console/queue"), first.url
    assert _session_owner(console_service, viewer) == (name, None)
    assert _audit(console_service, f"user:{name}", "sign_in") != []
    # the supervisor's session in this browser ended, on their record right after the
    # officer's sign-in; their own sign-out (every session, API tokens too) it is not
    signed_out = _audit(console_service, "user:sup", "sign_out")
    assert len(signed_out) == sup_out + 1, signed_out
    assert signed_out[-1]["console_sessions_ended"] == 1, signed_out[-1]
    assert "session_generation" not in signed_out[-1]  # the API's tokens untouched
    ((actor,),) = console_service.sql(
        "SELECT actor FROM audit_log WHERE id < (SELECT max(id) FROM audit_log "
        "WHERE actor = 'user:sup' AND action = 'sign_out') AND action = 'sign_in' "
        "ORDER BY id DESC LIMIT 1"
    )
    assert actor == f"user:{name}"
    # what the officer does next is theirs: the queue they see is their department's
    queue = first.locator("main").inner_text()
    assert ("劳动保障监察大队" if lang == "zh" else "Labour inspection") in queue
    screenshots_at_two_widths(first, f"qa59-sign-in-other-person-{lang}")
    assert not viewer.watch.outside


def test_a_sign_in_tab_names_the_signed_in_person_or_comes_from_another_site(
    console_service: Console,
) -> None:
    """The same person's name goes on to the page asked for, its password unread (as before);
    a post the browser says came from another site is the form again, nothing signed in."""
    create_person("qa59.site", "labour_inspection", "officer")
    with httpx.Client(
        base_url=console_service.url, follow_redirects=False, timeout=30, verify=LOOPBACK_TLS
    ) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        signed = client.post(
            "/console/sign-in",
            data={"name": "sup", "password": PASSWORD, "csrf": token, "next": "/console/queue"},
        )
        assert signed.status_code == 303
        spent = {"csrf": token, "next": "/console/dashboard"}
        same = client.post("/console/sign-in", data={**spent, "name": " Sup", "password": "x"})
        assert same.status_code == 303 and same.headers["location"] == "/console/dashboard"
        other = {**spent, "name": "qa59.site", "password": PASSWORD}
        for site in ("cross-site", "same-site"):
            refused = client.post("/console/sign-in", data=other, headers={"Sec-Fetch-Site": site})
            assert refused.status_code == 403, site
            assert "登录页面已过期" in refused.text
        assert _audit(console_service, "user:qa59.site", "sign_in") == []
        assert client.get("/console/queue").status_code == 200  # still the supervisor's
        changed = client.post("/console/sign-in", data=other)
        assert changed.status_code == 303
    assert _audit(console_service, "user:qa59.site", "sign_in") != []


# ----------------------------------------------------------------------------- 2: changed cases


def _dispatched_to_labour(person: Any, console_service: Console, offset: int) -> tuple[Any, str]:
    """The supervisor, signed in, and one of the quarter-way open wage-arrears cases
    (`_open_quiet_case`), which they dispatched to labour: the highest-scored open ones are
    the walkthrough's (tests/console/test_walkthrough.py takes an open red one), the lowest
    few other files' (tests/console/test_tampering.py reveals one)."""
    sup = person()
    sup.sign_in("sup")
    warning_id = _open_quiet_case(console_service, sup, offset)
    sup.dispatch("labour_inspection")
    return sup, warning_id


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_note_on_a_case_closed_in_another_tab_comes_back_saying_why(
    person: Any, console_service: Console, lang: str
) -> None:
    name = f"qa59.closed.{lang}"
    create_person(name, "labour_inspection", "officer", lang)
    _sup, warning_id = _dispatched_to_labour(person, console_service, 5 if lang == "zh" else 6)
    officer = person()
    officer.sign_in(name)
    officer.go(f"/console/cases/{warning_id}")
    officer.page.locator("form[aria-labelledby='act-start']").get_by_role("button").click()
    officer.page.wait_for_load_state()
    assert console_service.case_state(warning_id)[0] == "in_progress"
    note_form = officer.page.locator("form[aria-labelledby='act-note']")
    note_form.locator("textarea[name=note]").fill(NOTE[lang])

    other_tab = officer.context.new_page()
    other_tab.goto(f"{console_service.url}/console/cases/{warning_id}")
    close = other_tab.locator("form[aria-labelledby='act-close']")
    close.locator("select[name=outcome]").select_option("confirmed")
    close.get_by_role("button").click()
    other_tab.wait_for_load_state()
    assert console_service.case_state(warning_id)[0] == "closed"

    with officer.page.expect_response(lambda r: r.url.endswith("/note")) as answer:
        note_form.get_by_role("button").click()
    officer.page.wait_for_load_state()
    assert answer.value.status == 409
    stale = officer.page.locator("#stale")
    title = stale.locator("strong").inner_text()
    assert ("您已在另一个窗口" if lang == "zh" else "you changed this case in another") in title
    why = officer.page.locator("#stale-why").inner_text()
    assert (
        "已办结的预警不再记录进展" if lang == "zh" else "A closed case takes no progress note"
    ) in (why), why
    assert officer.page.locator("#stale-typed").inner_text() == NOTE[lang]
    notes = console_service.sql(
        "SELECT count(*) FROM warning_history WHERE warning_id = ? AND event = 'note'", warning_id
    )
    assert notes == [(0,)]
    refused = _audit(console_service, f"user:{name}", "access_refused")[-1]
    assert (refused["step"], refused["warning_id"]) == ("note", warning_id), refused
    screenshots_at_two_widths(officer.page, f"qa59-note-case-closed-{lang}")
    assert all("status of 409" in error for error in officer.watch.errors), officer.watch.errors


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_note_on_a_case_re_routed_away_says_it_moved_and_gives_the_note_back(
    person: Any, console_service: Console, lang: str
) -> None:
    name = f"qa59.moved.{lang}"
    create_person(name, "labour_inspection", "officer", lang)
    sup, warning_id = _dispatched_to_labour(person, console_service, 7 if lang == "zh" else 8)
    officer = person()
    officer.sign_in(name)
    officer.go(f"/console/cases/{warning_id}")
    note_form = officer.page.locator("form[aria-labelledby='act-note']")
    note_form.locator("textarea[name=note]").fill(NOTE[lang])

    sup.go(f"/console/cases/{warning_id}")
    reroute = sup.page.locator("form[aria-labelledby='act-reroute']")
    elsewhere = next(
        code
        for code in reroute.locator("select[name=department] option").evaluate_all(
            "options => options.map(o => o.value)"
        )
        if code and code != "labour_inspection"
    )
    reroute.locator("select[name=department]").select_option(elsewhere)
    reroute.get_by_role("button").click()
    sup.page.wait_for_load_state()
    assert console_service.case_state(warning_id)[1] == elsewhere

    with officer.page.expect_response(lambda r: r.url.endswith("/note")) as answer:
        note_form.get_by_role("button").click()
    officer.page.wait_for_load_state()
    assert answer.value.status == 403
    main = officer.page.locator("main").inner_text()
    moved = "该预警已有变动" if lang == "zh" else "This warning changed after your page was drawn"
    assert moved in main, main
    assert officer.page.locator("#refused-typed").inner_text() == NOTE[lang]
    refused = _audit(console_service, f"user:{name}", "access_refused")[-1]
    assert (refused["step"], refused["attempted"]) == ("note", "feedback"), refused
    screenshots_at_two_widths(officer.page, f"qa59-note-case-moved-{lang}")


# ----------------------------------------------------------------------------- 3: other sign-in


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_note_from_before_signing_in_again_comes_back_in_its_form(
    person: Any, console_service: Console, lang: str
) -> None:
    name = f"qa59.again.{lang}"
    create_person(name, "county_centre", "supervisor", lang)
    viewer = person()
    viewer.sign_in(name)
    warning_id = _open_quiet_case(console_service, viewer, 0 if lang == "zh" else 1)
    note_form = viewer.page.locator("form[aria-labelledby='act-note']")
    note_form.locator("textarea[name=note]").fill(NOTE[lang])

    other_tab = viewer.context.new_page()
    other_tab.goto(f"{console_service.url}/console/queue")
    other_tab.locator("header form[action$='/sign-out'] button").click()
    other_tab.wait_for_load_state()
    _submit(other_tab, name)
    assert other_tab.url.endswith("/console/queue")

    with viewer.page.expect_response(lambda r: r.url.endswith("/note")) as answer:
        note_form.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert answer.value.status == 403
    message = viewer.page.locator("#form-error").inner_text()
    kept = "放回下方表单" if lang == "zh" else "back in the form below"
    assert kept in message, message
    again = viewer.page.locator("form[aria-labelledby='act-note']")
    assert again.locator("textarea[name=note]").input_value() == NOTE[lang]
    screenshots_at_two_widths(viewer.page, f"qa59-note-other-sign-in-{lang}")
    again.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    notes = console_service.sql(
        "SELECT detail FROM warning_history WHERE warning_id = ? AND event = 'note'", warning_id
    )
    assert [json.loads(row[0])["note"] for row in notes] == [NOTE[lang]]


# ----------------------------------------------------------------------------- 4: the purpose


def _on_disk(console_service: Console, text: str) -> list[str]:
    needle = text.encode("utf-8")
    files = [*console_service.root.glob("riskloop.db*"), console_service.log]
    return [path.name for path in files if path.is_file() and needle in path.read_bytes()]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_reveal_purpose_sent_after_the_time_out_is_back_in_its_box(
    person: Any, console_service: Console, lang: str
) -> None:
    name = f"qa59.purpose.{lang}"
    create_person(name, "county_centre", "supervisor", lang)
    viewer = person()
    viewer.sign_in(name)
    warning_id = _open_quiet_case(console_service, viewer, 2 if lang == "zh" else 3)
    reveal = viewer.page.locator("form[aria-labelledby='act-reveal']")
    reveal.locator("textarea[name=purpose]").fill(PURPOSE[lang])
    console_service.age_session(3600)  # past the idle time-out
    reveal.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    query = parse_qs(urlsplit(viewer.page.url).query)
    assert query["unsaved"] == ["1"] and query["kept"] == ["1"], viewer.page.url

    _submit(viewer.page, name)
    assert viewer.page.url == f"{console_service.url}/console/cases/{warning_id}"
    assert viewer.page.locator("#reveal-purpose").input_value() == PURPOSE[lang]
    said = viewer.page.locator("#unsaved").inner_text()
    words = "查看身份请求未执行，未显示身份" if lang == "zh" else "no identity was shown"
    assert words in said, said
    assert viewer.page.locator("#revealed").count() == 0
    reveals = console_service.sql(
        "SELECT count(*) FROM audit_log WHERE action = 'identity_reveal' AND actor = ?",
        f"user:{name}",
    )
    assert reveals == [(0,)]
    refused = _audit(console_service, f"user:{name}", "access_refused")
    assert [r["attempted"] for r in refused] == ["reveal"], refused
    assert _on_disk(console_service, PURPOSE[lang]) == []  # held in memory only
    screenshots_at_two_widths(viewer.page, f"qa59-purpose-kept-{lang}")

    viewer.page.locator("form[aria-labelledby='act-reveal']").get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert viewer.page.locator("#revealed .identity").inner_text().strip() != ""


def test_a_step_sent_after_changing_the_password_is_back_in_its_form(
    person: Any, console_service: Console
) -> None:
    """A session ended by the person's own password change (`changed`): the case page after
    signing in again said nothing (it had no words for that reason) and gave no page."""
    from models.settings import get_settings
    from serving.store import WarningStore

    name = "qa59.changed"
    create_person(name, "county_centre", "supervisor")
    viewer = person()
    viewer.sign_in(name)
    warning_id = _open_quiet_case(console_service, viewer, 4)
    note_form = viewer.page.locator("form[aria-labelledby='act-note']")
    note_form.locator("textarea[name=note]").fill(NOTE["zh"])
    with WarningStore.from_settings(get_settings()) as store:  # on their phone, say
        store.change_password(name, PASSWORD, NEW_PASSWORD)
    note_form.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert "changed=1" in viewer.page.url and "kept=1" in viewer.page.url, viewer.page.url

    with viewer.page.expect_response(lambda r: r.url.endswith(warning_id)) as answer:
        _submit(viewer.page, name, NEW_PASSWORD)
    assert answer.value.status == 200
    box = viewer.page.locator("form[aria-labelledby='act-note'] textarea[name=note]")
    assert box.input_value() == NOTE["zh"]
    assert "您修改密码" in viewer.page.locator("#unsaved").inner_text()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_refused_character_in_the_name_gives_the_sign_in_form_back_saying_so(
    console_service: Console, lang: str
) -> None:
    """A U+202E pasted into the name box answered a bare "bad request" page whose only link
    was the queue; it is the sign-in form again, the character named, nobody signed in."""
    with httpx.Client(
        base_url=console_service.url, follow_redirects=False, timeout=30, verify=LOOPBACK_TLS
    ) as client:
        token = client.get(f"/console/sign-in?lang={lang}").cookies["riskloop_console_pre"]
        answer = client.post(
            "/console/sign-in",
            data={"name": "\u202esup", "password": PASSWORD, "csrf": token, "lang": lang},
        )
    assert answer.status_code == 400, answer.text[:300]
    assert 'id="password"' in answer.text
    said = re.search(r'id="sign-in-error">([^<]*)<', answer.text)
    assert said is not None, answer.text[:500]
    assert "U+202E" in said[1] and ("“用户名”" if lang == "zh" else "“User name”") in said[1]
    assert "riskloop_console" not in {
        c.split("=")[0] for c in answer.headers.get_list("set-cookie")
    }
