"""The model report a reviewer signs off before a model serves: one self-contained HTML file.

Six sections, each with a stable `id`: the model card (`model-card`), performance on the test
slice (`performance`), global explanations (`global-explanations`), fairness per audit group
(`fairness`), explanation fidelity against the simulated city's truth (`fidelity`) and a sample
of warnings with their waterfalls (`warnings-sample`). The numbers come from the pure functions
of `training.report_metrics`, so tests can check them against a direct computation; this
module draws the charts and gathers each section's context (the fidelity section's in
`training.report_fidelity`), and `templates/report.html`
(extending the shared layout of `models.pages`) lays it out.

Two editions share the template and the section ids: English (`lang="en"`, feature labels in
both languages) and Chinese (`lang="zh"`), every text from `training.report_words`.

Entity identifiers never appear in the report: it is logged to MLflow, where raw identifiers
must not go.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.catalog import FeatureDef
from features.tasks import get_task
from models import pages
from models.explain_plots import (
    Contribution,
    PlotLanguage,
    beeswarm_png,
    dependence_png,
    display_value,
    draw_png,
    importance_bar_png,
    plot_language,
    waterfall_png,
)
from models.risk_model import RiskModel, model_matrix
from models.scorer import ScoredArrays, contribution_direction, reason_sentence, score_arrays
from training.evaluate import attach_truth, evaluate_scores, oracle_rows
from training.leakage import auc_interval
from training.report_card import city_time, model_card
from training.report_fidelity import fidelity_context, fidelity_names, named_fidelity
from training.report_metrics import (
    CONFIDENCE,
    RATIO_BOUNDS,
    FeatureRoles,
    Truth,
    audit_groups,
    capacity_rows,
    fairness_groups,
    importance_ranking,
    overall_rates,
    reliability_bins,
    sample_positions,
)
from training.report_words import REPORT_LANGS, Words, words
from training.train import FEW_TEST_POSITIVES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SECTION_IDS = (
    "model-card",
    "performance",
    "global-explanations",
    "fairness",
    "fidelity",
    "warnings-sample",
)
# TreeSHAP rows for the global explanations (a seeded sample beyond this).
MAX_EXPLAINED_ROWS = 20_000
DEPENDENCE_PLOTS = 4
SAMPLE_WARNINGS_PER_LEVEL = 2


@dataclass(frozen=True)
class RunInfo:
    """Where the reported model came from (the registry and its MLflow run).

    Attributes:
        name / version / alias: the registered model version.
        run_id: the MLflow training run.
        trained_at: the run's start time in UTC ("YYYY-MM-DD HH:MM UTC", as MLflow's run
            start is written); the report shows it on the city's clock.
        params: the run's logged parameters (as-of ranges, row counts, fingerprint, ...).
        git_commit: the code's commit.
        train_rows / train_positive_rate: the training slice, when the report rebuilt the
            run's own training data (`rebuilt_training_data`); never another dataset's.
        trained_on: the data the run was trained on (its `riskloop.dataset_source` tag).
        test_source: the raw folder the test slice was rebuilt from ("" when given directly).
        test_fingerprint: that rebuilt dataset's fingerprint, compared with the run's.
        feedback_used: the run trained on closed warnings' outcomes too (`--with-feedback`),
            so its test slice is rebuilt with them.
        promotion / promotion_reason: how the version became champion (the version's
            `riskloop.promotion` tag: first, rule or forced) and why; "" for a version that
            never was champion.
        run_has_oracle: the training run recorded oracle figures (it had the truth); False
            for one trained without (`--dataset` without `--truth`), whose `riskloop models`
            line shows no lift while this report may compute it from the city's truth.
    """

    name: str = ""
    version: str = ""
    alias: str = ""
    run_id: str = ""
    trained_at: str = ""
    params: Mapping[str, str] = field(default_factory=dict)
    git_commit: str = ""
    train_rows: int | None = None
    train_positive_rate: float | None = None
    trained_on: str = ""
    test_source: str = ""
    test_fingerprint: str = ""
    feedback_used: bool = False
    promotion: str = ""
    promotion_reason: str = ""
    run_has_oracle: bool = True

    @property
    def rebuilt_training_data(self) -> bool:
        """The test slice was rebuilt from the run's own training data: the same dataset
        fingerprint as the run logged (unknown, so False, for a run that logged none)."""
        logged = self.params.get("dataset_fingerprint")
        return bool(logged) and logged == self.test_fingerprint


# ---------------------------------------------------------------- scoring and charts


@dataclass(frozen=True)
class _Scored:
    """The test slice scored once: full-slice scores and levels, SHAP on a row sample."""

    arrays: ScoredArrays
    explained_rows: np.ndarray
    contributions: np.ndarray
    base_value: float


def _score_test_slice(model: RiskModel, frame: pd.DataFrame, max_rows: int) -> _Scored:
    arrays = score_arrays(model, frame, explain=False)
    rows = np.arange(len(frame))
    if len(rows) > max_rows:
        rows = np.sort(np.random.default_rng(0).choice(rows, size=max_rows, replace=False))
    explained = score_arrays(model, frame.iloc[rows], explain=True)
    assert explained.contributions is not None
    return _Scored(arrays, rows, explained.contributions, explained.base_value)


@dataclass(frozen=True)
class _Edition:
    """The language of one edition: its page words, its charts' language and their words."""

    page: Words
    plot: PlotLanguage

    @property
    def chart(self) -> Words:
        """Chart texts in the language the charts are drawn in (English without a CJK font)."""
        return words(self.plot.lang)

    def label(self, feature: FeatureDef) -> str:
        """A feature's chart label: both languages in the English edition, Chinese in the
        Chinese one (English when no CJK font can draw it)."""
        if self.page.lang == "en":
            return self.plot.both(feature.label_en, feature.label_zh)
        return self.plot.pick(feature.label_en, feature.label_zh)


def _kind(feature: FeatureDef, roles: FeatureRoles) -> str:
    kind = roles.kind(feature.name)
    return "noise" if kind == "proxy" else kind


def _numeric_values(model: RiskModel, frame: pd.DataFrame) -> np.ndarray:
    """Feature values as floats (categories as their catalog codes, missing as NaN)."""
    matrix = model_matrix(model.spec, frame)
    columns = []
    for feature in model.spec.features:
        column = matrix[feature.name]
        if feature.dtype == "category":
            codes = column.cat.codes.to_numpy(dtype="float64")
            columns.append(np.where(codes < 0, np.nan, codes))
        else:
            columns.append(column.to_numpy(dtype="float64"))
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def _curve_png(
    edition: _Edition,
    title: str,
    xlabel: str,
    ylabel: str,
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]],
    diagonal: bool,
) -> bytes:
    chance = edition.chart("chart.chance")

    def paint(fig: Figure) -> None:
        ax = fig.add_subplot()
        for name, x, y in curves:
            ax.plot(x, y, label=name, linewidth=1.6)
        if diagonal:
            ax.plot([0, 1], [0, 1], linestyle=":", color="#7f8c8d", label=chance)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)

    return draw_png(edition.plot, 5.2, 4.0, paint)


def _reliability_png(
    edition: _Edition, label: np.ndarray, scores: np.ndarray, bins: int = 10
) -> bytes:
    mean_score, observed = reliability_bins(label, scores, bins)
    c = edition.chart

    def paint(fig: Figure) -> None:
        ax = fig.add_subplot()
        top = float(max(mean_score.max(initial=0.0), observed.max(initial=0.0), 1e-3)) * 1.05
        ax.plot([0, top], [0, top], linestyle=":", color="#7f8c8d", label=c("chart.perfect"))
        ax.plot(mean_score, observed, marker="o", label=c("chart.model_deciles"))
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(c("chart.reliability_x"))
        ax.set_ylabel(c("chart.reliability_y"))
        ax.set_title(c("chart.reliability"))
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)  # never over the points (a steep top decile)

    return draw_png(edition.plot, 5.2, 4.0, paint)


def _performance_charts(
    edition: _Edition, label: np.ndarray, scores: np.ndarray, true_prob: np.ndarray | None
) -> list[tuple[bytes, str]]:
    """ROC and precision-recall curves (model and oracle) and the reliability plot."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    c, t = edition.chart, edition.page
    charts: list[tuple[bytes, str]] = []
    if len(np.unique(label)) == 2:
        roc = [(c("chart.model"), *roc_curve(label, scores)[:2])]
        precision, recall, _ = precision_recall_curve(label, scores)
        pr = [(c("chart.model"), recall, precision)]
        known = oracle_rows(true_prob)
        if true_prob is not None and known is not None:
            roc.append((c("chart.oracle"), *roc_curve(label[known], true_prob[known])[:2]))
            o_precision, o_recall, _ = precision_recall_curve(label[known], true_prob[known])
            pr.append((c("chart.oracle"), o_recall, o_precision))
        roc_png = _curve_png(
            edition, c("chart.roc"), c("chart.fpr"), c("chart.tpr"), roc, diagonal=True
        )
        charts.append((roc_png, t("chart.roc_alt")))
        pr_png = _curve_png(
            edition, c("chart.pr"), c("chart.recall"), c("chart.precision"), pr, diagonal=False
        )
        charts.append((pr_png, t("chart.pr_alt")))
    charts.append((_reliability_png(edition, label, scores), t("chart.reliability_alt")))
    return charts


def _performance(
    model: RiskModel,
    test: pd.DataFrame,
    scored: _Scored,
    true_prob: np.ndarray | None,
    edition: _Edition,
    run_has_oracle: bool = True,
) -> dict[str, Any]:
    """Charts, headline metrics beside the oracle's, and the capacity table; a note when the
    oracle figures are the report's own, the training run having recorded none, and one when
    the slice holds fewer than `FEW_TEST_POSITIVES` positives (the count, the ROC-AUC's 95%
    interval)."""
    label = test["label"].to_numpy(dtype="float64")
    metrics = evaluate_scores(label, scored.arrays, true_prob)
    has_oracle = "oracle_roc_auc" in metrics
    t = edition.page
    oracle_note = t("perf.oracle_not_in_run") if has_oracle and not run_has_oracle else ""
    positives = int(label.sum())
    low, high = auc_interval(metrics["roc_auc"], positives, len(label) - positives)
    few_positives_note = (
        t(
            "perf.few_positives",
            positives=f"{positives:,}",
            threshold=f"{FEW_TEST_POSITIVES:,}",
            interval=f"{low:.3f}–{high:.3f}" if math.isfinite(low) else "–",
        )
        if positives < FEW_TEST_POSITIVES
        else ""
    )

    def oracle(key: str) -> object:
        return metrics.get(f"oracle_{key}", math.nan)

    metric_rows = [
        [t("metric.roc_auc"), metrics["roc_auc"], oracle("roc_auc")],
        [t("metric.pr_auc"), metrics["pr_auc"], oracle("pr_auc")],
        [t("metric.brier"), metrics["brier"], oracle("brier")],
        [t("metric.ece"), metrics["ece"], oracle("ece")],
        [t("metric.lift"), metrics.get("lift_recovered", math.nan), "–"],
        [t("metric.positive_rate"), metrics["positive_rate"], "–"],
        [t("metric.mean_score"), metrics["mean_score"], "–"],
    ]
    capacities = {c.level: c.share for c in model.spec.capacities}
    return {
        "rows": len(test),
        "positives": positives,
        "has_oracle": has_oracle,
        "oracle_note": oracle_note,
        "few_positives_note": few_positives_note,
        "charts": _performance_charts(
            edition, label, scored.arrays.scores, true_prob if has_oracle else None
        ),
        "metrics": metric_rows,
        "capacity": capacity_rows(capacities, scored.arrays.levels, label.sum(), metrics),
    }


def _category_names(feature: FeatureDef, edition: _Edition) -> tuple[str, ...]:
    """A dependence plot's x ticks: yes/no, or the categories (in words in Chinese)."""
    if feature.dtype == "bool":
        return (edition.chart("chart.no"), edition.chart("chart.yes"))
    if edition.plot.lang == "zh":
        return tuple(str(feature.value_word(value, "zh")) for value in feature.categories)
    return feature.categories


def _global_explanations(
    model: RiskModel, test: pd.DataFrame, scored: _Scored, roles: FeatureRoles, edition: _Edition
) -> dict[str, Any]:
    """Importance bar, beeswarm, dependence plots of the top features and the ranking."""
    features = model.spec.features
    contributions = scored.contributions
    values = _numeric_values(model, test.iloc[scored.explained_rows])
    labels = [edition.label(feature) for feature in features]
    mean_abs, ranking = importance_ranking(contributions, len(features))
    lang = edition.plot.lang
    dependence = [
        (
            dependence_png(
                values[:, index],
                contributions[:, index],
                labels[index],
                unit=edition.chart.unit(features[index].unit),
                category_names=_category_names(features[index], edition),
                lang=lang,
            ),
            edition.page(
                "expl.dependence_alt",
                label=features[index].label_zh
                if edition.page.lang == "zh"
                else features[index].label_en,
            ),
        )
        for index in ranking[:DEPENDENCE_PLOTS]
    ]
    return {
        "explained": len(contributions),
        "sampled": len(contributions) < len(test),
        "bar": importance_bar_png(
            labels,
            mean_abs.tolist(),
            [_kind(f, roles) for f in features],
            lang=lang,
            title=edition.chart("chart.importance"),
        ),
        "beeswarm": beeswarm_png(
            contributions, values, labels, lang=lang, title=edition.chart("chart.beeswarm")
        ),
        "dependence_count": min(DEPENDENCE_PLOTS, len(features)),
        "dependence": dependence,
        "ranking": [
            {
                "feature": features[index],
                "role": roles.describe(features[index].name),
                "importance": float(mean_abs[index]),
            }
            for index in ranking
        ],
    }


def _fairness(model: RiskModel, test: pd.DataFrame, scored: _Scored) -> dict[str, Any]:
    """Each audit column's table with its judged figures, and the rule's references and bounds."""
    scores, levels = scored.arrays.scores, scored.arrays.levels
    overall = overall_rates(test, scores, levels)
    columns, missing = audit_groups(get_task(model.spec.slug).audit_columns, test)
    return {
        "overall": overall,
        "missing": missing,
        "groups": fairness_groups(test, scores, levels, columns, overall),
        "ratio_bounds": RATIO_BOUNDS,
        "confidence": CONFIDENCE,
    }


def _reason_rows(
    features: Sequence[FeatureDef], contributions: np.ndarray, values: np.ndarray
) -> list[dict[str, Any]]:
    """The five largest reasons of one sample warning, in English and Chinese."""
    rows = []
    for index in np.argsort(-np.abs(contributions), kind="stable")[:5]:
        feature = features[index]
        direction = contribution_direction(float(contributions[index]))
        value = values[index]
        if isinstance(value, float) and math.isnan(value):
            value = None
        elif hasattr(value, "item"):
            value = value.item()
        rows.append(
            {
                "contribution": float(contributions[index]),
                "en": _safe_sentence(feature, value, direction, "en"),
                "zh": _safe_sentence(feature, value, direction, "zh"),
            }
        )
    return rows


def _warnings_sample(
    model: RiskModel, test: pd.DataFrame, scored: _Scored, edition: _Edition
) -> dict[str, Any]:
    """A seeded sample of warnings per level, each with its waterfall and top reasons."""
    features = model.spec.features
    explained = test.iloc[scored.explained_rows]
    levels = scored.arrays.levels[scored.explained_rows]
    scores = scored.arrays.scores[scored.explained_rows]
    margins = scored.arrays.raw_margin[scored.explained_rows]
    raw_values = explained.loc[:, list(model.spec.feature_names)].to_numpy(dtype=object)
    samples = []
    for number, position in enumerate(sample_positions(levels, SAMPLE_WARNINGS_PER_LEVEL), 1):
        row_contrib = scored.contributions[position]
        items = [
            Contribution(
                feature.label_en,
                feature.label_zh,
                display_value(raw_values[position, index], edition.plot.lang, feature),
                float(row_contrib[index]),
            )
            for index, feature in enumerate(features)
        ]
        png = waterfall_png(
            items,
            scored.base_value,
            final_margin=float(margins[position]),
            score=float(scores[position]),
            lang=edition.plot.lang,
            top_k=8,
        )
        samples.append(
            {
                "number": number,
                "level": str(levels[position]),
                "score": float(scores[position]),
                "as_of": explained["as_of"].iloc[position],
                "png": png,
                "reasons": _reason_rows(features, row_contrib, raw_values[position]),
            }
        )
    return {"per_level": SAMPLE_WARNINGS_PER_LEVEL, "samples": samples}


def _safe_sentence(feature: FeatureDef, value: object, direction: str, lang: str) -> str:
    try:
        return reason_sentence(feature, value, direction, lang)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return f"{feature.label_en if lang == 'en' else feature.label_zh}: {value}"


def build_report(
    task: str,
    model: RiskModel,
    test_frame: pd.DataFrame,
    truth: Truth | None = None,
    run_info: RunInfo | None = None,
    *,
    max_explained_rows: int = MAX_EXPLAINED_ROWS,
    lang: str = "en",
) -> str:
    """The model report as a complete, self-contained HTML document.

    Args:
        task: the task name (must be the model's task).
        model: the fitted model under review.
        test_frame: the labelled test slice (entity_id, as_of, label, features, audit_*).
        truth: the simulated city's truth, for oracle figures and fidelity; None skips them.
        run_info: registry and run metadata for the model card.
        max_explained_rows: TreeSHAP rows for the explanation sections (seeded sample above).
        lang: the edition, `en` (labels in both languages) or `zh` (Chinese throughout; its
            charts fall back to English, with a note, when no CJK font is installed).

    Raises:
        ValueError: another task's model, or a language other than en and zh.
    """
    return build_reports(
        task,
        model,
        test_frame,
        truth,
        run_info,
        max_explained_rows=max_explained_rows,
        langs=(lang,),
    )[lang]


def build_reports(
    task: str,
    model: RiskModel,
    test_frame: pd.DataFrame,
    truth: Truth | None = None,
    run_info: RunInfo | None = None,
    *,
    max_explained_rows: int = MAX_EXPLAINED_ROWS,
    langs: Sequence[str] = REPORT_LANGS,
) -> dict[str, str]:
    """Several editions of the report (language -> HTML), scoring and explaining the test
    slice once for all of them; arguments as `build_report`'s."""
    if task not in (model.spec.task, model.spec.slug):
        raise ValueError(f"the model is a {model.spec.task} model, not {task}")
    editions = [_Edition(words(lang), plot_language(lang)) for lang in langs]
    run_info = run_info or RunInfo()
    test = test_frame.reset_index(drop=True)
    scored = _score_test_slice(model, test, max_explained_rows)
    # NaN for a unit the truth lacks: the oracle figures are measured on the others
    true_prob = attach_truth(test, truth.units) if truth is not None else None
    fidelity = fidelity_context(
        model.spec.features, test.iloc[scored.explained_rows], scored.contributions, truth
    )
    roles = truth.roles if truth is not None else FeatureRoles()
    fairness = _fairness(model, test, scored)
    version = f" v{run_info.version}" if run_info.version else ""
    now = datetime.now(UTC)
    task_title = {"en": model.spec.task, "zh": get_task(model.spec.slug).title_zh}
    return {
        edition.page.lang: pages.render(
            "report.html",
            packages=("training",),
            lang=edition.page.lang,
            t=edition.page,
            title=edition.page("title", task=task_title[edition.page.lang], version=version),
            generated=city_time(now, edition.page),
            # the English edition draws Chinese labels too: either edition notes a missing font
            language_note=plot_language("zh").note,
            section_ids=SECTION_IDS,
            card=model_card(model, test, run_info, truth, edition.page),
            performance=_performance(
                model, test, scored, true_prob, edition, run_info.run_has_oracle
            ),
            explanations=_global_explanations(model, test, scored, roles, edition),
            fairness=fairness,
            fidelity=named_fidelity(
                fidelity, fidelity_names(model.spec.features, roles, edition.page.lang)
            ),
            sample=_warnings_sample(model, test, scored, edition),
        )
        for edition in editions
    }
