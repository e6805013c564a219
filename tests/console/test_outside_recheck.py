"""A QA re-check of the console's outside bodies and state refusals, answered over real HTTP.

- the queue's outside-bodies choice read only `department=outside` as typed, and the choice's
  full labels: `OUTSIDE` and its short names (外部机构, "outside bodies") were "not one of the
  choices", though every other department code is read in any letter case;
- the English refusal of a step the case's state does not allow named the status by its code
  ("... while the warning is in_progress"), where the Chinese names it in words.
"""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from tests.console.conftest import (
    Console,
    create_person,
    dispatch_to_outside_body,
    signed_in_client,
)

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_VERSION = re.compile(r'name="version" value="([^"]+)"')
OUTSIDE_BODY = "嘉兴市劳动争议仲裁院"


def _open_case(console_service: Console, offset: int) -> str:
    """An open wage-arrears case no other test of the console takes."""
    return str(
        console_service.sql(
            "SELECT id FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
            "ORDER BY id LIMIT 1 OFFSET ?",
            offset,
        )[0][0]
    )


def _act(client: httpx.Client, warning_id: str, **fields: str) -> httpx.Response:
    """A step posted by hand, with the session's form token and the case's stored version."""
    page = client.get(f"/console/cases/{warning_id}")
    assert page.status_code == 200, page.status_code
    token = _CSRF.search(page.text)
    assert token is not None
    version = _VERSION.search(page.text)
    assert version is not None
    return client.post(
        f"/console/cases/{warning_id}/act",
        data={"csrf": token[1], "version": version[1], **fields},
    )


def _listed_total(console_service: Console, name: str) -> int:
    """How many warnings the person's last queue look listed (its audit row)."""
    detail = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = ? AND action = 'warning_list' "
        "ORDER BY id DESC LIMIT 1",
        f"user:{name}",
    )[0][0]
    return int(json.loads(detail)["total"])


def _dispatch_outside(console_service: Console, offset: int, key_name: str) -> None:
    """An open case dispatched over the API to an outside body (a name no department has)."""
    dispatch_to_outside_body(
        console_service, _open_case(console_service, offset), key_name, OUTSIDE_BODY
    )


def test_the_outside_bodies_choice_is_read_in_any_case_and_by_its_short_names(
    console_service: Console,
) -> None:
    create_person("recheck.owner", "county_centre", "supervisor", "en")
    _dispatch_outside(console_service, 20, "recheck.county")
    with signed_in_client(console_service, "recheck.owner") as client:
        listed = client.get("/console/queue", params={"department": "outside"})
        assert listed.status_code == 200
        total = _listed_total(console_service, "recheck.owner")
        assert total >= 1
        for spelling in ("OUTSIDE", "Outside", "外部机构", "outside bodies", " Outside Bodies "):
            queue = client.get("/console/queue", params={"department": spelling})
            assert queue.status_code == 200, (spelling, queue.status_code)
            assert '<option value="outside" selected>' in queue.text, spelling
            assert _listed_total(console_service, "recheck.owner") == total, spelling


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        ("en", "Reroute is not possible while the warning is in progress."),
        ("zh", "预警当前状态（处置中）下不能执行此操作"),
    ],
)
def test_a_refusal_by_state_names_the_status_in_words(
    console_service: Console, lang: str, says: str
) -> None:
    owner, handler = f"recheck.sup.{lang}", f"recheck.lab.{lang}"
    create_person(owner, "county_centre", "supervisor", lang)
    create_person(handler, "labour_inspection", "officer", lang)
    warning_id = _open_case(console_service, 21)
    with signed_in_client(console_service, owner) as sup:
        sent = _act(sup, warning_id, transition="dispatch", department="labour_inspection")
        assert sent.status_code == 303, sent.status_code
    with signed_in_client(console_service, handler) as lab:
        started = _act(lab, warning_id, transition="start")
        assert started.status_code == 303, started.status_code
    assert console_service.case_state(warning_id)[0] == "in_progress"
    with signed_in_client(console_service, owner) as sup:
        rerouting = _act(sup, warning_id, transition="reroute", department="county_centre")
        assert rerouting.status_code == 409, rerouting.status_code
        assert says in rerouting.text
    assert console_service.case_state(warning_id)[:2] == ("in_progress", "labour_inspection")


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        ("zh", "（此处为本月预警数；点开的列表含各月的预警）"),
        ("en", "(this month's count; the list it opens shows every month's)"),
    ],
)
def test_the_dashboards_outside_bodies_row_says_its_list_holds_every_month(
    console_service: Console, lang: str, says: str
) -> None:
    """The row counts this month's warnings (by when they were raised); the queue it links to
    filters by the as-of date, not by that: the row says the list is every month's."""
    name = f"recheck.dash.{lang}"
    create_person(name, "county_centre", "supervisor", lang)
    # a case of its own at an outside body this month (run alone, no other test made one)
    _dispatch_outside(console_service, 22, name)
    with signed_in_client(console_service, name) as client:
        dashboard = client.get("/console/dashboard")
    assert dashboard.status_code == 200
    row = re.search(r'<tr id="capacity-unlisted"[^>]*><td>(.*?)</td>', dashboard.text)
    assert row is not None
    assert "department=outside" in row[1] and says in html.unescape(row[1])
