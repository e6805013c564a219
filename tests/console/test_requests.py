"""Bad requests to the console get a clear 4xx and change nothing (plain HTTP, no browser)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from models.pages import CITY_TIME
from serving.console.app import REPORT_SECURITY_POLICY
from tests.console.conftest import PASSWORD, Console
from tests.environment import service_env
from tests.processes import LOOPBACK_TLS


@contextmanager
def _session_of(console_service: Console, name: str) -> Iterator[tuple[httpx.Client, str]]:
    """An HTTP client signed in as `name`, and the session's CSRF token."""
    with httpx.Client(
        base_url=console_service.url, follow_redirects=False, timeout=30, verify=LOOPBACK_TLS
    ) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        signed = client.post(
            "/console/sign-in",
            data={"name": name, "password": PASSWORD, "csrf": token, "next": "/console/queue"},
        )
        assert signed.status_code == 303
        csrf = console_service.sql(
            "SELECT csrf FROM console_sessions WHERE user_name = ? AND ended_at IS NULL "
            "ORDER BY created_at DESC LIMIT 1",
            name,
        )[0][0]
        yield client, csrf


@pytest.fixture()
def signed_in(console_service: Console) -> Iterator[tuple[httpx.Client, str]]:
    """An HTTP client signed in as the supervisor, and the session's CSRF token."""
    with _session_of(console_service, "sup") as session:
        yield session


@pytest.mark.parametrize(
    "query",
    [
        "level=purple",
        "task=no-such-task",
        "date_from=2026-13-01",
        "date_to=03/31/2026",
        "date_from=2026-02-01&date_to=2026-01-01",
        "page=0",
        "page=x",
        "sort=name",
        "district=" + "x" * 65,
    ],
)
def test_a_bad_filter_is_a_400_naming_it(signed_in: tuple[httpx.Client, str], query: str) -> None:
    client, _ = signed_in
    answer = client.get(f"/console/queue?{query}")
    assert answer.status_code == 400
    assert query.split("=")[0] in answer.text
    assert "筛选条件有误" in answer.text and "Traceback" not in answer.text


def test_unknown_cases_paths_and_methods(signed_in: tuple[httpx.Client, str]) -> None:
    client, _ = signed_in
    assert client.get("/console/cases/W-" + "0" * 32).status_code == 404
    assert client.get("/console/cases/not-an-id").status_code == 404
    assert client.get("/console/reports/../../etc/passwd").status_code == 404
    assert client.get("/console/reports/nothing-v1.html").status_code == 404
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404 and "traceback" not in missing.text.lower()
    assert missing.headers["x-content-type-options"] == "nosniff"
    wrong = client.get("/console/sign-out")
    assert wrong.status_code == 405 and "POST" in wrong.headers["allow"]
    # a case form's address opened as a page (Back or Reload after a refused form, a
    # bookmark): the case's page, not a 405 with no way back to it
    case = "W-" + "0" * 32
    for form in ("act", "note", "reveal"):
        opened = client.get(f"/console/cases/{case}/{form}", follow_redirects=False)
        assert opened.status_code == 303, form
        assert opened.headers["location"] == f"/console/cases/{case}"
    odd = client.get("/console/cases/W-1%20x%3Fy/act", follow_redirects=False)
    assert odd.headers["location"] == "/console/cases/W-1%20x%3Fy"  # the id, quoted
    assert client.get("/console/cases/W-1%20x%3Fy/act", follow_redirects=True).status_code == 404


def test_bad_forms_change_nothing(
    signed_in: tuple[httpx.Client, str], console_service: Console
) -> None:
    client, csrf = signed_in
    warning_id, version = console_service.sql(
        "SELECT id, version FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
        "ORDER BY score LIMIT 1"
    )[0]
    before = console_service.sql("SELECT * FROM warnings WHERE id = ?", warning_id)
    path = f"/console/cases/{warning_id}/act"
    cases = [
        ({"transition": "dispatch", "department": "nowhere", "version": version}, 400),
        ({"transition": "dispatch", "department": "tax", "version": "abc"}, 400),
        # an open case closes for no one: its state refuses, as the API's 409 (acfee79)
        ({"transition": "close", "outcome": "prevented", "version": version}, 409),
        ({"transition": "explode", "version": version}, 400),  # no form offers it
        ({"transition": "triage_close", "outcome": "maybe", "version": version}, 400),
        ({"transition": "dispatch", "department": "", "version": version}, 400),
        (
            {"transition": "dispatch", "department": "tax", "version": version, "note": "x" * 5000},
            400,
        ),
    ]
    for data, status in cases:
        answer = client.post(path, data={"csrf": csrf, **{k: str(v) for k, v in data.items()}})
        assert answer.status_code == status, (data, answer.status_code, answer.text[:300])
        assert "Traceback" not in answer.text
    assert console_service.sql("SELECT * FROM warnings WHERE id = ?", warning_id) == before
    # every refused step is in the audit log with the step it asked for; the over-long note,
    # a person's typing given back to shorten, is no refused attempt
    refused = console_service.sql(
        "SELECT detail FROM audit_log WHERE action = 'access_refused' AND actor = 'user:sup' "
        "AND detail LIKE ? ORDER BY id",
        f"%{warning_id}%",
    )
    steps = [json.loads(row[0]) for row in refused]
    assert [(d["attempted"], d.get("step")) for d in steps] == [
        ("feedback", "dispatch"),
        ("feedback", "dispatch"),
        ("feedback", "close"),
        ("feedback", "explode"),
        ("feedback", "triage_close"),
        ("feedback", "dispatch"),
    ]
    assert all(d["rule"] for d in steps)
    short = client.post(
        f"/console/cases/{warning_id}/reveal", data={"csrf": csrf, "purpose": "看看"}
    )
    assert short.status_code == 400
    assert console_service.sql(
        "SELECT count(*) FROM audit_log WHERE action = 'identity_reveal' AND detail LIKE ?",
        f"%{warning_id}%",
    ) == [(0,)]


def test_overdue_filter_and_counts_follow_the_stores_deadlines(
    signed_in: tuple[httpx.Client, str], console_service: Console
) -> None:
    """A case whose `due_at` has passed is found by the queue's overdue filter and counted on
    the dashboard (test_clock.py lets a real deadline pass under a frozen clock)."""
    client, _ = signed_in
    warning_id = console_service.sql(
        "SELECT id FROM warnings WHERE status = 'open' AND task = 'wage-arrears' LIMIT 1"
    )[0][0]
    console_service.sql(
        "UPDATE warnings SET due_at = '2020-01-01 00:00:00.000000' WHERE id = ?", warning_id
    )
    listed = client.get("/console/queue?task=wage-arrears&overdue=1")
    assert listed.status_code == 200 and warning_id in listed.text
    overdue = console_service.sql(
        "SELECT count(*) FROM warnings WHERE task = 'wage-arrears' "
        "AND status IN ('open', 'dispatched') AND due_at <= datetime('now')"
    )[0][0]
    assert overdue >= 1
    link = '/console/queue?task=wage-arrears&amp;overdue=1"><strong>'
    assert f"{link}{overdue}</strong>" in client.get("/console/dashboard").text


def test_scored_warnings_carry_their_district_and_the_queue_filters_on_it(
    signed_in: tuple[httpx.Client, str], console_service: Console
) -> None:
    """The service's scoring (entity ids looked up in the online store) kept each unit's
    district; the queue offers the districts present and keeps to the one chosen."""
    client, _ = signed_in
    by_district = dict(
        console_service.sql(
            "SELECT district, count(*) FROM warnings WHERE task = 'wage-arrears' GROUP BY district"
        )
    )
    assert None not in by_district and len(by_district) >= 2, by_district
    district = max(by_district, key=lambda name: by_district[name])
    queue = client.get("/console/queue").text
    for name in by_district:
        assert f'<option value="{name}">' in queue
    page = client.get(f"/console/queue?task=wage-arrears&district={district}")
    assert page.status_code == 200
    assert f"共 {by_district[district]} 条" in page.text, page.text[:2000]


def _dispatch_one_to_the_brigade(console_service: Console, client: httpx.Client, csrf: str) -> str:
    """Dispatch the lowest-scored open wage-arrears case to labour inspection; its id."""
    warning_id, version = console_service.sql(
        "SELECT id, version FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
        "ORDER BY score LIMIT 1"
    )[0]
    sent = client.post(
        f"/console/cases/{warning_id}/act",
        data={
            "csrf": csrf,
            "transition": "dispatch",
            "department": "labour_inspection",
            "version": str(version),
        },
    )
    assert sent.status_code == 303
    return str(warning_id)


def test_dashboard_sets_this_months_volume_against_capacity(
    signed_in: tuple[httpx.Client, str], console_service: Console
) -> None:
    """A dispatch counts for the receiving department this month (exactly: the warnings raised
    this month that it holds), against the capacity `riskloop departments set-capacity` set."""
    client, csrf = signed_in
    _dispatch_one_to_the_brigade(console_service, client, csrf)
    riskloop = str(Path(sys.executable).with_name("riskloop"))
    env = {**os.environ, **service_env(console_service.root)}
    try:
        capacity = subprocess.run(
            [riskloop, "departments", "set-capacity", "labour_inspection", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert capacity.returncode == 0, capacity.stderr
        page = client.get("/console/dashboard").text
        month_start = (
            datetime.now(CITY_TIME)
            .replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            .astimezone(UTC)
            .replace(tzinfo=None)
        )
        held = console_service.sql(
            "SELECT count(*) FROM warnings WHERE department = 'labour_inspection' "
            "AND status != 'open' AND created_at >= ?",
            month_start.isoformat(sep=" "),
        )[0][0]
        assert held >= 1
        row = page.split('id="capacity-labour_inspection"', 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{held}</td>' in row
        assert "超出能力" in row
    finally:
        console_service.sql(
            "UPDATE departments SET capacity = NULL WHERE code = 'labour_inspection'"
        )


def _this_month(console_service: Console, condition: str) -> int:
    """The warnings raised this month (city time) that meet `condition`, counted in SQL."""
    month_start = (
        datetime.now(CITY_TIME)
        .replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        .astimezone(UTC)
        .replace(tzinfo=None)
    )
    return int(
        console_service.sql(
            f"SELECT count(*) FROM warnings WHERE created_at >= ? AND ({condition})",
            month_start.isoformat(sep=" "),
        )[0][0]
    )


def test_a_departments_month_seen_only_in_part_is_not_shown_as_its_month(
    signed_in: tuple[httpx.Client, str], console_service: Console
) -> None:
    """An anti-fraud supervisor saw `劳动保障监察大队 0 / 40` on the dashboard while the brigade
    held cases this month: only the anti-fraud cases there, none, were counted. A department
    whose warnings the viewer cannot all see is left out, and the page says why; the
    viewer's own department shows its exact month, and the county centre's supervisor, who
    sees every wage-arrears case, still sees the brigade's."""
    from models.settings import get_settings
    from serving.store import WarningStore

    client, csrf = signed_in
    _dispatch_one_to_the_brigade(console_service, client, csrf)
    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(
            "fraud.sup", department="anti_fraud", role="supervisor", password=PASSWORD
        )
    console_service.sql("UPDATE departments SET capacity = 40 WHERE code = 'labour_inspection'")
    try:
        brigade = _this_month(
            console_service, "department = 'labour_inspection' AND status != 'open'"
        )
        assert brigade >= 1
        county = client.get("/console/dashboard").text
        row = county.split('id="capacity-labour_inspection"', 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{brigade}</td><td class="num">40</td>' in row
        own = _this_month(
            console_service,
            "(status != 'open' AND department = 'anti_fraud') OR "
            "((status = 'open' OR department IS NULL) AND task = 'telecom-fraud')",
        )
        assert own >= 1
        with _session_of(console_service, "fraud.sup") as (fraud, fraud_csrf):
            for lang, why in (
                ("zh", "其他部门本月的预警数不在您的查看范围内"),
                ("en", "figures for the month are outside your view"),
            ):
                switched = fraud.post(
                    "/console/lang",
                    data={"lang": lang, "next": "/console/dashboard", "csrf": fraud_csrf},
                )
                assert switched.status_code == 303
                page = fraud.get("/console/dashboard").text
                assert 'id="capacity-labour_inspection"' not in page
                assert 'id="capacity-county_centre"' not in page  # it holds wage-arrears too
                assert 'id="capacity-outside-view"' in page and why in page
                row = page.split('id="capacity-anti_fraud"', 1)[1].split("</tr>", 1)[0]
                assert f'<td class="num">{own}</td>' in row
        # an officer sees the cases dispatched to the centre, not those waiting there: no
        # department's month is theirs to see, and the page says that, not "no warnings"
        with _session_of(console_service, "fraud") as (officer, officer_csrf):
            officer.post(
                "/console/lang", data={"lang": "zh", "next": "/console/queue", "csrf": officer_csrf}
            )
            page = officer.get("/console/dashboard").text
            assert 'id="capacity-anti_fraud"' not in page and "本月尚无预警" not in page
            assert "各部门本月的预警数不在您的查看范围内" in page
    finally:
        console_service.sql(
            "UPDATE departments SET capacity = NULL WHERE code = 'labour_inspection'"
        )


def test_a_bad_date_says_how_to_write_one(signed_in: tuple[httpx.Client, str]) -> None:
    client, _ = signed_in
    answer = client.get("/console/queue?date_from=31.03.2026")
    assert answer.status_code == 400
    assert "评估日期起：“31.03.2026”不是日期" in answer.text and "(date_from)" not in answer.text
    assert "“31.03.2026”不是日期，请按 年-月-日 填写，例如 2026-01-31" in answer.text
    queue = client.get("/console/queue?date_from=2026-01-01&date_to=2026-12-31")
    assert queue.status_code == 200
    assert 'placeholder="年-月-日"' in queue.text and 'value="2026-01-01"' in queue.text


def _frame_source(page: str) -> str:
    match = re.search(r'<iframe class="report" src="([^"]+)"', page)
    assert match is not None, page[:500]
    return match.group(1)


def test_a_report_opens_in_the_visitors_language(
    signed_in: tuple[httpx.Client, str], console_service: Console
) -> None:
    """`riskloop report` wrote both editions: listed once, opened in Chinese for a Chinese
    reader and in English for an English one; a report with no Chinese edition opens in
    English with a note saying so."""
    client, csrf = signed_in
    folder = console_service.root / "reports"
    assert (folder / "wage-arrears-v1.zh.html").is_file()
    english_only = folder / "telecom-fraud-v9.html"  # as written by `riskloop report --lang en`
    english_only.write_text((folder / "wage-arrears-v1.html").read_text("utf-8"), "utf-8")
    seen = {}
    try:
        for lang in ("zh", "en"):
            switched = client.post(
                "/console/lang", data={"lang": lang, "next": "/console/reports", "csrf": csrf}
            )
            assert switched.status_code == 303, switched.text[:300]
            listed = client.get("/console/reports").text
            links = re.findall(r'href="/console/reports/([^"]+)"', listed)
            assert links == ["telecom-fraud-v9.html", "wage-arrears-v1.html"], links

            page = client.get("/console/reports/wage-arrears-v1.html")
            assert page.status_code == 200
            source = _frame_source(page.text)
            assert 'id="report-edition"' not in page.text
            edition = client.get(source)
            assert edition.status_code == 200
            assert edition.headers["content-security-policy"] == REPORT_SECURITY_POLICY
            seen[lang] = (source, re.search(r'<html lang="([^"]+)"', edition.text)[1])

            dashboard = client.get("/console/dashboard").text
            assert 'href="/console/reports/wage-arrears-v1.html"' in dashboard

            fallback = client.get("/console/reports/telecom-fraud-v9.html").text
            assert _frame_source(fallback) == "/console/reports/telecom-fraud-v9.html/file"
            note = {"zh": "这份报告暂无中文版", "en": None}[lang]
            assert (note is not None and note in fallback) == (lang == "zh")
        assert client.get("/console/reports/telecom-fraud-v9.zh.html/file").status_code == 404
        assert client.get("/console/reports/wage-arrears-v1.zh.html").status_code == 200
    finally:
        english_only.unlink()
        client.post("/console/lang", data={"lang": "zh", "next": "/console/queue", "csrf": csrf})
    assert seen == {
        "zh": ("/console/reports/wage-arrears-v1.zh.html/file", "zh-CN"),
        "en": ("/console/reports/wage-arrears-v1.html/file", "en"),
    }


def test_a_task_seen_only_through_the_departments_cases_says_so_on_the_dashboard(
    signed_in: tuple[httpx.Client, str],
) -> None:
    """The county centre's supervisor owns some tasks and sees the others only as far as they
    are dispatched to the centre: those sections say their figures are not the city's (all
    zeros read as "no risk" otherwise)."""
    from features.tasks import TASK_NAMES
    from serving.policy import owned_tasks

    client, _ = signed_in
    page = client.get("/console/dashboard").text
    owned = owned_tasks("county_centre")
    assert owned and set(owned) != set(TASK_NAMES)
    for task in TASK_NAMES:
        section = page.split(f'<section aria-labelledby="h-{task}"', 1)[1].split("</section>", 1)[0]
        partial = "只统计派发给县级矛盾纠纷调处化解中心的此类预警" in section
        assert partial == (task not in owned), (task, section[:400])
