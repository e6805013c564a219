"""Re-score QA (rescore43): a case's timeline says what a re-score changed. A new model version
with the same figures read "Score update · Score 22.3%, red", as if nothing had changed (the
history holds `previous_model_version`); now it reads "Model v1 → v2", and a changed score or
level reads "22.3% → 25.0%", "red → orange", in Chinese and in English.

The console runs in this process on uvicorn (as tests/console/test_clock.py does: real HTTP,
a real SQLite store, the real policy and templates); the warnings come through the store's one
scoring write path. The case page is also opened in Debian's Chromium and saved under
test-artifacts/console/ in both languages for a person to look at."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.settings import get_settings
from serving.store import WarningStore
from tests.console.conftest import console_in_process, screenshot
from tests.processes import LOOPBACK_TLS

PASSWORD = "correct-horse-battery"  # a test account only; the store keeps its Argon2 hash
TASK = "wage-arrears"


@pytest.fixture()
def console(isolated_env: Path) -> Iterator[tuple[str, WarningStore]]:
    """The console at `/console/` on a free port, its store, and a supervisor account."""
    settings = get_settings()
    with WarningStore.from_settings(settings) as store:
        for name, lang in (("sup", "zh"), ("sup.en", "en")):
            store.create_user(
                name, department="county_centre", role="supervisor", password=PASSWORD, lang=lang
            )
        with console_in_process(store, settings) as url:
            yield url, store


def _score(store: WarningStore, version: str, score: float, level: str) -> str:
    """The screen's score of one employer by model `version`; its warning's id."""
    (warning_id,) = store.record_scores(
        actor="system:screen",
        task=TASK,
        model_name=f"riskloop-{TASK}",
        model_version=version,
        results=[
            {
                "entity_id": "E-RESCORED",
                "score": score,
                "risk_level": level,
                "reasons": [],
                "actions": [],
                "features": {},
                "district": "wuxing",
            }
        ],
    )
    assert warning_id is not None
    return warning_id


def _timeline(page: str) -> str:
    """The case page's timeline section, its tags dropped and its text unescaped."""
    section = page.split('id="h-timeline"', 1)[1].split("</section>", 1)[0]
    text = " ".join(part.split(">", 1)[-1] for part in section.split("<"))
    return html.unescape(" ".join(text.split()))


def _case_page(url: str, name: str, warning_id: str) -> str:
    """The case page as `name` reads it (in the language of their account), over HTTP."""
    with httpx.Client(base_url=url, timeout=30, verify=LOOPBACK_TLS) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        signed = client.post(
            "/console/sign-in",
            data={"name": name, "password": PASSWORD, "csrf": token, "next": "/console/queue"},
        )
        assert signed.status_code == 303, signed.text[:300]
        page = client.get(f"/console/cases/{warning_id}")
        assert page.status_code == 200, page.text[:300]
        return page.text


def test_the_timeline_says_what_a_rescore_changed(
    console: tuple[str, WarningStore], browser: Any
) -> None:
    url, store = console
    warning_id = _score(store, "1", 0.223, "red")
    assert _score(store, "2", 0.223, "red") == warning_id  # a new version, the same figures
    assert _score(store, "2", 0.25, "orange") == warning_id  # the same version, a new score
    store.add_feedback(
        warning_id,
        actor="user:sup",
        status="closed",
        department=None,
        outcome="false_alarm",
        note=None,
    )
    _score(store, "3", 0.25, "orange")  # scored again after it was closed

    zh, en = (_timeline(_case_page(url, name, warning_id)) for name in ("sup", "sup.en"))

    assert "评分更新 · 系统任务 月度筛查 评分 22.3%，红色 模型 v1 → v2" in zh, zh
    assert "评分 22.3% → 25.0%，红色 → 橙色" in zh, zh
    assert "办结后重新评分 · 系统任务 月度筛查 评分 25.0%，橙色 模型 v2 → v3" in zh, zh
    assert zh.count("模型 v") == 2  # the raise and the score change within v2 name no model
    assert "Score 22.3%, red Model v1 → v2" in en, en
    assert "Score 22.3% → 25.0%, red → orange" in en, en
    assert "Model v2 → v3" in en

    for name, lang in (("sup", "zh"), ("sup.en", "en")):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        try:
            page = context.new_page()
            page.goto(f"{url}/console/sign-in")
            page.locator("#name").fill(name)
            page.locator("#password").fill(PASSWORD)
            page.locator("form.stack button[type=submit]").click()
            page.wait_for_load_state()
            page.goto(f"{url}/console/cases/{warning_id}")
            shown = page.locator("ol.timeline").inner_text()
            assert ("模型 v1 → v2" if lang == "zh" else "Model v1 → v2") in shown, shown
            screenshot(page, f"case-timeline-rescore-{lang}")
        finally:
            context.close()
