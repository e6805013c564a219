"""A progress note racing a re-route, sent as the console's note form sends it: written only
while the case is held by the department its decision was made for. A QA session found notes
by a labour officer written after the supervisor had re-routed the case to another department
(the note's write asked nothing of who held the case); now such a note is refused as the steps
are (the officer's answer says the case moved, the note given back) and on the record."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from tests.console.conftest import Console, create_person, screenshot, signed_in_client

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _quiet_case(console_service: Console, offset: int) -> str:
    """An open wage-arrears case a quarter of the way up the scores (as
    tests/console/test_qa59_flows.py takes its own, `offset` past theirs): the other files'
    tests take the highest-scored open cases and the lowest-scored few."""
    ((warning_id,),) = console_service.sql(
        "SELECT id FROM warnings WHERE task = 'wage-arrears' AND status = 'open' "
        "ORDER BY score, id LIMIT 1 OFFSET (SELECT COUNT(*) / 4 FROM warnings "
        "WHERE task = 'wage-arrears' AND status = 'open') + ?",
        offset,
    )
    return str(warning_id)


def _dispatch(warning_id: str, department: str) -> None:
    """The supervisor's dispatch or re-route, through the store the service uses."""
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.add_feedback(
            warning_id, actor="user:sup", status="dispatched", department=department,
            outcome=None, note=None,
        )  # fmt: skip


def _post_notes(
    client: Any,
    warning_id: str,
    token: str,
    version: str,
    statuses: list[int],
    moved: threading.Event,
) -> None:
    """The note form sent again and again, each answer's status kept, until one refuses it
    after the re-route (or answers what the test does not expect)."""
    for _ in range(400):
        answer = client.post(
            f"/console/cases/{warning_id}/note",
            data={"csrf": token, "version": version, "note": "电话联系企业负责人"},
        )
        statuses.append(answer.status_code)
        if answer.status_code != 303 and (answer.status_code != 403 or moved.is_set()):
            return


def test_a_console_note_racing_a_re_route_is_not_written_for_the_department_that_lost_it(
    console_service: Console,
) -> None:
    name = "race.officer"
    create_person(name, "labour_inspection", "officer")
    for offset in (30, 31):
        warning_id = _quiet_case(console_service, offset)
        _dispatch(warning_id, "labour_inspection")
        statuses: list[int] = []
        moved = threading.Event()
        with signed_in_client(console_service, name) as client:
            page = client.get(f"/console/cases/{warning_id}")
            assert page.status_code == 200, page.text[:300]
            token = _CSRF.search(page.text)
            assert token is not None
            version = str(console_service.case_state(warning_id)[2])

            post = (client, warning_id, token[1], version, statuses, moved)
            notes = [threading.Thread(target=_post_notes, args=post) for _ in range(3)]
            for thread in notes:
                thread.start()
            deadline = time.monotonic() + 30
            while statuses.count(303) < 3 and time.monotonic() < deadline:  # some land first
                time.sleep(0.01)
            _dispatch(warning_id, "township_labour")
            moved.set()
            for thread in notes:
                thread.join(timeout=60)
        history = console_service.sql(
            "SELECT id, event, actor FROM warning_history WHERE warning_id = ? ORDER BY id",
            warning_id,
        )
        ((moved_at,),) = console_service.sql(
            "SELECT max(id) FROM warning_history WHERE warning_id = ? AND event = 'disposition'",
            warning_id,
        )
        assert set(statuses) <= {303, 403} and statuses.count(303) >= 3, statuses
        late = [row for row in history if row[1] == "note" and row[0] > moved_at]
        assert late == [], late
        assert 403 in statuses
        refused = console_service.sql(
            "SELECT count(*) FROM audit_log WHERE action = 'access_refused' AND actor = ? "
            "AND detail LIKE ?",
            f"user:{name}",
            f"%{warning_id}%",
        )
        assert refused[0][0] >= 1


def test_a_note_sent_again_is_not_saved_twice(console_service: Console) -> None:
    """The same note sent twice by the same person on the same case (the form sent again: a
    double click, Back then Save) saved two identical notes. The second is answered with the
    case saying the note was saved already; another text, or a colleague's, is saved."""
    name = "again.officer"
    create_person(name, "labour_inspection", "officer")
    create_person("again.colleague", "labour_inspection", "officer")
    warning_id = _quiet_case(console_service, 33)
    _dispatch(warning_id, "labour_inspection")
    notes = "SELECT count(*) FROM warning_history WHERE warning_id = ? AND event = 'note'"
    for person, text, count, repeated in (
        (name, "已电话联系企业财务", 1, False),
        (name, "已电话联系企业财务", 1, True),  # sent again: not saved
        (name, "约定12月9日上门", 2, False),
        ("again.colleague", "约定12月9日上门", 3, False),  # a colleague's, the same words
    ):
        with signed_in_client(console_service, person) as client:
            page = client.get(f"/console/cases/{warning_id}")
            token = _CSRF.search(page.text)
            assert token is not None
            sent = client.post(
                f"/console/cases/{warning_id}/note", data={"csrf": token[1], "note": text}
            )
            assert sent.status_code == 303, sent.text[:300]
            assert console_service.sql(notes, warning_id) == [(count,)], (person, text)
            said = client.get(f"/console/cases/{warning_id}").text
        assert ("这条进展记录刚才已经保存" in said) is repeated, (person, text)
        assert ("进展记录已保存。" in said) is not repeated, (person, text)
    rows = console_service.sql(
        "SELECT count(*) FROM audit_log WHERE action = 'case_note' AND detail LIKE ?",
        f"%{warning_id}%",
    )
    assert rows == [(3,)]


def test_back_then_save_again_in_a_browser_saves_the_note_once(
    person: Any, console_service: Console
) -> None:
    name = "back.officer"
    create_person(name, "labour_inspection", "officer")
    warning_id = _quiet_case(console_service, 34)
    _dispatch(warning_id, "labour_inspection")
    officer = person()
    officer.sign_in(name)
    officer.go(f"/console/cases/{warning_id}")
    form = officer.page.locator("form[aria-labelledby='act-note']")
    form.locator("textarea[name=note]").fill("12月7日电话联系企业财务，约定12月9日上门")
    form.get_by_role("button").click()
    officer.page.wait_for_load_state()
    assert "进展记录已保存。" in officer.page.locator("main").inner_text()
    officer.page.go_back()
    officer.page.wait_for_load_state()
    form = officer.page.locator("form[aria-labelledby='act-note']")
    if not form.locator("textarea[name=note]").input_value():  # not given back: typed again
        form.locator("textarea[name=note]").fill("12月7日电话联系企业财务，约定12月9日上门")
    form.get_by_role("button").click()
    officer.page.wait_for_load_state()
    notes = console_service.sql(
        "SELECT count(*) FROM warning_history WHERE warning_id = ? AND event = 'note'", warning_id
    )
    shown = officer.page.locator("main").inner_text()
    assert notes == [(1,)], shown[:400]
    assert "这条进展记录刚才已经保存" in shown
    screenshot(officer.page, "note-sent-again-zh")
