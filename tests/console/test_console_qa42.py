"""A QA case worker's findings on the console (zh and en), each answered over real HTTP.

- a warning id typed by a Chinese input method in full-width mode (`Ｗ－０７１３ｃｅ９２`), or
  with a space for its dash, answered 404 "no such warning" where `w-0713ce92` opened the case;
  `W-` alone answered 404 where `W-0` said the id was too short; a full-width as-of date in
  the queue's filters was "not a date";
- crafted steps: `version=-1` was "not a number", a close at triage without an outcome was an
  "invalid outcome", and a close of a case not yet started was a 403, though the case's state
  is the reason (a 409, as the API answers);
- a supervisor of the task's owning department starts and closes the cases dispatched over
  the API to an outside body, but could not list them: the queue's department filter offered
  none, a link naming one was "not a choice", and the dashboard's outside bodies' row linked
  nowhere. The filter's "outside bodies" choice lists them, and the row links there.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.console.conftest import (
    Console,
    create_person,
    dispatch_to_outside_body,
    signed_in_client,
)

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_SHOWING = re.compile(r'<p role="status">(.*?)</p>')


def _words(lang: str, key: str, **values: object) -> str:
    from serving.console.i18n import Messages

    return Messages(lang)(key, **values)


def _said(page: str, text: str) -> bool:
    """Whether `page` says `text` (as Jinja escapes it)."""
    from markupsafe import escape

    return str(escape(text)) in page


def _wide(text: str) -> str:
    """`text` as an input method in full-width mode types it (`W-0713` -> `Ｗ－０７１３`)."""
    return text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})


def _any_warning(console_service: Console) -> str:
    return str(
        console_service.sql("SELECT id FROM warnings WHERE task = 'wage-arrears' ORDER BY id")[0][0]
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_full_width_warning_id_opens_the_case(console_service: Console, lang: str) -> None:
    name = f"qa42.named.{lang}"
    create_person(name, "county_centre", "supervisor", lang)
    warning_id = _any_warning(console_service)
    digits = warning_id[2:10]
    with signed_in_client(console_service, name) as client:
        for typed in (
            _wide(f"W-{digits}"),
            f"W－{digits}",
            f"W {digits}",
            f"\u3000W－{digits}\u3000",
        ):
            box = client.get("/console/cases", params={"id": typed})
            assert box.status_code == 303, (typed, box.status_code)
            assert box.headers["location"] == f"/console/cases/{warning_id}", typed
            address = client.get(f"/console/cases/{typed}")
            assert address.headers.get("location") == f"/console/cases/{warning_id}", typed


def test_w_dash_without_digits_is_too_short_as_one_digit_is(console_service: Console) -> None:
    create_person("qa42.short", "county_centre", "supervisor", "en")
    with signed_in_client(console_service, "qa42.short") as client:
        for typed in ("W-", "W－", "W-0"):
            answer = client.get("/console/cases", params={"id": typed})
            assert answer.status_code == 400, (typed, answer.status_code)
            assert _said(answer.text, _words("en", "error.case_id_short", n=8)), typed


def test_a_full_width_as_of_date_filters_the_queue(console_service: Console) -> None:
    create_person("qa42.dates", "county_centre", "supervisor", "zh")
    warning_id = _any_warning(console_service)
    as_of = str(console_service.sql("SELECT as_of FROM warnings WHERE id = ?", warning_id)[0][0])
    day = as_of[:10]
    with signed_in_client(console_service, "qa42.dates") as client:
        listed = client.get("/console/queue", params={"date_from": day, "date_to": day})
        showing = _SHOWING.search(listed.text)
        assert showing is not None
        for typed in (_wide(day), _wide(day).replace("－", "-")):
            queue = client.get("/console/queue", params={"date_from": typed, "date_to": typed})
            assert queue.status_code == 200, (typed, queue.status_code)
            assert f'value="{day}"' in queue.text
            found = _SHOWING.search(queue.text)
            assert found is not None and found[1] == showing[1]


def _act(client: httpx.Client, warning_id: str, **fields: str) -> httpx.Response:
    """A step posted by hand, with the session's form token from the case page."""
    page = client.get(f"/console/cases/{warning_id}")
    assert page.status_code == 200, page.status_code
    token = _CSRF.search(page.text)
    assert token is not None
    return client.post(f"/console/cases/{warning_id}/act", data={"csrf": token[1], **fields})


def _open_case(console_service: Console, offset: int) -> tuple[str, str]:
    """An open wage-arrears case no other test here takes, and its version."""
    warning_id, version = console_service.sql(
        "SELECT id, version FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
        "ORDER BY id DESC LIMIT 1 OFFSET ?",
        offset,
    )[0]
    return str(warning_id), str(version)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_version_no_page_writes_is_said_to_be_no_valid_version(
    console_service: Console, lang: str
) -> None:
    name = f"qa42.version.{lang}"
    create_person(name, "county_centre", "supervisor", lang)
    warning_id, _ = _open_case(console_service, 0)
    with signed_in_client(console_service, name) as client:
        # a number no version is; not a number at all (`²` is a digit to `str.isdigit` only)
        for version, says in (
            ("-1", "error.invalid_version"),
            ("+2", "error.invalid_version"),
            ("1.5", "error.invalid_version"),
            ("x", "error.bad_version"),
            ("²", "error.bad_version"),
        ):
            answer = _act(client, warning_id, transition="triage_close", version=version)
            assert answer.status_code == 400, (version, answer.status_code)
            assert _said(answer.text, _words(lang, says)), version
    assert console_service.case_state(warning_id)[0] == "open"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_close_without_an_outcome_says_none_was_chosen(
    console_service: Console, lang: str
) -> None:
    name = f"qa42.outcome.{lang}"
    create_person(name, "county_centre", "supervisor", lang)
    warning_id, version = _open_case(console_service, 0)
    note = f"已电话核实，企业称本周补发（{lang}）"
    with signed_in_client(console_service, name) as client:
        for outcome in ({}, {"outcome": ""}):
            answer = _act(
                client, warning_id, transition="triage_close", version=version, note=note, **outcome
            )
            assert answer.status_code == 400
            assert _said(answer.text, _words(lang, "error.no_outcome")), outcome
            # the case page again, the note typed back in its form (it was a bare error page)
            assert 'id="triage_close-note"' in answer.text and note in answer.text
        wrong = _act(client, warning_id, transition="triage_close", version=version, outcome="x")
        assert _said(wrong.text, _words(lang, "error.bad_outcome"))
    assert console_service.case_state(warning_id)[0] == "open"


def test_a_step_the_cases_state_refuses_is_a_conflict(console_service: Console) -> None:
    create_person("qa42.sup", "county_centre", "supervisor", "zh")
    create_person("qa42.lab", "labour_inspection", "officer", "en")
    warning_id, version = _open_case(console_service, 1)
    with signed_in_client(console_service, "qa42.sup") as sup:
        sent = _act(
            sup, warning_id, transition="dispatch", department="labour_inspection", version=version
        )
        assert sent.status_code == 303, sent.status_code
    version = str(console_service.case_state(warning_id)[2])
    with signed_in_client(console_service, "qa42.lab") as lab:
        # the department holding it closes it only once started: the case's state refuses
        closing = _act(lab, warning_id, transition="close", outcome="confirmed", version=version)
        assert closing.status_code == 409, closing.status_code
        assert _said(closing.text, "Close is not possible while the warning is dispatched.")
        # an officer may never re-route: who is asking refuses it, in any state
        rerouting = _act(
            lab, warning_id, transition="reroute", department="county_centre", version=version
        )
        assert rerouting.status_code == 403
    assert console_service.case_state(warning_id)[:2] == ("dispatched", "labour_inspection")


OUTSIDE_BODY = "湖州市法律援助中心"


def _outside_cases(console_service: Console, name: str, department: str, role: str) -> set[str]:
    """The cases at an outside body that `name` may see, as the policy decides both."""
    from models.departments import department_code
    from serving.policy import Actor, visible_scope

    scope = visible_scope(Actor.user(name, role, department))
    rows = console_service.sql("SELECT id, task, status, department FROM warnings")
    return {
        warning_id
        for warning_id, task, status, held in rows
        if status != "open"
        and held
        and department_code(held) is None
        and scope.contains({"task": task, "department": held})
    }


def _listed(console_service: Console, name: str) -> dict[str, Any]:
    """What the person's last queue look listed (its audit row: total and the ids shown)."""
    import json

    detail = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = ? AND action = 'warning_list' "
        "ORDER BY id DESC LIMIT 1",
        f"user:{name}",
    )[0][0]
    return dict(json.loads(detail))


def test_the_queue_lists_the_cases_at_outside_bodies_and_the_dashboard_links_there(
    console_service: Console,
) -> None:

    create_person("qa42.owner", "county_centre", "supervisor", "zh")
    create_person("qa42.owner.en", "county_centre", "supervisor", "en")
    create_person("qa42.fraud", "anti_fraud", "supervisor", "en")
    create_person("qa42.officer", "labour_inspection", "officer", "zh")
    warning_id, _ = _open_case(console_service, 2)
    dispatch_to_outside_body(console_service, warning_id, "qa42.county", OUTSIDE_BODY)
    expected = _outside_cases(console_service, "qa42.owner", "county_centre", "supervisor")
    assert warning_id in expected
    for name, lang in (("qa42.owner", "zh"), ("qa42.owner.en", "en")):
        label = _words(lang, "filter.outside_bodies")
        with signed_in_client(console_service, name) as client:
            queue = client.get("/console/queue", params={"department": "outside"})
            assert queue.status_code == 200, queue.status_code
            assert _listed(console_service, name)["total"] == len(expected)
            assert set(_listed(console_service, name)["warning_ids"]) == expected
            assert f'<option value="outside" selected>{label}</option>' in queue.text
            # the choice as the chooser names it, in either language, typed into a link
            for spelling in (_words("zh", "filter.outside_bodies"), label.upper()):
                again = client.get("/console/queue", params={"department": spelling})
                assert again.status_code == 200, spelling
                assert _listed(console_service, name)["total"] == len(expected)
            # the dashboard's outside bodies' row opens that list
            dashboard = client.get("/console/dashboard").text
            row = re.search(r'<tr id="capacity-unlisted"[^>]*><td>(.*?)</td>', dashboard)
            assert row is not None
            assert row[1].startswith('<a href="/console/queue?department=outside">'), row[1]
            # the case page says who this is and who acts for it (QA, 2026-12-07: the body's
            # name alone, nothing saying the supervisor starts and closes the case)
            case = client.get(f"/console/cases/{warning_id}")
            assert case.status_code == 200
            assert _said(case.text, _words(lang, "case.outside_body"))
    # another task's supervisor is offered the choice and lists only their tasks' outside
    # bodies (none of the county centre's); an officer, who sees none, is not offered it
    with signed_in_client(console_service, "qa42.fraud") as client:
        assert client.get("/console/queue?department=outside").status_code == 200
        assert warning_id not in _listed(console_service, "qa42.fraud")["warning_ids"]
    with signed_in_client(console_service, "qa42.officer") as client:
        queue = client.get("/console/queue")
        assert 'value="outside"' not in queue.text
