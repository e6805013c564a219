"""The console under a frozen clock (time-machine): a deadline passing, a month turning.

The console app runs in this test's process, served by uvicorn on a free loopback port (real
HTTP, a real SQLite store, the real policy, sessions and templates), so time-machine's clock is
the console's clock. Its host is a small `Backend` holding the store and the settings, in place
of the BentoML service (which would run in another process, out of the frozen clock's reach);
no model is loaded, which only the case page's waterfall needs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine
from typer.testing import CliRunner

from models.settings import get_settings
from serving.store import WarningStore
from tests.console.conftest import console_in_process
from tests.processes import LOOPBACK_TLS
from training.commands import cli_actor

PASSWORD = "correct-horse-battery"  # a test account only; the store keeps its Argon2 hash
# 23:00 on 31 March in the city (UTC+8): the last hour of March there
MARCH_31_LATE = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)
# 00:30 on 1 April in the city, still 31 March in UTC
APRIL_1_EARLY = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)


@pytest.fixture()
def console(isolated_env: Path) -> Iterator[tuple[str, WarningStore]]:
    """The console at `/console/` on a free port, its store, and a supervisor account."""
    settings = get_settings()
    with WarningStore.from_settings(settings) as store:
        store.create_user("sup", department="county_centre", role="supervisor", password=PASSWORD)
        with console_in_process(store, settings) as url:
            yield url, store


def _raise(store: WarningStore, entity: str, level: str, district: str) -> str:
    """One wage-arrears warning through the store's one write path; its id."""
    (warning_id,) = store.record_scores(
        actor="key:ingest",
        task="wage-arrears",
        model_name="riskloop-wage-arrears",
        model_version="1",
        results=[
            {
                "entity_id": entity,
                "score": {"red": 0.9, "orange": 0.6, "yellow": 0.3}[level],
                "risk_level": level,
                "reasons": [],
                "actions": [],
                "features": {},
                "district": district,
            }
        ],
    )
    assert warning_id is not None
    return warning_id


@contextmanager
def _signed_in(url: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in as the supervisor (at the frozen clock's time)."""
    with httpx.Client(
        base_url=url, follow_redirects=False, timeout=30, verify=LOOPBACK_TLS
    ) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        signed = client.post(
            "/console/sign-in",
            data={"name": "sup", "password": PASSWORD, "csrf": token, "next": "/console/queue"},
        )
        assert signed.status_code == 303, signed.text[:300]
        yield client


def _overdue_count(dashboard: str, task: str) -> str:
    link = f'/console/queue?task={task}&amp;overdue=1"><strong>'
    assert link in dashboard
    return dashboard.split(link, 1)[1].split("</strong>", 1)[0]


def test_a_warning_past_its_deadline_shows_as_overdue(
    console: tuple[str, WarningStore],
) -> None:
    """A red warning must be dispatched within 24 hours: a minute before, it is nowhere
    overdue; a second after, the queue's overdue filter finds it and the dashboard counts it."""
    url, store = console
    t0 = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        late = _raise(store, "E-LATE", "red", "wuxing")
        calm = _raise(store, "E-CALM", "yellow", "wuxing")  # 7 days to dispatch
    with (
        time_machine.travel(t0 + timedelta(hours=23, minutes=59), tick=False),
        _signed_in(url) as client,
    ):
        listed = client.get("/console/queue?task=wage-arrears&overdue=1")
        assert listed.status_code == 200 and late not in listed.text
        assert _overdue_count(client.get("/console/dashboard").text, "wage-arrears") == "0"
        # the deadline is in view before it passes, named as the timeline names a missed one
        queue = client.get("/console/queue?task=wage-arrears&level=red").text
        assert (
            '<span class="due">派发期限 <span class="when">2026-05-07 10:00</span></span>' in queue
        )
        assert (
            "<dt>派发期限</dt><dd>2026-05-07 10:00</dd>"
            in client.get(f"/console/cases/{late}").text
        )
    with time_machine.travel(t0 + timedelta(hours=24, seconds=1), tick=False):
        with _signed_in(url) as client:
            listed = client.get("/console/queue?task=wage-arrears&overdue=1")
            assert listed.status_code == 200
            assert f"/console/cases/{late}" in listed.text and calm not in listed.text
            assert '<span class="overdue">已超期</span>' in listed.text
            assert _overdue_count(client.get("/console/dashboard").text, "wage-arrears") == "1"
            case = client.get(f"/console/cases/{late}").text
            assert "2026-05-07 10:00" in case and '<span class="overdue">已超期</span>' in case
        # dispatching moves the case to its next deadline (72 hours to start): not overdue now
        store.add_feedback(
            late,
            actor="user:sup",
            status="dispatched",
            department="labour_inspection",
            outcome=None,
            note=None,
        )
        with _signed_in(url) as client:
            listed = client.get("/console/queue?task=wage-arrears&overdue=1")
            assert late not in listed.text
            assert _overdue_count(client.get("/console/dashboard").text, "wage-arrears") == "0"
            # 72 hours from the dispatch at 02:00:01 UTC on 7 May: 10:00 on 10 May in the city
            case = client.get(f"/console/cases/{late}").text
            assert "<dt>首次处置期限</dt><dd>2026-05-10 10:00</dd>" in case


def _capacity_row(dashboard: str, code: str) -> str:
    return dashboard.split(f'id="capacity-{code}"', 1)[1].split("</tr>", 1)[0]


def test_the_months_volume_is_exact_and_set_against_the_capacity(
    console: tuple[str, WarningStore],
) -> None:
    """The month is the city's (UTC+8): a warning raised at 23:00 on 31 March there is March's,
    one raised at 00:30 on 1 April is April's. Dispatched ones count for the department they
    went to; one not yet dispatched, for the task's owner. `riskloop departments set-capacity`
    shows at once, and a volume above capacity is marked."""
    from training.cli import app

    url, store = console
    with time_machine.travel(MARCH_31_LATE, tick=False):
        march = _raise(store, "E-MARCH", "red", "wuxing")
    with time_machine.travel(APRIL_1_EARLY, tick=False):
        april = [_raise(store, f"E-APRIL-{n}", "red", "anji") for n in range(2)]
        waiting = _raise(store, "E-WAITING", "orange", "anji")
        for warning_id in (march, *april):
            store.add_feedback(
                warning_id,
                actor="user:sup",
                status="dispatched",
                department="labour_inspection",
                outcome=None,
                note=None,
            )
    runner = CliRunner()
    with time_machine.travel(APRIL_1_EARLY + timedelta(hours=2), tick=False):
        set_two = runner.invoke(app, ["departments", "set-capacity", "labour_inspection", "2"])
        assert set_two.exit_code == 0, set_two.output
        with _signed_in(url) as client:
            page = client.get("/console/dashboard").text
            assert "本月工作量与承载能力（2026-04）" in page
            assert '<th scope="col">承载能力（件/月）</th>' in page  # the figure's unit
            row = _capacity_row(page, "labour_inspection")
            assert '<td class="num">2</td>' in row and "超出能力" not in row
            owner = _capacity_row(page, "county_centre")
            assert '<td class="num">1</td>' in owner and "未设置" in owner
            set_one = runner.invoke(app, ["departments", "set-capacity", "labour_inspection", "1"])
            assert set_one.exit_code == 0, set_one.output
            row = _capacity_row(client.get("/console/dashboard").text, "labour_inspection")
            assert '<td class="num">2</td>' in row and "超出能力" in row
            # by how much, unmistakably: not "1 超出能力", read as one over a capacity of... 1
            assert "超出能力 1 件（2/1）" in row, row
            store.set_user_lang("sup", "en")
            row = _capacity_row(client.get("/console/dashboard").text, "labour_inspection")
            assert "1 over capacity (2 of 1)" in row, row
            store.set_user_lang("sup", "zh")
            # the queue's district filter offers the districts present and keeps to one
            queue = client.get("/console/queue").text
            assert '<option value="anji">安吉县</option>' in queue
            assert '<option value="wuxing">吴兴区</option>' in queue
            assert '<option value="deqing">' not in queue
            anji = client.get("/console/queue?district=anji").text
            assert all(f"/console/cases/{w}" in anji for w in (*april, waiting))
            assert march not in anji
    audited = [
        (row["actor"], row["detail"]["capacity"])
        for row in store.audit_rows()
        if row["action"] == "department_capacity"
    ]
    assert audited == [(cli_actor(), 2), (cli_actor(), 1)]


def test_drifted_features_are_named_as_the_reasons_name_them(
    console: tuple[str, WarningStore],
) -> None:
    """The dashboard's monitoring line names drifted features by their catalog labels in the
    person's language, not by column names (si_arrears_months_3m)."""
    from models.spec import get_spec

    url, _store = console
    feature = get_spec("wage-arrears").features[0]
    folder = get_settings().reports_dir / "monitor"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wage-arrears.json").write_text(
        json.dumps({"task": "wage-arrears", "drift": True, "drifted": [feature.name]}), "utf-8"
    )
    with _signed_in(url) as client:
        dashboard = client.get("/console/dashboard").text
    assert f"发现漂移：{feature.label_zh}" in dashboard and feature.name not in dashboard


def test_districts_whose_warning_rate_monitoring_flagged_are_named_on_the_dashboard(
    console: tuple[str, WarningStore],
) -> None:
    """The latest monitoring's districts flagged against the whole's warning rate are named on
    the dashboard in the person's language, highest rate first, with the report's own rule;
    an unflagged district, the group `missing` and a report without groups name none."""
    url, store = console
    folder = get_settings().reports_dir / "monitor"
    folder.mkdir(parents=True, exist_ok=True)
    groups = {
        "bounds": {"low": 0.8, "high": 1.25},
        "min_units": 50,
        "whole": {"warning_rate": 0.25},
        "columns": [
            {
                "column": "audit_district",
                "groups": [
                    {"group": "anji", "warning_rate": 0.1625, "flag": "low"},
                    {"group": "deqing", "warning_rate": 0.26, "flag": None},
                    {"group": "missing", "warning_rate": 0.9, "flag": "high"},
                    {"group": "wuxing", "warning_rate": 0.375, "flag": "high"},
                ],
            },
            {"column": "audit_sector", "groups": [{"group": "retail", "flag": "low"}]},
        ],
    }
    report = {"task": "wage-arrears", "drift": False, "drifted": [], "groups": groups}
    path = folder / "wage-arrears.json"
    path.write_text(json.dumps(report), "utf-8")
    expected = {
        "zh": (
            "预警率偏离的区县",
            "吴兴区：37.5% 的评估对象被预警，整体为 25.0%（偏高）",
            "安吉县：16.2% 的评估对象被预警，整体为 25.0%（偏低）",
            "高于整体的 1.25 倍或低于 0.8 倍、且评估对象不少于 50 个时列出",
        ),
        "en": (
            "Warning rate out of line",
            "Wuxing: 37.5% of units warned, against 25.0% overall (higher)",
            "Anji: 16.2% of units warned, against 25.0% overall (lower)",
            "above 1.25 or below 0.8 times the whole's, on at least 50 units scored",
        ),
    }
    try:
        for lang, (heading, first, second, rule) in expected.items():
            store.set_user_lang("sup", lang)
            with _signed_in(url) as client:
                page = html.unescape(client.get("/console/dashboard").text)
            assert heading in page and rule in page
            assert page.index(first) < page.index(second)  # the highest rate first
            assert "德清" not in page and "Deqing" not in page
        path.write_text(json.dumps({**report, "groups": None}), "utf-8")
        with _signed_in(url) as client:  # in English, as the loop left it
            page = client.get("/console/dashboard").text
        assert "quiet, no drift" in page and "Warning rate out of line" not in page
    finally:
        store.set_user_lang("sup", "zh")
        path.unlink()


def test_a_case_workers_pages_name_no_command_and_one_clock(
    console: tuple[str, WarningStore],
) -> None:
    """The sign-in page, the dashboard and the reports page speak to a case worker: no command
    lines (`riskloop users`, `set-capacity`, `riskloop monitor`, `riskloop report`) and the
    city's clock called by the one name the footer gives it."""
    url, store = console
    for lang in ("zh", "en"):
        store.set_user_lang("sup", lang)
        with httpx.Client(base_url=url, timeout=30, verify=LOOPBACK_TLS) as client:
            sign_in = client.get(f"/console/sign-in?lang={lang}").text
        with _signed_in(url) as client:
            dashboard = client.get("/console/dashboard").text
            reports = client.get("/console/reports").text  # none written in this folder
        for page in (sign_in, dashboard, reports):
            assert "riskloop users" not in page and "set-capacity" not in page
            assert "riskloop monitor" not in page and "China Standard Time" not in page
            assert "riskloop report" not in page
        assert ("北京时间" if lang == "zh" else "Beijing time") in dashboard
        assert ("尚无模型报告" if lang == "zh" else "No model report yet") in reports


def test_a_refusal_in_english_reads_as_a_sentence(console: tuple[str, WarningStore]) -> None:
    """An officer opening a case not dispatched to them is told why in a sentence, which in
    English starts with a capital (the policy's rule is written for logs)."""
    url, store = console
    warning_id = _raise(store, "E-NOT-YOURS", "red", "anji")
    store.create_user(
        "tax_en", department="tax", role="officer", password=PASSWORD, display_name="Tax officer"
    )
    store.set_user_lang("tax_en", "en")
    with httpx.Client(
        base_url=url, follow_redirects=False, timeout=30, verify=LOOPBACK_TLS
    ) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        client.post(
            "/console/sign-in",
            data={"name": "tax_en", "password": PASSWORD, "csrf": token, "next": "/console/queue"},
        )
        refused = client.get(f"/console/cases/{warning_id}")
    assert refused.status_code == 403
    message = refused.text.split('<p role="alert">', 1)[1].split("</p>", 1)[0]
    assert message[:1].isupper() and "officers" in message.lower(), message
