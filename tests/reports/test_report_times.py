"""Both editions of a model report give their times on the city's clock (Beijing time), as the
console does, and say so: the English edition gave the same moments in UTC, so its readers saw
one moment as two different times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pandas as pd

from models.pages import CITY_TIME
from models.risk_model import RiskModel
from training.report import RunInfo, build_reports


def _text(page: str) -> str:
    """A page's words, without its markup and embedded figures (whose base64 may spell UTC)."""
    return re.sub(r"<[^>]*>", " ", page)


def _city_minutes(start: datetime, end: datetime) -> set[str]:
    """Every minute from `start` to `end` as the city's clock reads it."""
    minute = start.replace(second=0, microsecond=0)
    minutes = set()
    while minute <= end:
        minutes.add(minute.astimezone(CITY_TIME).strftime("%Y-%m-%d %H:%M"))
        minute += timedelta(minutes=1)
    return minutes


def test_both_editions_give_the_same_beijing_times(
    synthetic_model: RiskModel, synthetic_test_slice: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    frame, _ = synthetic_test_slice
    before = datetime.now(UTC)
    reports = build_reports(
        "wage-arrears",
        synthetic_model,
        frame,
        run_info=RunInfo(
            name="riskloop-wage-arrears", version="1", trained_at="2026-12-05 15:09 UTC"
        ),
        max_explained_rows=100,
    )
    after = datetime.now(UTC)
    english, chinese = reports["en"], reports["zh"]

    assert "<dd>2026-12-05 23:09 (Beijing time)</dd>" in english
    assert "<dd>2026-12-05 23:09（北京时间）</dd>" in chinese
    assert "UTC" not in _text(english) and "UTC" not in _text(chinese)

    en_generated = re.search(r"Generated (\S+ \S+) \(Beijing time\)\.", english)
    zh_generated = re.search(r"生成时间：(\S+ \S+)（北京时间）。", chinese)
    assert en_generated and zh_generated
    assert en_generated[1] == zh_generated[1]
    assert en_generated[1] in _city_minutes(before, after)
