"""The per-warning explanation page, rendered from a real model and rendered in Chromium."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from models.pages import local_time
from models.risk_model import RiskModel
from models.scorer import base_value, margin_from_score, score_frame
from serving.explanation_page import render_warning_page
from serving.store.repository import WarningStore

PAGE_SECTIONS = ["summary", "reasons", "waterfall", "actions", "history"]


def _warning(model: RiskModel, frame: pd.DataFrame, store_dir: Path) -> dict[str, Any]:
    """A real stored warning: scored by the scorer, recorded, dispatched, read back."""
    record = score_frame(model, frame.iloc[[0]], top_k=3, lang="en")[0]
    result = {
        "entity_id": "91330500MA2B3C4D5E",
        "as_of": "2024-01-01",
        "score": record.score,
        "risk_level": record.risk_level if record.risk_level != "green" else "yellow",
        "reasons": [dataclasses.asdict(reason) for reason in record.reasons],
        "actions": [dataclasses.asdict(action) for action in record.actions],
        "features": {},
    }
    with WarningStore(f"sqlite:///{store_dir / 'store.db'}", "test-secret") as store:
        (warning_id,) = store.record_scores(
            actor="screening",
            task="wage-arrears",
            model_name="riskloop-wage-arrears",
            model_version="2",
            results=[result],
        )
        assert warning_id is not None
        store.add_feedback(
            warning_id,
            actor="supervisor-li",
            status="dispatched",
            department="Labour inspection brigade",
            outcome=None,
            note="<script>alert('x')</script> call first",
        )
        return store.get_warning(warning_id)


def _high_risk_rows(model: RiskModel, frame: pd.DataFrame) -> pd.DataFrame:
    scores = model.predict_proba(frame)
    return frame.iloc[scores.argsort()[::-1]].reset_index(drop=True)


def test_waterfall_end_point_is_the_scorers_margin(
    synthetic_model: RiskModel, synthetic_test_slice: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    frame, _ = synthetic_test_slice
    records = score_frame(synthetic_model, frame.iloc[:20])
    for record in records:
        assert margin_from_score(synthetic_model, record.score) == pytest.approx(
            record.raw_margin, abs=1e-6
        )
        assert base_value(synthetic_model) == pytest.approx(record.base_value, abs=1e-12)


@pytest.mark.parametrize(
    ("lang", "serving_version", "chart_note"),
    [
        ("en", "2", "recovered from the calibrated score"),
        ("zh", "3", "该预警由版本 2 评分"),
    ],
)
def test_page_renders_in_chromium_without_errors_or_network(
    lang: str,
    serving_version: str,
    chart_note: str,
    synthetic_model: RiskModel,
    synthetic_test_slice: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
    browser_check,
) -> None:
    frame, _ = synthetic_test_slice
    warning = _warning(synthetic_model, _high_risk_rows(synthetic_model, frame), tmp_path)
    assert "91330500MA2B3C4D5E" not in str(warning)  # the store keeps pseudonyms only
    page = render_warning_page(warning, synthetic_model, lang, model_version=serving_version)
    assert "<script>" not in page
    path = tmp_path / f"warning-{lang}.html"
    path.write_text(page, encoding="utf-8")

    seen = browser_check(path, f"warning-page-{lang}.png")

    assert seen.console_errors == []
    assert seen.network_requests == []
    assert seen.section_ids == PAGE_SECTIONS
    assert len(seen.images) == 1
    assert all(image["complete"] and image["width"] > 300 for image in seen.images)
    assert seen.screenshot is not None and seen.screenshot.stat().st_size > 10_000
    first = warning["reasons"][0]
    feature = synthetic_model.spec.feature(first["feature"])
    if lang == "zh":
        assert seen.title.startswith("预警")
        assert feature.label_zh in page and "已派发" in page
        # dispatched as "Labour inspection brigade": named in the page's language
        assert "劳动保障监察大队" in page and "Labour inspection brigade" not in page
    else:
        assert feature.label_en in page and "dispatched" in page
    assert chart_note in page
    # the history's times read as the city's clock to the minute, as in the console
    raised_at = warning["history"][0]["at"]
    assert local_time(raised_at) in page and str(raised_at) not in page
    # the task, the history's steps and the note in the page's words, as the console has them,
    # not stored keys ("from: open; to: dispatched")
    assert "from:" not in page and "risk_level" not in page and ">wage-arrears<" not in page
    if lang == "zh":
        assert "欠薪风险" in page and "状态：待派发 → 已派发" in page
        assert "备注：&lt;script&gt;" in page and "call first" in page
    else:
        assert "Wage arrears" in page and "Status: open → dispatched" in page
        assert "Note: &lt;script&gt;" in page


def test_the_browser_check_catches_a_leaky_page(tmp_path: Path, browser_check) -> None:
    """Control: a page with a remote image and an erroring script fails every check."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text(
        "<!DOCTYPE html><html><body><section id='x'></section>"
        "<img src='http://127.0.0.1:9/pixel.png'><script>console.error('boom')</script>"
        "</body></html>",
        encoding="utf-8",
    )
    seen = browser_check(leaky, "control-leaky.png")
    assert seen.network_requests == ["http://127.0.0.1:9/pixel.png"]
    assert any("boom" in error for error in seen.console_errors)
    assert [image["width"] for image in seen.images] == [0]


def test_a_model_of_another_task_is_refused(synthetic_model: RiskModel) -> None:
    with pytest.raises(ValueError, match="telecom-fraud warning"):
        render_warning_page({"id": "x", "task": "telecom-fraud", "score": 0.5}, synthetic_model)


def test_the_history_names_people_keys_and_riskloops_own_jobs(
    synthetic_model: RiskModel,
    synthetic_test_slice: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
) -> None:
    """As the console does: a person by the name people read, an API key and riskloop's own
    jobs said as such in the page's language; an account that no longer exists, or no lookup
    at all, as the audit log records it."""
    frame, _ = synthetic_test_slice
    warning = _warning(synthetic_model, _high_risk_rows(synthetic_model, frame), tmp_path)
    raised, dispatched = warning["history"][:2]
    overdue = {
        "event": "overdue",
        "at": dispatched["at"],
        "actor": "system:overdue",
        "deadline": "first_action",
        "due_at": dispatched["at"],
        "department": "labour_inspection",
    }
    history = [
        {**raised, "actor": "key:ingest"},
        {**dispatched, "actor": "user:li"},
        overdue,
        {**dispatched, "actor": "user:gone"},
    ]
    worked = {**warning, "history": history}
    names = {"li": "李主管"}
    zh = render_warning_page(worked, synthetic_model, "zh", display_name=names.get)
    assert "接口密钥 ingest" in zh and "李主管 (li)" in zh and "系统任务 超期巡检" in zh
    assert "user:gone" in zh and "key:ingest" not in zh and "system:overdue" not in zh
    en = render_warning_page(worked, synthetic_model, "en", display_name=names.get)
    assert "API key ingest" in en and "李主管 (li)" in en and "riskloop job" in en
    assert "user:li" in render_warning_page(worked, synthetic_model, "en")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_warning_scored_by_another_version_has_a_waterfall_title_naming_both(
    lang: str,
    synthetic_model: RiskModel,
    synthetic_test_slice: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
) -> None:
    """After a champion change, the chart of a warning the old version scored starts at the
    new version's base value: its default title ("the raw output, 1.7% on average, is 20.0%
    here") mixed the two models into a figure neither gave. The case page's chart and the
    explanation page's each carry the title that names both versions instead."""
    from models.explain_plots import other_version_title, plot_language, waterfall_png
    from serving.console.case import reason_rows, waterfall
    from serving.explanation_page import _waterfall

    frame, _ = synthetic_test_slice
    warning = _warning(synthetic_model, _high_risk_rows(synthetic_model, frame), tmp_path)
    assert warning["model_version"] == "2"
    rows = reason_rows(warning["reasons"], synthetic_model.spec, lang)
    bars = [row.bar(plot_language(lang).lang) for row in rows]

    def drawn(title: str | None) -> bytes:
        return waterfall_png(
            bars,
            base_value(synthetic_model),
            score=float(warning["score"]),
            lang=lang,
            top_k=len(bars),
            title=title,
        )

    named = drawn(other_version_title(lang, "2", "3"))
    assert named != drawn(None)
    assert waterfall(warning, synthetic_model, "3", lang) == named
    assert _waterfall(warning, rows, synthetic_model, lang, "3")["png"] == named
    title = other_version_title(lang, "2", "3")
    assert "2" in title and "3" in title and "%" not in title


def test_a_features_own_action_reads_in_the_pages_language(
    synthetic_model: RiskModel,
    synthetic_test_slice: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
) -> None:
    """An action a feature of its own triggers (not its level's or its driver's) was shown in
    the language the warning was scored in: the page looked up level and driver actions only,
    while the console's case page looked up all three."""
    frame, _ = synthetic_test_slice
    warning = _warning(synthetic_model, _high_risk_rows(synthetic_model, frame), tmp_path)
    spec = synthetic_model.spec
    shared = {
        a for group in (*spec.level_actions.values(), *spec.driver_actions.values()) for a in group
    }
    own = next(a for group in spec.feature_actions.values() for a in group if a not in shared)
    stored = {**warning, "actions": [{"department": own.department_en, "action": own.text_en}]}
    zh = render_warning_page(stored, synthetic_model, "zh")
    assert own.text_zh in zh and own.text_en not in zh
    en = render_warning_page({**stored, "actions": [{"action": own.text_zh}]}, synthetic_model)
    assert own.text_en in en and own.department_en in en
