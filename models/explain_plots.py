"""Explanation charts as PNG bytes: one warning's waterfall and the global SHAP views.

Serving (the per-warning page) and training (the model report) both draw these, so they live in
`models/`, which both may import. Every chart is drawn on its own `Figure` with an Agg canvas:
no pyplot state, no backend switch at import, safe inside a server worker.

Chinese labels need a CJK font. `plot_language` finds an installed one (Debian
`fonts-wqy-microhei` or `fonts-noto-cjk`); without one, charts fall back to English labels and
say so in a visible note, rather than drawing empty boxes.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from features.catalog import FeatureDef

Lang = Literal["en", "zh"]

CJK_FONT_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Noto Sans CJK JP",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
)
_CJK_FONT_FILE_HINTS = (
    "notosanscjk",
    "notoserifcjk",
    "wqy-microhei",
    "wqy-zenhei",
    "sourcehansans",
)
_LATIN_FONT = "DejaVu Sans"

RAISES_COLOUR = "#c0392b"
LOWERS_COLOUR = "#2e6da4"
NEUTRAL_COLOUR = "#7f8c8d"
KIND_COLOURS = {"driver": "#c0392b", "noise": "#7f8c8d", "other": "#2e6da4"}

FONT_FALLBACK_NOTE = (
    "Chinese labels are shown in English: no CJK font is installed "
    "(install fonts-wqy-microhei or fonts-noto-cjk)."
)


@cache
def cjk_font_family() -> str | None:
    """Name of an installed CJK-capable font, or None.

    Looks in matplotlib's font list first, then on disk, because the font cache may predate the
    font's installation.
    """
    from matplotlib import font_manager

    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    for family in CJK_FONT_FAMILIES:
        if family in installed:
            return family
    for path in font_manager.findSystemFonts():
        if any(hint in Path(path).name.lower() for hint in _CJK_FONT_FILE_HINTS):
            font_manager.fontManager.addfont(path)
            return str(font_manager.FontProperties(fname=path).get_name())
    return None


@dataclass(frozen=True)
class PlotLanguage:
    """The language charts are actually drawn in, the fonts to use and any fallback note.

    Attributes:
        lang: effective label language (`en` when `zh` was asked for but no CJK font exists).
        fonts: font families in fallback order (Latin first, CJK glyphs from the next).
        note: visible text explaining a fallback; empty when the request was honoured.
    """

    lang: Lang
    fonts: tuple[str, ...]
    note: str = ""

    @property
    def has_cjk(self) -> bool:
        return len(self.fonts) > 1

    def pick(self, english: str, chinese: str) -> str:
        """The label in the effective language."""
        return chinese if self.lang == "zh" and chinese else english

    def both(self, english: str, chinese: str) -> str:
        """`English / 中文` when CJK glyphs can be drawn, otherwise English alone."""
        if self.has_cjk and chinese and chinese != english:
            return f"{english} / {chinese}"
        return english


def plot_language(requested: str) -> PlotLanguage:
    """Resolve the requested label language against the installed fonts."""
    family = cjk_font_family()
    if family is None:
        note = FONT_FALLBACK_NOTE if requested == "zh" else ""
        return PlotLanguage(lang="en", fonts=(_LATIN_FONT,), note=note)
    lang: Lang = "zh" if requested == "zh" else "en"
    return PlotLanguage(lang=lang, fonts=(_LATIN_FONT, family))


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    """Encode a figure as PNG bytes (light compression: twice as fast, about 10% larger).

    The layout is placed here, once, and then switched off: savefig would otherwise place it
    in a whole extra draw of every artist (each tick and label measured and laid out again,
    only the painting skipped) before the draw that paints. The same positions and the same
    pixels, from one draw instead of two.
    """
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine(None)  # not "none": savefig's extra draw happens for any engine
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, pil_kwargs={"compress_level": 3})
    return buffer.getvalue()


def draw_png(
    language: PlotLanguage, width: float, height: float, painter: Callable[[Figure], None]
) -> bytes:
    """Create a figure under the language's fonts, let `painter(fig)` draw on it, encode it."""
    import matplotlib

    with matplotlib.rc_context(
        {
            "font.family": list(language.fonts),
            "font.size": 10,
            "axes.unicode_minus": False,
            "axes.titleweight": "normal",
            "axes.titlesize": 12,
        }
    ):
        fig = _new_figure(width, height)
        painter(fig)
        if language.note:
            fig.text(0.01, 0.005, language.note, fontsize=8, color="#a04000", va="bottom")
        return figure_png(fig)


def sigmoid(margin: float) -> float:
    """Probability for a log-odds margin."""
    return 1.0 / (1.0 + math.exp(-margin))


# a catalog unit in words: (English for one, English for others, Chinese)
_UNIT_WORDS = {
    "months": ("month", "months", "个月"),
    "days": ("day", "days", "天"),
    "years": ("year", "years", "年"),
    "minutes": ("minute", "minutes", "分钟"),
    "persons": ("person", "persons", "人"),
    "CNY": ("CNY", "CNY", "元"),
}


def display_value(value: object, lang: str = "en", feature: FeatureDef | None = None) -> str:
    """A feature value as a reader sees it: yes/no, 3 significant digits (whole numbers from
    1,000 up, so amounts in CNY never turn into exponents), a dash when missing; given its
    catalog entry, a category in words of `lang` ("劳资", not "labour") and a number with its
    unit (a ratio as a percentage, "29.3%" beside the reason's "29%", not "0.293";
    "3 months", "58,270 元")."""
    if feature is not None and lang in ("en", "zh"):
        value = feature.value_word(value, "zh" if lang == "zh" else "en")
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        if lang == "zh":
            return "是" if value else "否"
        return "yes" if value else "no"
    if not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    number = float(value) + 0.0  # -0.0 reads 0, not "-0%"
    unit = feature.unit if feature is not None else ""
    if feature is not None and unit == "ratio":
        if "%}" in feature.reason_en:  # a share or a change, worded as a percentage
            return f"{number * 100:.3g}%"
        return f"{number:.3g}×"  # a multiple: "3.5x the usual day"
    if isinstance(value, float | np.floating):
        text = f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.3g}"
    else:
        text = f"{int(value):,}"
    if unit in _UNIT_WORDS:
        one, other, chinese = _UNIT_WORDS[unit]
        if lang == "zh":
            return f"{text} {chinese}" if unit == "CNY" else f"{text}{chinese}"
        return f"{text} {one if number == 1 else other}"
    return text


@dataclass(frozen=True)
class Contribution:
    """One feature's SHAP contribution to one record's log-odds, with its labels and value."""

    label_en: str
    label_zh: str
    value: str
    contribution: float


def _waterfall_rows(
    contributions: Sequence[Contribution],
    base_value: float,
    final_margin: float | None,
    top_k: int,
    language: PlotLanguage,
) -> tuple[list[tuple[str, float]], float]:
    """The bars between base and result (top-k, then "other features") and the final margin."""
    ranked = sorted(contributions, key=lambda item: abs(item.contribution), reverse=True)
    shown = ranked[:top_k]
    shown_total = float(sum(item.contribution for item in shown))
    if final_margin is None:
        final_margin = base_value + float(sum(item.contribution for item in ranked))
    other = final_margin - base_value - shown_total
    hidden_count = len(ranked) - len(shown)
    rows: list[tuple[str, float]] = [
        (f"{language.pick(item.label_en, item.label_zh)} = {item.value}", item.contribution)
        for item in shown
    ]
    if abs(other) > 1e-9 or hidden_count:
        other_label = (
            f"其他{hidden_count}项特征"
            if language.lang == "zh"
            else f"{hidden_count} other features"
        )
        if not hidden_count:
            other_label = "其他特征" if language.lang == "zh" else "other features"
        rows.append((other_label, other))
    return rows, final_margin


def _paint_waterfall(
    ax: Axes,
    labels: list[str],
    rows: list[tuple[str, float]],
    base_value: float,
    final_margin: float,
) -> None:
    """Bars from the base value, one per row, to the final margin, each labelled with its amount."""
    positions = np.arange(len(labels))[::-1]
    ax.axvline(base_value, color=NEUTRAL_COLOUR, linestyle=":", linewidth=1)
    ax.plot([base_value], [positions[0]], marker="D", color=NEUTRAL_COLOUR)
    running = base_value
    for position, (_, amount) in zip(positions[1:-1], rows, strict=True):
        colour = RAISES_COLOUR if amount >= 0 else LOWERS_COLOUR
        ax.barh(position, amount, left=running, color=colour, height=0.6)
        ax.text(
            running + amount,
            position,
            f" {amount:+.2f} ",
            va="center",
            ha="left" if amount >= 0 else "right",
            fontsize=8,
        )
        running += amount
    ax.plot([final_margin], [positions[-1]], marker="D", color="black")
    ax.text(final_margin, positions[-1], f"  {final_margin:+.2f}", va="center", fontsize=8)
    ax.text(base_value, positions[0], f"  {base_value:+.2f}", va="center", fontsize=8)
    ax.set_yticks(positions, labels=labels)


#: Waterfall charts kept drawn, by everything that draws them: a case page shown again, or to
#: a colleague, or the same reasons on its explanation page, costs no second drawing (tenths
#: of a second of CPU each; a chart is some 30 KB).
WATERFALL_CACHE_SIZE = 256


def other_version_title(lang: str, scored: str, used: str) -> str:
    """A waterfall's title when the warning was scored by model version `scored` but its bars
    start at version `used`'s base value: the default title's percentages (the base value, the
    bars' end) would mix two models, so it names the versions instead."""
    return plot_language(lang).pick(
        f"The reasons recorded by model version {scored}, from version {used}'s base value",
        f"模型版本 {scored} 记录的原因（基准值取自版本 {used}）",
    )


def waterfall_png(
    contributions: Sequence[Contribution],
    base_value: float,
    *,
    final_margin: float | None = None,
    score: float | None = None,
    lang: str = "en",
    top_k: int = 8,
    title: str | None = None,
) -> bytes:
    """Waterfall of one record: base log-odds, the top-k contributions, the rest, the result.

    The same arguments give the same PNG, drawn once while it stays among the last
    `WATERFALL_CACHE_SIZE` charts asked for.

    Args:
        contributions: the record's contributions (any order; the largest |contribution| shown).
        base_value: the model's expected log-odds (SHAP base value).
        final_margin: the record's raw log-odds. When given, "other features" is whatever the
            shown bars do not explain (so a warning that kept only its top reasons still ends
            at the right place); otherwise it is the sum of the contributions not shown.
        score: the calibrated score, printed beside the raw probability when given.
        lang: `en` or `zh` (falls back to English with a note when no CJK font is installed).
        top_k: number of individual bars.
        title: chart title; a default names the base and final probability.
    """
    return _waterfall_png(
        tuple(contributions),
        float(base_value),
        final_margin,
        score,
        plot_language(lang),
        top_k,
        title,
    )


def waterfall_heading(
    language: PlotLanguage,
    base_value: float,
    final_margin: float,
    score: float | None,
    title: str | None = None,
) -> str:
    """A waterfall's title, and below it the calibrated score when given.

    The bars explain the model's raw output; the score a person reads is that output
    calibrated, so the two percentages are named apart ("20.2% / score 40.7%" read as two
    scores for one record), in two sentences: without a full stop the English read "... is
    42.8% here after calibration", the raw output taken for the calibrated score. The base
    value is the model's expected log-odds shown as a probability, not an average of its
    outputs (sigmoid of a mean is not the mean of sigmoids: 0.4% where the raw outputs
    averaged 1.4%), so the title says so rather than "on average".
    """
    if title is None:
        title = language.pick(
            f"Why this score: the model's raw output is {sigmoid(final_margin):.1%} here,\n"
            f"from its base value of {sigmoid(base_value):.1%} "
            "(the expected log-odds, not an average).",
            f"评分依据：模型原始输出 基准值 {sigmoid(base_value):.1%}（期望对数几率，非平均值）→ "
            f"本记录 {sigmoid(final_margin):.1%}",
        )
    if score is None:
        return title
    if language.lang == "en":
        stop = "" if title.endswith((".", "!", "?", ":")) else "."
        return f"{title}{stop}\nAfter calibration, the score is {score:.1%}."
    return f"{title}\n经校准后，评分为 {score:.1%}"


@lru_cache(maxsize=WATERFALL_CACHE_SIZE)
def _waterfall_png(
    contributions: tuple[Contribution, ...],
    base_value: float,
    final_margin: float | None,
    score: float | None,
    language: PlotLanguage,
    top_k: int,
    title: str | None,
) -> bytes:
    """`waterfall_png`'s drawing, remembered by its (hashable) arguments: the language as
    drawn (fonts, any fallback note), not as asked for."""
    rows, final = _waterfall_rows(contributions, base_value, final_margin, top_k, language)
    # a long factor name takes two or three lines, not a third of the chart's width
    wrap = 20 if language.lang == "zh" else 36
    labels = [
        language.pick("base value (expected log-odds)", "基准值（期望对数几率）"),
        *[textwrap.fill(label, width=wrap) for label, _ in rows],
        language.pick("model output", "模型输出"),
    ]
    xlabel = language.pick(
        "contribution to risk (log-odds; right raises risk)",
        "对风险的贡献（对数几率；向右为风险上升）",
    )
    heading = waterfall_heading(language, base_value, final, score, title)

    def paint(fig: Figure) -> None:
        ax = fig.add_subplot()
        _paint_waterfall(ax, labels, rows, base_value, final)
        ax.set_xlabel(xlabel)
        # centred on the figure, not the axes: long feature labels push the axes right and
        # an axes title then ran off the image's right edge
        fig.suptitle(heading, fontsize=12)
        ax.use_sticky_edges = False
        ax.margins(x=0.12, y=0.04)
        ax.grid(axis="x", alpha=0.3)

    height = 1.6 + 0.38 * (len(rows) + 2)
    return draw_png(language, 8.5, height, paint)


#: The widest a feature's tick label runs on one line, in display columns (a CJK character
#: counts two): longer labels wrap, so the bars keep most of the chart's width.
TICK_LABEL_COLUMNS = 52
TICK_LABEL_CJK_COLUMNS = 40


def _columns(text: str) -> int:
    """Display width: two columns for a wide (CJK) character, one for the others."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def tick_label(label: str) -> str:
    """A feature label wrapped for a chart's axis: `English / 中文` breaks at the slash first,
    then a line still too wide at its spaces (`TICK_LABEL_COLUMNS`), or, Chinese without
    spaces, by width (`TICK_LABEL_CJK_COLUMNS`)."""
    parts = label.split(" / ") if _columns(label) > TICK_LABEL_COLUMNS else [label]
    lines: list[str] = []
    for part in parts:
        if " " in part:
            lines.extend(textwrap.wrap(part, width=TICK_LABEL_COLUMNS) or [part])
            continue
        line = ""
        for char in part:
            if line and _columns(line + char) > TICK_LABEL_CJK_COLUMNS:
                lines.append(line)
                line = ""
            line += char
        lines.append(line)
    return "\n".join(lines)


def _label_rows_height(labels: Sequence[str], per_row: float) -> float:
    """Inches for a column of tick labels (8 pt): rows are evenly spaced, so each gets the
    room of the most wrapped one (at least `per_row`)."""
    lines = max((label.count("\n") + 1 for label in labels), default=1)
    return len(labels) * max(per_row, 0.14 * lines + 0.08)


def importance_bar_png(
    labels: Sequence[str],
    values: Sequence[float],
    kinds: Sequence[str] | None = None,
    *,
    lang: str = "en",
    title: str = "Global importance: mean |SHAP| on the test slice",
) -> bytes:
    """Horizontal bars of mean |SHAP| per feature, largest on top.

    Args:
        labels: feature labels, already in the wanted language(s).
        values: mean absolute contribution (log-odds) per feature.
        kinds: optional `driver` / `noise` / `other` per feature, coloured with a legend so a
            reviewer sees at once whether planted drivers beat noise.
        lang: `en` or `zh`, for the axis text.
        title: chart title.
    """
    language = plot_language(lang)
    order = np.argsort(np.asarray(values, dtype=float))
    kinds = list(kinds) if kinds is not None else ["other"] * len(labels)
    labels = [tick_label(label) for label in labels]

    def paint(fig: Figure) -> None:
        from matplotlib.patches import Patch

        ax = fig.add_subplot()
        # room left of the labels: the layout measures CJK text a little short (a full line ran
        # to the edge)
        fig.get_layout_engine().set(w_pad=0.1)  # type: ignore[call-arg, union-attr]
        colours = [KIND_COLOURS.get(kinds[i], NEUTRAL_COLOUR) for i in order]
        ax.barh(np.arange(len(order)), [values[i] for i in order], color=colours)
        ax.set_yticks(np.arange(len(order)), labels=[labels[i] for i in order], fontsize=8)
        ax.set_xlabel(language.pick("mean |SHAP| (log-odds)", "平均|SHAP|（对数几率）"))
        fig.suptitle(title)  # centred on the figure: long labels push the axes right
        ax.grid(axis="x", alpha=0.3)
        present = [kind for kind in KIND_COLOURS if kind in kinds]
        if len(present) > 1:
            names = {
                "driver": language.pick("planted driver", "预设驱动因素"),
                "noise": language.pick("noise signal", "噪声信号"),
                "other": language.pick("other", "其他"),
            }
            ax.legend(
                handles=[Patch(color=KIND_COLOURS[kind], label=names[kind]) for kind in present],
                loc="lower right",
            )

    return draw_png(language, 9.0, 1.4 + _label_rows_height(labels, 0.24), paint)


def _colour_scale(column: np.ndarray) -> np.ndarray:
    """Feature values scaled to [0, 1] by rank, so skewed counts still show a gradient."""
    values = np.asarray(column, dtype=float)
    scaled = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if finite.sum() > 1:
        ranks = values[finite].argsort().argsort().astype(float)
        scaled[finite] = ranks / max(ranks.max(), 1.0)
    elif finite.any():
        scaled[finite] = 0.5
    return scaled


def beeswarm_png(
    contributions: np.ndarray,
    feature_values: np.ndarray,
    labels: Sequence[str],
    *,
    lang: str = "en",
    max_features: int = 15,
    max_points: int = 2000,
    seed: int = 0,
    title: str = "SHAP values per record (colour: feature value, low to high)",
) -> bytes:
    """Dot plot of every record's contribution per feature (a beeswarm without shap's pyplot).

    Args:
        contributions: (rows, features) SHAP contributions in log-odds, no base column.
        feature_values: (rows, features) numeric feature values (categories as codes, NaN
            for missing: drawn grey).
        labels: feature labels.
        lang: `en` or `zh` for axis text.
        max_features: show the features with the largest mean |SHAP| only.
        max_points: draw a seeded sample of this many rows at most (the ranking uses all).
        seed: jitter seed, so the same data gives the same picture.
        title: chart title.
    """
    language = plot_language(lang)
    importance = np.abs(contributions).mean(axis=0)
    top = np.argsort(importance)[::-1][:max_features][::-1]
    labels = [tick_label(label) for label in labels]
    rng = np.random.default_rng(seed)
    if len(contributions) > max_points:
        rows = np.sort(rng.choice(len(contributions), size=max_points, replace=False))
        contributions, feature_values = contributions[rows], feature_values[rows]

    def paint(fig: Figure) -> None:
        from matplotlib import colormaps

        ax = fig.add_subplot()
        # room left of the labels: the layout measures CJK text a little short (a full line ran
        # to the edge)
        fig.get_layout_engine().set(w_pad=0.1)  # type: ignore[call-arg, union-attr]
        cmap = colormaps["coolwarm"]
        for row, feature in enumerate(top):
            x = contributions[:, feature]
            jitter = rng.uniform(-0.3, 0.3, size=x.shape)
            shade = _colour_scale(feature_values[:, feature])
            colours = np.where(
                np.isfinite(shade)[:, None], cmap(np.nan_to_num(shade)), (0.6, 0.6, 0.6, 1.0)
            )
            ax.scatter(x, row + jitter, c=colours, s=6, alpha=0.6, linewidths=0)
        ax.axvline(0.0, color=NEUTRAL_COLOUR, linewidth=1)
        ax.set_yticks(np.arange(len(top)), labels=[labels[i] for i in top], fontsize=8)
        ax.set_xlabel(
            language.pick(
                "SHAP value (log-odds; right raises risk)", "SHAP值（对数几率；向右为风险上升）"
            )
        )
        fig.suptitle(title)
        ax.grid(axis="x", alpha=0.3)
        mappable = fig.colorbar(
            _scalar_mappable(cmap), ax=ax, ticks=[0, 1], fraction=0.03, pad=0.01
        )
        mappable.ax.set_yticklabels([language.pick("low", "低"), language.pick("high", "高")])
        mappable.set_label(language.pick("feature value", "特征值"))

    return draw_png(language, 9.0, 1.6 + _label_rows_height([labels[i] for i in top], 0.32), paint)


def _scalar_mappable(cmap):  # type: ignore[no-untyped-def]
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    return ScalarMappable(norm=Normalize(0, 1), cmap=cmap)


def dependence_png(
    feature_values: np.ndarray,
    contributions: np.ndarray,
    label: str,
    *,
    unit: str = "",
    category_names: Sequence[str] = (),
    lang: str = "en",
) -> bytes:
    """Scatter of one feature's value against its contribution: the shape the model learned.

    Args:
        feature_values: the feature's values (category codes when `category_names` is given).
        contributions: the feature's SHAP contributions (log-odds), same length.
        label: the feature's label; `unit` is added to the x-axis.
        category_names: names of category codes, used as x tick labels.
        lang: `en` or `zh` for axis text.
    """
    language = plot_language(lang)
    values = np.asarray(feature_values, dtype=float)

    def paint(fig: Figure) -> None:
        ax = fig.add_subplot()
        finite = np.isfinite(values)
        ax.scatter(
            values[finite], contributions[finite], s=6, alpha=0.5, color=LOWERS_COLOUR, linewidths=0
        )
        ax.axhline(0.0, color=NEUTRAL_COLOUR, linewidth=1)
        if category_names:
            # a few short names (否/是, yes/no) read level and full size; many or long ones slant
            crowded = len(category_names) > 4 or max(map(_columns, category_names)) > 10
            ax.set_xticks(
                np.arange(len(category_names)),
                labels=category_names,
                rotation=30 if crowded else 0,
                fontsize=8 if crowded else 10,
            )
        ax.set_xlabel(language.pick("feature value", "特征值") + (f" ({unit})" if unit else ""))
        ax.set_ylabel(language.pick("SHAP value (log-odds)", "SHAP值（对数几率）"))
        missing = int((~finite).sum())
        suffix = language.pick(f"; {missing} missing not shown", f"；{missing}条缺失未显示")
        ax.set_title(textwrap.fill(label + (suffix if missing else ""), width=48), fontsize=10)
        ax.grid(alpha=0.3)

    return draw_png(language, 5.2, 3.6, paint)
