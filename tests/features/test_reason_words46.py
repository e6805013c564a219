"""Reason and chart words a resident or case worker would misread (review of seed 4646).

A signed percentage rounded to zero read "-0%" or "+0%" beside "(raises risk)"; the age reasons
made a population claim ("the most targeted age group") and promised an exact age the birth
year alone cannot give; the waterfall called sigmoid(mean log-odds) an average.
"""

from __future__ import annotations

import pytest

from features import catalog
from features.catalog.entries import fill_reason
from models.explain_plots import PlotLanguage, display_value, plot_language, waterfall_heading
from models.scorer import reason_sentence


@pytest.mark.parametrize(
    ("value", "english", "chinese"),
    [
        (-0.0044, "declared sales trending -0.4% a month", "月均变化-0.4%"),
        (0.0044, "declared sales trending +0.4% a month", "月均变化+0.4%"),
        (0.0, "declared sales trending 0% a month", "月均变化0%"),
        (-0.0, "declared sales trending 0% a month", "月均变化0%"),
        (-0.0003, "declared sales trending about 0% a month", "月均变化约0%"),
        (0.3, "declared sales trending +30% a month", "月均变化+30%"),
    ],
)
def test_a_signed_percentage_near_zero_never_reads_as_a_signed_zero(
    value: float, english: str, chinese: str
) -> None:
    trend = catalog.feature("wage-arrears", "sales_trend_6m")
    sentence = reason_sentence(trend, value, "raises", "en")
    assert sentence.startswith(english) and sentence.endswith("(raises risk)"), sentence
    assert chinese in reason_sentence(trend, value, "raises", "zh")
    for text in (sentence, trend.reason_text(value, "zh")):
        assert "-0%" not in text and "+0%" not in text, text


def test_every_percentage_reason_of_the_catalog_shows_a_small_change() -> None:
    """The format lives once (`fill_reason`), so every percent reason gets it."""
    percent = [f for entries in catalog.CATALOG.values() for f in entries if "%}" in f.reason_en]
    assert len(percent) >= 8
    for f in percent:
        for lang in ("en", "zh"):
            text = f.reason_text(-0.0044, lang)
            assert "-0.4%" in text, (f.name, text)
            assert "0%" not in text.replace("-0.4%", ""), (f.name, text)
    assert fill_reason("{value:.0%} unpaid", 0.004) == "0.4% unpaid"
    assert fill_reason("{value:.0%} unpaid", 0.0) == "0% unpaid"
    assert fill_reason("变化{value:+.0%}", -0.0001, lang="zh") == "变化约0%"


def test_a_ratio_shown_as_a_percentage_in_the_table_never_reads_minus_zero() -> None:
    change = catalog.feature("wage-arrears", "electricity_change_3m")
    assert display_value(-0.0, "en", change) == "0%"
    assert display_value(-0.0044, "en", change) == "-0.44%"


def test_the_age_reasons_state_the_birth_year_fact_not_a_population_claim() -> None:
    """18-30 had the lowest base rate of the city: the SHAP suffix gives the direction. The
    age is as-of year minus birth year, so a resident born in December 2007 scored on
    2025-01-01 is 17 but counts: the words say the birth-year rule, not "aged 18-30"."""
    young = catalog.feature("telecom-fraud", "is_young_adult")
    elderly = catalog.feature("telecom-fraud", "elderly_living_alone")
    assert reason_sentence(young, True, "raises", "en") == (
        "turning 18-30 in the year scored, by birth year (raises risk)"
    )
    assert reason_sentence(young, True, "lowers", "zh") == (
        "按出生年份计，评分当年满18-30岁（风险下降）"
    )
    assert reason_sentence(elderly, True, "raises", "en") == (
        "living alone, turning 65 or older in the year scored, by birth year (raises risk)"
    )
    assert reason_sentence(elderly, True, "raises", "zh") == (
        "独居，按出生年份计评分当年满65岁及以上（风险上升）"
    )
    for f in (young, elderly):
        words = " ".join((f.reason_en, f.reason_zh, f.label_en, f.label_zh))
        assert "targeted" not in words and "高发" not in words, f.name
        assert "birth year" in f.reason_en and "出生年份" in f.reason_zh, f.name
        assert "birth year" in f.label_en and "出生年份" in f.label_zh, f.name


def test_the_waterfall_heading_calls_the_base_value_the_expected_log_odds() -> None:
    """sigmoid(-4.5) = 1.1% is the model's expected log-odds as a probability, not the mean
    of its raw outputs."""
    english = waterfall_heading(plot_language("en"), -4.5, -0.29, None)
    assert "on average" not in english
    assert "base value of 1.1% (the expected log-odds, not an average)" in english
    assert "42.8% here" in english
    chinese = waterfall_heading(PlotLanguage("zh", ("sans-serif",)), -4.5, -0.29, 0.474)
    assert "平均 1.1%" not in chinese
    assert chinese.startswith("评分依据：模型原始输出 基准值 1.1%（期望对数几率，非平均值）")
