"""The model report a reviewer signs off before a model serves: one self-contained HTML file.

Six sections, each with a stable `id`: the model card (`model-card`), performance on the test
slice (`performance`), global explanations (`global-explanations`), fairness per audit group
(`fairness`), explanation fidelity against the simulated city's truth (`fidelity`) and a sample
of warnings with their waterfalls (`warnings-sample`). The numbers come from the pure functions
of `training.report_metrics`, so tests can check them against a direct computation; this
module draws the charts and gathers each section's context, and `templates/report.html`
(extending the shared layout of `models.pages`) lays it out.

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
from training.evaluate import attach_truth, evaluate_scores
from training.report_metrics import (
    CALIBRATION_GAP_THRESHOLD,
    MIN_GROUP_EVENTS,
    MIN_GROUP_ROWS,
    RATE_GAP_THRESHOLD,
    TOP_REASON_SHARE_TARGET,
    TOP_REASONS,
    WARNING_LEVELS,
    FeatureRoles,
    Truth,
    audit_groups,
    capacity_rows,
    dominant_drivers,
    driver_ranking,
    fairness_groups,
    feature_ranking,
    fidelity,
    importance_ranking,
    overall_rates,
    reliability_bins,
    sample_positions,
)

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
SECTION_TITLES = (
    "1. Model card",
    "2. Performance on the test slice",
    "3. Global explanations",
    "4. Fairness by audit group",
    "5. Explanation fidelity against the simulated truth",
    "6. Sample warnings",
)
CONTENTS = (
    "Model card",
    "Performance",
    "Global explanations",
    "Fairness",
    "Explanation fidelity",
    "Sample warnings",
)
# TreeSHAP rows for the global explanations (a seeded sample beyond this).
MAX_EXPLAINED_ROWS = 20_000
DEPENDENCE_PLOTS = 4
SAMPLE_WARNINGS_PER_LEVEL = 2

KNOWN_LIMITS: tuple[str, ...] = (
    "Trained and evaluated on a simulated city: figures describe that city, not a real one.",
    "Labels record detection, not occurrence: under-reported groups look safer than they are.",
    "Interventions change outcomes: a prevented event is not a false alarm, and a model "
    "retrained on closed warnings learns from the city's own actions.",
    "Thresholds come from capacity on the validation slice; a shifted population changes "
    "the warning volume (watch `riskloop monitor`).",
    "Reasons are SHAP contributions of the model, not causes: they say what moved the score.",
)


@dataclass(frozen=True)
class RunInfo:
    """Where the reported model came from (the registry and its MLflow run).

    Attributes:
        name / version / alias: the registered model version.
        run_id: the MLflow training run.
        trained_at: the run's start time (ISO 8601).
        params: the run's logged parameters (as-of ranges, row counts, fingerprint, ...).
        git_commit: the code's commit.
        train_rows / train_positive_rate: the training slice, when rebuilt for the report.
        data_note: how the test slice was obtained (and whether it matches the run's data).
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
    data_note: str = ""


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


def _label(feature: FeatureDef, bilingual: bool = True) -> str:
    language = plot_language("en")
    return language.both(feature.label_en, feature.label_zh) if bilingual else feature.label_en


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


def _horizon(model: RiskModel) -> str:
    spec = model.spec
    if spec.horizon_months:
        return f"{spec.horizon_months} calendar months"
    return f"{spec.horizon_days} days"


def _model_card(
    model: RiskModel, test: pd.DataFrame, run_info: RunInfo, truth: Truth | None
) -> dict[str, Any]:
    """The model card's facts: what the model is, where it came from, how it warns."""
    spec = model.spec
    params = run_info.params
    train_rows = run_info.train_rows if run_info.train_rows is not None else params.get("n_train")
    test_positive = float(test["label"].mean()) if len(test) else math.nan
    card = [
        ("Task", f"{spec.task} ({spec.slug})"),
        ("Unit", spec.unit),
        ("Label", spec.label),
        ("Horizon", _horizon(model)),
        (
            "Model",
            f"{run_info.name or spec.registered_model_name} version {run_info.version or '–'}"
            + (f" (alias {run_info.alias})" if run_info.alias else ""),
        ),
        ("MLflow run", run_info.run_id or "–"),
        ("Trained at", run_info.trained_at or "–"),
        ("Code commit", run_info.git_commit or "–"),
        ("Feature catalog", f"{spec.catalog_version}, {len(spec.features)} features"),
        ("Training data (as-of range)", params.get("train_as_of", "") or "–"),
        ("Training rows", train_rows if train_rows is not None else "–"),
        ("Training positive rate", pages.format_share(run_info.train_positive_rate)),
        ("Validation as-of range", params.get("valid_as_of", "–")),
        (
            "Calibrator fitted on",
            f"{int(params['n_calibration']):,} held-out rows (validation slice plus "
            "purge-gap rows of entities with no training row)"
            if "n_calibration" in params
            else "the validation slice",
        ),
        (
            "Test slice",
            f"{len(test):,} rows, as-of {test['as_of'].min():%Y-%m-%d}.."
            f"{test['as_of'].max():%Y-%m-%d}, positive rate {pages.format_share(test_positive)}"
            if len(test)
            else "empty",
        ),
        ("Dataset fingerprint", params.get("dataset_fingerprint", "–")),
        ("Ground truth", "simulated city truth files" if truth is not None else "not available"),
    ]
    lightgbm = {
        **vars(model.params_),
        "best_iteration": model.best_iteration_,
        "calibration": model.calibrator_.kind,
    }
    capacities: dict[str, float] = {c.level: c.share for c in spec.capacities}
    return {
        "card": card,
        "parameters": sorted(lightgbm.items()),
        "thresholds": [
            [
                level,
                pages.format_share(capacities.get(level)),
                f"{getattr(model.thresholds_, level):.4f}",
            ]
            for level in WARNING_LEVELS
        ],
        "intended_use": get_task(spec.slug).intended_use,
        "known_limits": KNOWN_LIMITS,
        "data_note": run_info.data_note,
    }


def _curve_png(
    title: str,
    xlabel: str,
    ylabel: str,
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]],
    diagonal: bool,
) -> bytes:
    language = plot_language("en")

    def paint(fig: Figure) -> None:
        ax = fig.add_subplot()
        for name, x, y in curves:
            ax.plot(x, y, label=name, linewidth=1.6)
        if diagonal:
            ax.plot([0, 1], [0, 1], linestyle=":", color="#7f8c8d", label="chance")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)

    return draw_png(language, 5.2, 4.0, paint)


def _reliability_png(label: np.ndarray, scores: np.ndarray, bins: int = 10) -> bytes:
    language = plot_language("en")
    mean_score, observed = reliability_bins(label, scores, bins)

    def paint(fig: Figure) -> None:
        ax = fig.add_subplot()
        top = float(max(mean_score.max(initial=0.0), observed.max(initial=0.0), 1e-3)) * 1.05
        ax.plot([0, top], [0, top], linestyle=":", color="#7f8c8d", label="perfect calibration")
        ax.plot(mean_score, observed, marker="o", label="model (score deciles)")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("mean calibrated score in bin (probability)")
        ax.set_ylabel("observed positive rate in bin")
        ax.set_title("Reliability: observed rate vs. score")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)

    return draw_png(language, 5.2, 4.0, paint)


def _performance_charts(
    label: np.ndarray, scores: np.ndarray, true_prob: np.ndarray | None
) -> list[tuple[bytes, str]]:
    """ROC and precision-recall curves (model and oracle) and the reliability plot."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    charts: list[tuple[bytes, str]] = []
    if len(np.unique(label)) == 2:
        roc = [("model", *roc_curve(label, scores)[:2])]
        precision, recall, _ = precision_recall_curve(label, scores)
        pr = [("model", recall, precision)]
        if true_prob is not None:
            roc.append(("oracle (true probability)", *roc_curve(label, true_prob)[:2]))
            o_precision, o_recall, _ = precision_recall_curve(label, true_prob)
            pr.append(("oracle (true probability)", o_recall, o_precision))
        roc_png = _curve_png(
            "ROC curve", "false positive rate", "true positive rate (recall)", roc, True
        )
        charts.append((roc_png, "ROC curve of the model and the oracle"))
        pr_png = _curve_png("Precision-recall curve", "recall", "precision", pr, False)
        charts.append((pr_png, "Precision-recall curve of the model and the oracle"))
    charts.append((_reliability_png(label, scores), "Reliability plot of calibrated scores"))
    return charts


def _performance(
    model: RiskModel, test: pd.DataFrame, scored: _Scored, true_prob: np.ndarray | None
) -> dict[str, Any]:
    """Charts, headline metrics beside the oracle's, and the capacity table."""
    label = test["label"].to_numpy(dtype="float64")
    metrics = evaluate_scores(label, scored.arrays, true_prob)
    has_oracle = "oracle_roc_auc" in metrics

    def oracle(key: str) -> object:
        return metrics.get(f"oracle_{key}", math.nan)

    metric_rows = [
        ["ROC-AUC", metrics["roc_auc"], oracle("roc_auc")],
        ["PR-AUC (average precision)", metrics["pr_auc"], oracle("pr_auc")],
        ["Brier score", metrics["brier"], oracle("brier")],
        ["Expected calibration error (10 score deciles)", metrics["ece"], oracle("ece")],
        [
            "Share of the oracle's lift recovered, (AUC-0.5)/(oracle AUC-0.5)",
            metrics.get("lift_recovered", math.nan),
            "–",
        ],
        ["Positive rate", metrics["positive_rate"], "–"],
        ["Mean calibrated score", metrics["mean_score"], "–"],
    ]
    capacities = {c.level: c.share for c in model.spec.capacities}
    return {
        "rows": len(test),
        "positives": int(label.sum()),
        "has_oracle": has_oracle,
        "charts": _performance_charts(
            label, scored.arrays.scores, true_prob if has_oracle else None
        ),
        "metrics": metric_rows,
        "capacity": capacity_rows(capacities, scored.arrays.levels, label.sum(), metrics),
    }


def _global_explanations(
    model: RiskModel, test: pd.DataFrame, scored: _Scored, roles: FeatureRoles
) -> dict[str, Any]:
    """Importance bar, beeswarm, dependence plots of the top features and the ranking."""
    features = model.spec.features
    contributions = scored.contributions
    values = _numeric_values(model, test.iloc[scored.explained_rows])
    labels = [_label(feature) for feature in features]
    mean_abs, ranking = importance_ranking(contributions, len(features))
    dependence = [
        (
            dependence_png(
                values[:, index],
                contributions[:, index],
                labels[index],
                unit=features[index].unit,
                category_names=(
                    ("no", "yes") if features[index].dtype == "bool" else features[index].categories
                ),
            ),
            f"Dependence plot of {features[index].label_en}",
        )
        for index in ranking[:DEPENDENCE_PLOTS]
    ]
    return {
        "explained": len(contributions),
        "sampled": len(contributions) < len(test),
        "bar": importance_bar_png(labels, mean_abs.tolist(), [_kind(f, roles) for f in features]),
        "beeswarm": beeswarm_png(contributions, values, labels),
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
    """Each audit column's table with its highlighted gaps, and the thresholds behind them."""
    scores, levels = scored.arrays.scores, scored.arrays.levels
    overall = overall_rates(test, scores, levels)
    columns, missing = audit_groups(get_task(model.spec.slug).audit_columns, test)
    return {
        "overall": overall,
        "missing": missing,
        "groups": fairness_groups(test, scores, levels, columns, overall),
        "calibration_gap_threshold": CALIBRATION_GAP_THRESHOLD,
        "rate_gap_threshold": RATE_GAP_THRESHOLD,
        "min_group_rows": MIN_GROUP_ROWS,
        "min_group_events": MIN_GROUP_EVENTS,
    }


def _fidelity(
    model: RiskModel, test: pd.DataFrame, scored: _Scored, truth: Truth | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fidelity checks' context and the raw result of `report_metrics.fidelity`."""
    dominant = None
    if truth is not None and "dominant_driver" in truth.units.columns:
        dominant = dominant_drivers(test.iloc[scored.explained_rows], truth.units)
    result = fidelity(
        scored.contributions,
        model.spec.features,
        dominant,
        planted_drivers=truth.drivers if truth is not None else (),
        roles=truth.roles if truth is not None else None,
    )
    roles = truth.roles if truth is not None else FeatureRoles()
    share = result.get("top_reason_share", math.nan)
    missing = sorted(set(truth.drivers) - set(result["driver_importance"])) if truth else []
    context = {
        "result": result,
        "drivers": driver_ranking(result, roles),
        "features": feature_ranking(result, model.spec.features, roles),
        "missing_drivers": missing,
        "has_units": dominant is not None,
        "explained": len(scored.contributions),
        "top_reasons": TOP_REASONS,
        "target": TOP_REASON_SHARE_TARGET,
        "top_reasons_passed": bool(share >= TOP_REASON_SHARE_TARGET)
        if not math.isnan(share)
        else False,
    }
    return context, result


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


def _warnings_sample(model: RiskModel, test: pd.DataFrame, scored: _Scored) -> dict[str, Any]:
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
                display_value(raw_values[position, index], "en", feature),
                float(row_contrib[index]),
            )
            for index, feature in enumerate(features)
        ]
        png = waterfall_png(
            items,
            scored.base_value,
            final_margin=float(margins[position]),
            score=float(scores[position]),
            lang="en",
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
) -> str:
    """The model report as a complete, self-contained HTML document.

    Args:
        task: the task name (must be the model's task).
        model: the fitted model under review.
        test_frame: the labelled test slice (entity_id, as_of, label, features, audit_*).
        truth: the simulated city's truth, for oracle figures and fidelity; None skips them.
        run_info: registry and run metadata for the model card.
        max_explained_rows: TreeSHAP rows for the explanation sections (seeded sample above).
    """
    if task not in (model.spec.task, model.spec.slug):
        raise ValueError(f"the model is a {model.spec.task} model, not {task}")
    run_info = run_info or RunInfo()
    test = test_frame.reset_index(drop=True)
    scored = _score_test_slice(model, test, max_explained_rows)
    true_prob = None
    if truth is not None:
        attached = attach_truth(test, truth.units)
        true_prob = attached if not np.isnan(attached).any() else None
    fidelity_context, _ = _fidelity(model, test, scored, truth)
    title = f"riskloop model report: {model.spec.task}" + (
        f" v{run_info.version}" if run_info.version else ""
    )
    return pages.render(
        "report.html",
        packages=("training",),
        lang="en",
        title=title,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        language_note=plot_language("zh").note,
        contents=list(zip(SECTION_IDS, CONTENTS, strict=True)),
        titles=dict(zip(SECTION_IDS, SECTION_TITLES, strict=True)),
        card=_model_card(model, test, run_info, truth),
        performance=_performance(model, test, scored, true_prob),
        explanations=_global_explanations(
            model, test, scored, truth.roles if truth is not None else FeatureRoles()
        ),
        fairness=_fairness(model, test, scored),
        fidelity=fidelity_context,
        sample=_warnings_sample(model, test, scored),
    )
