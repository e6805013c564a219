"""Explanation charts: valid PNGs, Chinese glyphs when a CJK font exists, a note when not."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from models import explain_plots
from models.explain_plots import (
    FONT_FALLBACK_NOTE,
    Contribution,
    beeswarm_png,
    dependence_png,
    display_value,
    importance_bar_png,
    plot_language,
    waterfall_png,
)
from models.spec import get_spec

CONTRIBUTIONS = [
    Contribution("Unpaid social-insurance months", "社保欠缴月数", "3", 0.9),
    Contribution("Electricity drop", "用电量下降", "20%", 0.4),
    Contribution("Firm age", "企业年龄", "12", -0.3),
    *(Contribution(f"feature {i}", f"特征{i}", "1", 0.01 * i) for i in range(6)),
]


def _size(png: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.size


def test_the_installed_cjk_font_is_found_and_used_for_chinese() -> None:
    language = plot_language("zh")
    assert explain_plots.cjk_font_family() is not None, "install fonts-wqy-microhei"
    assert language.lang == "zh"
    assert language.note == ""
    assert language.both("Sector", "行业") == "Sector / 行业"


def test_without_a_cjk_font_labels_fall_back_to_english_with_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(explain_plots, "cjk_font_family", lambda: None)
    language = plot_language("zh")
    assert (language.lang, language.note) == ("en", FONT_FALLBACK_NOTE)
    assert language.pick("Sector", "行业") == "Sector"
    assert language.both("Sector", "行业") == "Sector"
    assert _size(waterfall_png(CONTRIBUTIONS, -3.0, lang="zh"))[0] > 400


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_waterfall_is_a_png_with_one_row_per_bar(lang: str) -> None:
    few = waterfall_png(CONTRIBUTIONS[:2], -3.0, lang=lang, top_k=2)
    many = waterfall_png(CONTRIBUTIONS, -3.0, lang=lang, top_k=5, score=0.12)
    assert few.startswith(b"\x89PNG")
    assert _size(many)[1] > _size(few)[1]


def test_global_charts_are_pngs() -> None:
    rng = np.random.default_rng(0)
    contributions = rng.normal(size=(200, 6))
    values = rng.normal(size=(200, 6))
    values[:10, 0] = np.nan
    labels = [f"feature {i} / 特征{i}" for i in range(6)]
    for png in (
        importance_bar_png(
            labels, np.abs(contributions).mean(axis=0), ["driver"] * 3 + ["noise"] * 3
        ),
        beeswarm_png(contributions, values, labels, lang="zh"),
        dependence_png(values[:, 0], contributions[:, 0], labels[0], unit="months"),
        dependence_png(
            rng.integers(0, 3, 200).astype(float),
            contributions[:, 1],
            "Sector",
            category_names=("a", "b", "c"),
        ),
    ):
        width, height = _size(png)
        assert width > 300 and height > 200


def test_values_read_the_same_in_charts_and_tables() -> None:
    assert [display_value(v) for v in (None, float("nan"), True, np.bool_(False))] == [
        "–",
        "–",
        "yes",
        "no",
    ]
    assert display_value(True, "zh") == "是"
    assert display_value(0.123456) == "0.123"
    assert display_value(np.float32(1234567.5)) == "1,234,568"
    assert display_value(3) == "3"
    assert display_value("construction") == "construction"


def test_a_category_value_reads_in_the_readers_language_given_its_catalog_entry() -> None:
    """Case pages, explanation pages and charts show "劳资" to a Chinese reader, not "labour"."""
    dispute_type = get_spec("dispute-escalation").feature("dispute_type")
    assert display_value("labour", "zh", dispute_type) == "劳资"
    assert display_value("property_management", "en", dispute_type) == "property management"
    assert display_value(None, "zh", dispute_type) == "–"
    assert display_value("not-a-category", "zh", dispute_type) == "not-a-category"
    amount = get_spec("dispute-escalation").feature("dispute_amount")
    assert display_value(58270.0, "zh", amount) == "58,270 元"


def test_a_number_reads_with_its_catalogs_unit() -> None:
    """The reasons table's value column says what the number is, as the reason sentence does:
    a ratio as a percentage, months, amounts and people with their unit, in the reader's
    language."""
    wage = get_spec("wage-arrears")
    share = next(f for f in wage.features if f.unit == "ratio")
    months = next(f for f in wage.features if f.unit == "months")
    assert display_value(0.293, "zh", share) == "29.3%"
    assert display_value(1, "en", share) == "100%"
    assert display_value(-0.462, "en", share) == "-46.2%"
    assert display_value(3, "zh", months) == "3个月"
    assert display_value(1, "en", months) == "1 month"
    assert display_value(2.0, "en", months) == "2 months"
    assert display_value(None, "en", months) == "–"
    amount = get_spec("dispute-escalation").feature("dispute_amount")
    assert display_value(58270.0, "en", amount) == "58,270 CNY"
    fraud = get_spec("telecom-fraud")
    multiple = next(f for f in fraud.features if f.unit == "ratio" and "%}" not in f.reason_en)
    assert display_value(3.5, "zh", multiple) == "3.5×"


def test_a_waterfall_asked_for_again_is_not_drawn_again() -> None:
    """The same reasons, base and score give the very same chart (kept, not redrawn); any
    change draws anew: a case page shown twice costs one drawing."""
    first = waterfall_png(CONTRIBUTIONS, -2.5, final_margin=-1.0, score=0.2, lang="zh")
    again = waterfall_png(list(CONTRIBUTIONS), -2.5, final_margin=-1.0, score=0.2, lang="zh")
    assert again is first
    assert waterfall_png(CONTRIBUTIONS, -2.5, final_margin=-1.0, score=0.2, lang="en") != first
    assert waterfall_png(CONTRIBUTIONS, -2.5, final_margin=-1.0, score=0.21, lang="zh") != first
    changed = [Contribution("Firm age", "企业年龄", "13", -0.3), *CONTRIBUTIONS[1:]]
    assert waterfall_png(changed, -2.5, final_margin=-1.0, score=0.2, lang="zh") != first


def test_the_waterfall_heading_names_the_raw_output_and_the_calibrated_score_apart() -> None:
    # two sentences in English: it read "... is 42.8% here after calibration, the score ..."
    from models.explain_plots import other_version_title, plot_language, waterfall_heading

    english = waterfall_heading(plot_language("en"), -4.5, -0.29, 0.474)
    assert english == (
        "Why this score: the model's raw output is 42.8% here,\n"
        "from its base value of 1.1% (the expected log-odds, not an average).\n"
        "After calibration, the score is 47.4%."
    )
    assert waterfall_heading(plot_language("en"), -4.5, -0.29, None).endswith("an average).")
    named = waterfall_heading(
        plot_language("en"), -4.5, -0.29, 0.474, other_version_title("en", "2", "3")
    )
    assert named.endswith("base value.\nAfter calibration, the score is 47.4%.")
    # the words as drawn in Chinese (whether this machine has a CJK font or not)
    chinese = waterfall_heading(
        explain_plots.PlotLanguage("zh", ("sans-serif",)), -4.5, -0.29, 0.474
    )
    assert chinese.endswith("本记录 42.8%\n经校准后，评分为 47.4%")
