"""A step sent after the session timed out comes back in its form after signing in again.

The sign-in page already said the step was not saved; after signing in, the case form was
empty, the typed note lost. Now the step's note and choices are kept in the service's memory
(never on disk or in a log), under a random ticket in a short-lived HttpOnly, SameSite=Strict
cookie, bound to the person whose session timed out: that person, back on that case, finds
them in its form, once; nobody else ever does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.console.conftest import (
    PASSWORD,
    Console,
    create_person,
    screenshot,
    session_client,
)

UNSAVED = "riskloop_console_unsaved"


def _supervisor(name: str) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department="county_centre", role="supervisor", password=PASSWORD)


def _sign_in_here(viewer: Any, name: str) -> None:
    """Sign in on the sign-in page the browser shows now."""
    viewer.page.locator("#name").fill(name)
    viewer.page.locator("#password").fill(PASSWORD)
    viewer.page.locator("form.stack button[type=submit]").click()
    viewer.page.wait_for_load_state()


def _fill_dispatch(viewer: Any, note: str) -> Any:
    form = viewer.page.locator("form[aria-labelledby='act-dispatch']")
    form.locator("select[name=department]").select_option("labour_inspection")
    form.locator("textarea[name=note]").fill(note)
    return form


def _on_disk(console_service: Console, text: str) -> list[str]:
    """The service's files (the store's database and its journal, the server's log) that hold
    `text`."""
    needle = text.encode("utf-8")
    files = [*console_service.root.glob("riskloop.db*"), console_service.log]
    return [path.name for path in files if path.is_file() and needle in path.read_bytes()]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_step_sent_after_the_time_out_is_back_in_its_form_after_signing_in(
    person: Any, console_service: Console, lang: str
) -> None:
    name = f"unsaved.{lang}"
    _supervisor(name)
    note = f"已电话联系企业负责人（工号 A-{lang}-20931），约定下周五前补发工资，请劳动监察跟进。"
    viewer = person()
    viewer.sign_in(name)
    if lang == "en":  # remembered on the account: the sign-in page after the time-out too
        viewer.page.locator("header form[action$='/lang'] button").click()
        viewer.page.wait_for_load_state()
    warning_id = viewer.open_case(status="open", level="yellow")
    before = console_service.case_state(warning_id)
    form = _fill_dispatch(viewer, note)
    console_service.age_session(3600)  # past the idle time-out
    form.get_by_role("button").click()
    viewer.page.wait_for_load_state()

    query = parse_qs(urlsplit(viewer.page.url).query)
    assert query["unsaved"] == ["1"] and query["kept"] == ["1"], viewer.page.url
    notice = viewer.page.locator("main p.note").inner_text()
    words = {
        "zh": ("刚才提交的操作未保存", "会放回表单"),
        "en": ("was not saved", "back in its form"),
    }[lang]
    assert all(part in notice for part in words), notice
    ticket = viewer.cookie(UNSAVED)
    assert ticket is not None and ticket["httpOnly"] and ticket["sameSite"] == "Strict"
    assert ticket["path"] == "/console" and note not in ticket["value"]
    screenshot(viewer.page, f"unsaved-sign-in-{lang}")

    _sign_in_here(viewer, name)
    assert viewer.page.url == f"{console_service.url}/console/cases/{warning_id}"
    dispatch = viewer.page.locator("form[aria-labelledby='act-dispatch']")
    assert dispatch.locator("textarea[name=note]").input_value() == note
    assert dispatch.locator("select[name=department]").input_value() == "labour_inspection"
    said = viewer.page.locator("#unsaved").inner_text()
    assert ("未保存" if lang == "zh" else "was not saved") in said, said
    assert console_service.case_state(warning_id) == before  # nothing was done
    assert viewer.cookie(UNSAVED) is None  # given back once
    screenshot(viewer.page, f"unsaved-case-{lang}")
    # the text lived in memory only: not in the database, its journal, or the server's log
    assert _on_disk(console_service, note) == []

    # sent again from the form given back, it is saved
    dispatch.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert console_service.case_state(warning_id)[0] == "dispatched"
    viewer.page.reload()
    assert viewer.page.locator("#unsaved").count() == 0


def test_a_kept_step_is_given_to_no_one_else(person: Any, console_service: Console) -> None:
    """Another person signing in on the same browser opens the case with an empty form; the
    step stays for its own person. A form that was not drawn under one of the person's
    sessions (a forged or another's token) is kept for nobody."""
    _supervisor("unsaved.owner")
    note = "回访记录：当事人手机号 139 0000 1234，已同意下周面谈。"
    viewer = person()
    viewer.sign_in("unsaved.owner")
    warning_id = viewer.open_case(status="open", level="yellow")
    form = _fill_dispatch(viewer, note)
    console_service.age_session(3600)
    form.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert viewer.cookie(UNSAVED) is not None

    _sign_in_here(viewer, "sup")  # someone else, on this browser
    assert viewer.page.url == f"{console_service.url}/console/cases/{warning_id}"
    assert note not in viewer.page.content()
    assert viewer.page.locator("#unsaved").count() == 0
    dispatch = viewer.page.locator("form[aria-labelledby='act-dispatch']")
    assert dispatch.locator("textarea[name=note]").input_value() == ""
    viewer.sign_out()

    _sign_in_here(viewer, "unsaved.owner")  # its own person still finds it
    viewer.go(f"/console/cases/{warning_id}")
    assert viewer.page.locator("form[aria-labelledby='act-dispatch'] textarea").input_value() == (
        note
    )

    # a form whose token is none of this person's sessions (forged, or another person's):
    # nothing kept
    other = person()
    other.sign_in("sup")
    theirs = str(
        other.page.locator("header form[action$='/lang'] input[name=csrf]").get_attribute("value")
    )
    for token in ("forged-token-0123456789abcdef", theirs):
        viewer.go("/console/queue")
        if "/console/sign-in" in viewer.page.url:  # the last round's post ended the session
            _sign_in_here(viewer, "unsaved.owner")
        console_service.age_session(3600)
        with session_client(console_service, viewer) as client:
            answer = client.post(
                f"/console/cases/{warning_id}/act",
                data={"csrf": token, "transition": "dispatch", "note": note, "version": "1"},
            )
        assert answer.status_code == 303
        assert "unsaved=1" in answer.headers["location"]
        assert "kept=1" not in answer.headers["location"]
        assert UNSAVED not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_progress_note_sent_after_the_time_out_is_back_in_its_form(
    person: Any, console_service: Console, lang: str
) -> None:
    """The progress note's form too (it was lost: the sign-in page asked to check it and send
    it again, and the case page came back with the box empty): kept, given back once, and on
    the record as the refused note it was."""
    import json

    name = f"unsaved.note.{lang}"
    create_person(name, "county_centre", "supervisor", lang)
    note = f"下午走访了当事人双方，调解员到场，双方同意下周复谈（{lang}）。"
    viewer = person()
    viewer.sign_in(name)
    warning_id = viewer.open_case(status="open", level="yellow")
    before = console_service.case_state(warning_id)
    form = viewer.page.locator("form[aria-labelledby='act-note']")
    form.locator("textarea[name=note]").fill(note)
    console_service.age_session(3600)
    form.get_by_role("button").click()
    viewer.page.wait_for_load_state()

    query = parse_qs(urlsplit(viewer.page.url).query)
    assert query["unsaved"] == ["1"] and query["kept"] == ["1"], viewer.page.url
    refused = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = ? AND action = 'access_refused'",
        f"user:{name}",
    )
    details = [json.loads(row[0]) for row in refused]
    assert [(d.get("step"), d["attempted"]) for d in details] == [("note", "feedback")], details

    _sign_in_here(viewer, name)
    assert viewer.page.url == f"{console_service.url}/console/cases/{warning_id}"
    box = viewer.page.locator("form[aria-labelledby='act-note'] textarea[name=note]")
    assert box.input_value() == note
    said = viewer.page.locator("#unsaved").inner_text()
    assert ("未保存" if lang == "zh" else "was not saved") in said, said
    assert console_service.case_state(warning_id) == before
    assert _on_disk(console_service, note) == []
    screenshot(viewer.page, f"unsaved-note-{lang}")

    viewer.page.locator("form[aria-labelledby='act-note']").get_by_role("button").click()
    viewer.page.wait_for_load_state()
    history = console_service.sql(
        "SELECT detail FROM warning_history WHERE warning_id = ?", warning_id
    )
    notes = [json.loads(row[0]).get("note") for row in history if row[0]]
    assert notes.count(note) == 1, notes
