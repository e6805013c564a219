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

from tests.console.conftest import Console, create_person, signed_in_client

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
