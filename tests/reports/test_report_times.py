"""Both editions of a model report give their times on the city's clock (Beijing time), as the
console does, and say so: the English edition gave the same moments in UTC, so its readers saw
one moment as two different times."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from models.pages import CITY_TIME


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


def test_both_editions_give_the_same_beijing_times(synthetic_reports_built: Any) -> None:
    """(The session's synthetic reports, trained at 03:04 UTC: 11:04 on the city's clock.)"""
    english, chinese = synthetic_reports_built.pages["en"], synthetic_reports_built.pages["zh"]
    before, after = synthetic_reports_built.started, synthetic_reports_built.ended

    assert "<dd>2026-01-02 11:04 (Beijing time)</dd>" in english
    assert "<dd>2026-01-02 11:04（北京时间）</dd>" in chinese
    assert "UTC" not in _text(english) and "UTC" not in _text(chinese)

    en_generated = re.search(r"Generated (\S+ \S+) \(Beijing time\)\.", english)
    zh_generated = re.search(r"生成时间：(\S+ \S+)（北京时间）。", chinese)
    assert en_generated and zh_generated
    assert en_generated[1] == zh_generated[1]
    assert en_generated[1] in _city_minutes(before, after)
