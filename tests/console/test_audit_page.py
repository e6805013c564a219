"""The console's audit log page (`/console/audit`) against the session's served console.

An auditor reads the rows the filters keep, and the read is an `audit_read` row with the API's
detail keys; anyone else is refused on the record; a filter naming nothing is a 4xx naming its
field with the value given back; a detail holding markup shows as text. One browser visit per
language checks the page as the others are checked and photographs it, desk and phone.
"""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import httpx

from tests.console.conftest import Console, create_person, screenshot, signed_in_client
from tests.console.test_pages import _axe_violations, _overflowing, _unlabelled_controls
from tests.processes import LOOPBACK_TLS

_ROW = re.compile(r"<tr>\s*<td data-label=.*?</tr>", re.S)


def _rows(html: str) -> list[str]:
    """The table's rows as HTML (the header row left out)."""
    return _ROW.findall(html)


def _link(html: str, rel: str) -> str:
    """The pager's link to the `rel` page ("next" or "prev")."""
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    assert found is not None, rel
    return unescape(found[1])


def _ids(html: str) -> list[int]:
    """The audit row numbers the page says it shows, first and last."""
    found = re.search(r"(\d+)–(\d+)", html)
    assert found is not None
    return [int(found[1]), int(found[2])]


def _last(console_service: Console, action: str) -> tuple[str, dict[str, Any]]:
    actor, detail = console_service.sql(
        "SELECT actor, detail FROM audit_log WHERE action = ? ORDER BY id DESC LIMIT 1", action
    )[0]
    return actor, json.loads(detail)


def test_an_auditor_reads_filtered_rows_and_the_read_is_on_record(
    console_service: Console,
) -> None:
    from serving.auth import create_key

    warning_id, task = console_service.sql(
        "SELECT id, task FROM warnings WHERE task = 'wage-arrears' LIMIT 1"
    )[0]
    short = warning_id[:10].lower().replace("w-", "")  # as told by phone: digits only
    query = {"warning_id": short, "task": task, "action": "warning_raised"}
    with signed_in_client(console_service, "audit") as client:
        page = client.get("/console/audit", params=query)
        assert page.status_code == 200, page.text[:500]
        assert page.headers["Cache-Control"] == "no-store"
        rows = _rows(page.text)
        assert len(rows) == 1, page.text[-3000:]
        assert f'href="/console/cases/{warning_id}"' in rows[0]
        assert "<code>warning_raised</code>" in rows[0] and "生成预警" in rows[0]
        assert "工资拖欠" in rows[0] or "欠薪" in rows[0]
        # the nav offers the page to an auditor, marked as the one shown
        assert 'href="/console/audit" aria-current="page"' in page.text
        page_actor, page_read = _last(console_service, "audit_read")

        # by task and action alone: every row is a score request of that task
        fraud = client.get(
            "/console/audit", params={"task": "telecom-fraud", "action": "score_request"}
        )
        assert fraud.status_code == 200
        fraud_rows = _rows(fraud.text)
        assert fraud_rows and all("<code>score_request</code>" in row for row in fraud_rows)
        assert all("电信诈骗" in row for row in fraud_rows), fraud_rows[0]

        # newest first, a page at a time: "older" goes on, "newer" comes back
        first = client.get("/console/audit", params={"action": "warning_raised"})
        assert 'rel="prev"' not in first.text  # the newest rows: nothing newer
        second = client.get(_link(first.text, "next"))
        assert second.status_code == 200
        assert _ids(second.text)[-1] < _ids(first.text)[0]
        back = client.get(_link(second.text, "prev"))
        assert back.status_code == 200 and _rows(back.text) == _rows(first.text)

    assert page_actor == "user:audit"
    assert page_read["channel"] == "console"
    assert page_read["rows"] == 1
    # the API's read of the same filter is on the record with the same keys and values
    key = create_key("audit-page-46", ("audit",))
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as api:
        answer = api.get("/v1/audit", params=query, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text[:300]
    _api_actor, api_read = _last(console_service, "audit_read")
    assert api_read.pop("channel") == "api"
    page_read.pop("channel")
    assert (
        page_read
        == api_read
        == {
            "warning_id": warning_id,
            "task": task,
            "actions": ["warning_raised"],
            "rows": 1,
        }
    )


def test_others_are_refused_on_the_record(console_service: Console) -> None:
    with signed_in_client(console_service, "lab") as client:
        queue = client.get("/console/queue")
        assert "/console/audit" not in queue.text  # no nav link for an officer
        refused = client.get("/console/audit?task=wage-arrears")
    assert refused.status_code == 403
    assert "只有审计员可以查看审计日志" in refused.text
    assert "<table" not in refused.text
    actor, detail = _last(console_service, "access_refused")
    assert actor == "user:lab"
    assert detail["attempted"] == "audit_read"
    assert detail["path"] == "/console/audit"
    assert detail["channel"] == "console"


def test_a_refused_filter_names_its_field_and_gives_the_values_back(
    console_service: Console,
) -> None:
    create_person("audit46", "data_office", "auditor", lang="en")
    reads = len(console_service.sql("SELECT id FROM audit_log WHERE action = 'audit_read'"))
    with signed_in_client(console_service, "audit46") as client:
        future = client.get("/console/audit", params={"since": "2999-01-01", "actor": "zhou"})
        backwards = client.get(
            "/console/audit", params={"since": "2025-03-02", "until": "20250301"}
        )
        nobody = client.get("/console/audit", params={"warning_id": "W-ffffffff0000"})
        not_a_day = client.get("/console/audit", params={"until": "yesterday"})
        position = client.get("/console/audit", params={"after_id": "x", "task": "wage-arrears"})
        ancient = client.get("/console/audit", params={"since": "0001-01-01"})
    assert ancient.status_code == 400  # it was a 500 (the day before it overflowed)
    assert "0001-01-01 is out of range: give a date from 1970-01-01 to 9998-12-31" in ancient.text
    assert future.status_code == 400
    assert 'id="f-since"' in future.text and 'aria-invalid="true"' in future.text
    assert "2999-01-01 is after now" in future.text
    assert 'value="2999-01-01"' in future.text and 'value="zhou"' in future.text
    assert "<table" not in future.text
    assert backwards.status_code == 400
    assert 'href="#f-until"' in backwards.text and "is before the from date" in backwards.text
    assert nobody.status_code == 404
    assert 'href="#f-warning_id"' in nobody.text and "No audit rows mention" in nobody.text
    assert not_a_day.status_code == 400 and "is not a date" in not_a_day.text
    assert position.status_code == 400
    assert 'href="/console/audit?task=wage-arrears"' in position.text
    # the sentence says where its link goes: the newest rows (it said "the oldest")
    assert "start again from the newest rows" in position.text
    # nothing was read: no audit_read row
    after = len(console_service.sql("SELECT id FROM audit_log WHERE action = 'audit_read'"))
    assert after == reads


def test_a_detail_holding_markup_shows_as_text(console_service: Console) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.refused(
            actor="user:mallory",
            action="console_form",
            rule="<script>alert('audit')</script>",
            given={"department": '"><img src=x onerror=alert(1)>'},
        )
    with signed_in_client(console_service, "audit") as client:
        page = client.get("/console/audit", params={"actor": "mallory"})
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#39;audit&#39;)&lt;/script&gt;" in page.text
    row = _rows(page.text)[-1]
    # each detail's key in the page's language (部门), its value as text
    assert "<dt>部门</dt><dd>&#34;&gt;&lt;img src=x onerror=alert(1)&gt;</dd>" in row
    assert "<dt>规则</dt>" in row and "<dt>rule</dt>" not in row


def test_the_page_in_a_browser_in_both_languages(person: Any, console_service: Console) -> None:
    from serving.console.i18n import Messages

    create_person("audit46b", "data_office", "auditor")
    viewer = person()
    # a filter of a few rows: a full-page shot of 100 rows is a 15,000 px tall raster
    viewer.sign_in("audit46b", path="/console/audit?task=wage-arrears&action=score_request")
    for lang in ("zh", "en"):
        t = Messages(lang)  # type: ignore[arg-type]
        if lang == "en":
            viewer.page.locator("header form[action$='/lang'] button").click()
            viewer.page.wait_for_load_state()
        page = viewer.page
        assert page.locator("h1").inner_text() == t("audit.title")
        assert page.locator("table.audit tbody tr").count() > 0
        assert _axe_violations(page) == [], lang
        assert _unlabelled_controls(page) == [], lang
        screenshot(page, f"audit-{lang}-1280")
        page.set_viewport_size({"width": 390, "height": 844})
        assert _overflowing(page) == [], lang
        screenshot(page, f"audit-{lang}-390")
        page.set_viewport_size({"width": 1280, "height": 900})
    assert viewer.watch.errors == [] and viewer.watch.outside == []
    refused = viewer.go("/console/audit?since=2999-01-01&action=identity_reveal")
    assert refused is not None and refused.status == 400  # (the browser logs the 400)
    assert _axe_violations(viewer.page) == []
    screenshot(viewer.page, "audit-refused-en-1280")


def test_every_action_has_a_label_in_both_languages() -> None:
    from serving.console.i18n import Messages
    from serving.store.reads import AUDIT_ACTIONS

    for lang in ("zh", "en"):
        t = Messages(lang)  # type: ignore[arg-type]
        assert [a for a in AUDIT_ACTIONS if t.word("audit_action", a) == a] == [], lang
