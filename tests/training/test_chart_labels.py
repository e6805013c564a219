"""The report's charts keep room for what they show: bilingual feature labels wrap instead of
squeezing the importance bars, and a yes/no dependence plot's ticks read level and full size."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from features.catalog import features
from models.explain_plots import (
    KIND_COLOURS,
    TICK_LABEL_COLUMNS,
    importance_bar_png,
    plot_language,
    tick_label,
)

BAR_COLOUR = tuple(int(KIND_COLOURS["other"][i : i + 2], 16) for i in (1, 3, 5))


def _longest_bar_share(png: bytes) -> float:
    """The widest run of the bars' colour in any pixel row, as a share of the image width."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    close = (np.abs(pixels - np.array(BAR_COLOUR)).sum(axis=2) < 30).sum(axis=1)
    return float(close.max()) / pixels.shape[1]


def test_bilingual_labels_leave_the_bars_most_of_the_width() -> None:
    language = plot_language("en")
    catalog = features("wage-arrears")
    labels = [language.both(f.label_en, f.label_zh) for f in catalog]
    values = np.linspace(0.25, 0.001, len(labels))

    png = importance_bar_png(labels, list(values), lang="en")

    assert _longest_bar_share(png) > 0.5  # the labels took all but ~290 px of 900


def test_a_long_label_wraps_at_its_slash_then_its_spaces() -> None:
    label = (
        "Share of owners' instalments due 15-180 days ago still unpaid / "
        "业主到期工程款（15-180天前到期）未付比例"
    )
    lines = tick_label(label).split("\n")
    assert lines[-1] == "业主到期工程款（15-180天前到期）未付比例"
    assert all(len(line) <= TICK_LABEL_COLUMNS for line in lines[:-1])
    assert tick_label("Sector / 行业") == "Sector / 行业"
