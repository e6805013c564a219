"""The model report a reviewer signs off before a model serves: one self-contained HTML file.

Six sections, each with a stable `id`: the model card (`model-card`), performance on the test
slice (`performance`), global explanations (`global-explanations`), fairness per audit group
(`fairness`), explanation fidelity against the simulated city's truth (`fidelity`) and a sample
of warnings with their waterfalls (`warnings-sample`). The numbers come from two pure
functions, `fairness_table` and `fidelity`, so tests can check them against a direct
computation; everything else is layout.

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
from models import html
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
from training.evaluate import FLAGGED_LEVELS, attach_truth, evaluate_scores

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WARNING_LEVELS = ("red", "orange", "yellow")
SECTION_IDS = (
    "model-card",
    "performance",
    "global-explanations",
    "fairness",
    "fidelity",
    "warnings-sample",
)
# Fairness gaps worth a reviewer's attention (absolute differences, on groups large enough).
CALIBRATION_GAP_THRESHOLD = 0.02
RATE_GAP_THRESHOLD = 0.10
MIN_GROUP_ROWS = 50
MIN_GROUP_EVENTS = 20  # positives behind a recall, warned units behind a precision
# Explanation fidelity pass mark for the dominant driver among the top reasons.
TOP_REASONS = 3
TOP_REASON_SHARE_TARGET = 0.80
# TreeSHAP rows for the global explanations (a seeded sample beyond this).
MAX_EXPLAINED_ROWS = 20_000
DEPENDENCE_PLOTS = 4
SAMPLE_WARNINGS_PER_LEVEL = 2

INTENDED_USE: dict[str, str] = {
    "wage_arrears": (
        "Monthly screening of registered employers for wage-arrears risk in the next three "
        "months, so labour inspection and township labour offices can plan visits within their "
        "capacity. A warning asks a person to look; it is never a sanction or a finding."
    ),
    "telecom_fraud": (
        "Monthly screening of residents with an exposure signal for telecom-fraud victimisation "
        "risk in the next 30 days, so the anti-fraud centre and community police can warn and "
        "dissuade in time. It protects potential victims and must never be used against them."
    ),
    "dispute_escalation": (
        "Scoring each registered dispute seven days after registration for escalation in the "
        "next 90 days (repeat or higher petition, police case, group incident), so mediators "
        "and township centres can prioritise follow-up."
    ),
}
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
class FeatureRoles:
    """Which model features the simulated city planted as drivers, noise or proxies.

    The simulator's knowledge, read from truth/drivers.json ("features"): the catalog describes
    production features only and carries no such labels.

    Attributes:
        driver_of: feature name -> the planted driver it measures.
        noise: features derived from a pure-noise column.
        proxies: features that shadow a driver's causes and have no effect of their own.
    """

    driver_of: Mapping[str, str] = field(default_factory=dict)
    noise: tuple[str, ...] = ()
    proxies: tuple[str, ...] = ()

    @classmethod
    def from_document(cls, entry: Mapping[str, Any]) -> FeatureRoles:
        """Roles from one task's "features" entry of truth/drivers.json."""
        drivers = entry.get("drivers", {})
        return cls(
            driver_of={name: driver for driver, names in drivers.items() for name in names},
            noise=tuple(entry.get("noise", ())),
            proxies=tuple(entry.get("proxies", {})),
        )

    def kind(self, name: str) -> str:
        """ "driver", "noise", "proxy" or "other"."""
        if name in self.noise:
            return "noise"
        if name in self.proxies:
            return "proxy"
        return "driver" if name in self.driver_of else "other"

    def describe(self, name: str) -> str:
        """The driver a feature measures, or "noise" / "proxy" / "–"."""
        kind = self.kind(name)
        return self.driver_of[name] if kind == "driver" else ("–" if kind == "other" else kind)


@dataclass(frozen=True)
class Truth:
    """The simulated city's truth for one task.

    Attributes:
        units: entity_id, as_of, true_prob, dominant_driver per unit.
        drivers: the planted driver names (truth/drivers.json), empty if unknown.
        noise: the planted noise signal names.
        roles: which features measure which driver, and which are noise or proxies.
    """

    units: pd.DataFrame
    drivers: tuple[str, ...] = ()
    noise: tuple[str, ...] = ()
    roles: FeatureRoles = field(default_factory=FeatureRoles)


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


# ---------------------------------------------------------------- pure computations


def fairness_table(
    frame: pd.DataFrame, scores: np.ndarray, levels: np.ndarray, group_col: str
) -> pd.DataFrame:
    """Per-group warning and error rates of scored rows.

    A row is *warned* when its level is yellow or above. Columns: group, n, positives,
    warned (count), base_rate (share labelled 1), warning_rate, precision (share of warned
    rows labelled 1),
    recall (share of positives warned), mean_score and calibration_gap (mean_score -
    base_rate). Precision and recall are NaN where undefined. Missing group values form the
    group "missing".
    """
    data = pd.DataFrame(
        {
            "group": frame[group_col].astype("object").where(frame[group_col].notna(), "missing"),
            "label": frame["label"].to_numpy(dtype="float64"),
            "score": np.asarray(scores, dtype="float64"),
            "warned": np.isin(np.asarray(levels), WARNING_LEVELS).astype("float64"),
        }
    )
    data["hit"] = data["label"] * data["warned"]
    grouped = data.groupby("group", sort=True)
    table = pd.DataFrame(
        {
            "n": grouped.size(),
            "positives": grouped["label"].sum(),
            "base_rate": grouped["label"].mean(),
            "warning_rate": grouped["warned"].mean(),
            "warned": grouped["warned"].sum(),
            "hits": grouped["hit"].sum(),
            "mean_score": grouped["score"].mean(),
        }
    )
    table["precision"] = table["hits"] / table["warned"].where(table["warned"] > 0)
    table["recall"] = table["hits"] / table["positives"].where(table["positives"] > 0)
    table["calibration_gap"] = table["mean_score"] - table["base_rate"]
    table = table.reset_index().astype({"group": "str"})
    table["n"] = table["n"].astype("int64")
    table["positives"] = table["positives"].astype("int64")
    table["warned"] = table["warned"].astype("int64")
    return table.loc[
        :,
        [
            "group",
            "n",
            "positives",
            "warned",
            "base_rate",
            "warning_rate",
            "precision",
            "recall",
            "mean_score",
            "calibration_gap",
        ],
    ]


def fairness_flags(table: pd.DataFrame, overall: Mapping[str, float]) -> pd.DataFrame:
    """Which cells of a fairness table pass the stated thresholds (True = highlight).

    Calibration gaps beyond `CALIBRATION_GAP_THRESHOLD` on groups of at least
    `MIN_GROUP_ROWS` rows; precision (recall) further than `RATE_GAP_THRESHOLD` from the whole
    slice when at least `MIN_GROUP_EVENTS` warned units (positives) stand behind it, so a
    handful of cases cannot raise an alarm.
    """
    large = table["n"] >= MIN_GROUP_ROWS
    return pd.DataFrame(
        {
            "calibration_gap": large & (table["calibration_gap"].abs() > CALIBRATION_GAP_THRESHOLD),
            "precision": large
            & (table["warned"] >= MIN_GROUP_EVENTS)
            & ((table["precision"] - overall["precision"]).abs() > RATE_GAP_THRESHOLD),
            "recall": large
            & (table["positives"] >= MIN_GROUP_EVENTS)
            & ((table["recall"] - overall["recall"]).abs() > RATE_GAP_THRESHOLD),
        },
        index=table.index,
    )


def _is_single_driver(name: object, drivers: set[str]) -> bool:
    return isinstance(name, str) and name in drivers


def fidelity(
    contributions: np.ndarray,
    features: Sequence[FeatureDef],
    dominant_driver: Sequence[object] | None = None,
    top_k: int = TOP_REASONS,
    planted_drivers: Sequence[str] = (),
    roles: FeatureRoles | None = None,
) -> dict[str, Any]:
    """How well the model's explanations recover the simulated city's planted structure.

    Args:
        contributions: (rows, features) TreeSHAP contributions in catalog order.
        features: the catalog entries, in the same order.
        dominant_driver: per row, the truth's dominant driver name (`none` or anything that is
            not a catalog driver counts as "no single driver"); None skips the unit check.
        top_k: how many top reasons (by |contribution|, as the scorer ranks them) to search.
        planted_drivers: the truth's driver names; units dominated by one without any catalog
            feature count as misses. The drivers measured by some feature are always included.
        roles: the truth's feature roles (truth/drivers.json); none known when None. Proxies
            are held to the same rule as noise: every driver must rank above them.

    Returns:
        A dict with `importance` (feature -> mean |SHAP|), `driver_importance` (driver ->
        summed mean |SHAP| of its features), `driver_features` / `noise_features` (names),
        `weakest_driver_feature` / `strongest_noise_feature` ((name, value) or None),
        `features_above_noise` (every driver feature above every noise feature: shown for
        reference, since a driver's features share its credit), `drivers_above_noise` (every
        driver's summed importance above every noise feature: the acceptance rule),
        `drivers_below_noise` (names failing that), and, with `dominant_driver`:
        `single_driver_units`, `top_reason_hits`, `top_reason_share` (the driver among the
        top-k reasons as the scorer ranks them, by |contribution|), `top_raising_hits`,
        `top_raising_share` (among the top-k risk-raising contributions: the question the
        truth's "dominant driver", the largest push up, answers) and `per_driver` (driver ->
        {"units", "hits", "share", "raising_hits", "raising_share"}).
    """
    contributions = np.asarray(contributions, dtype="float64")
    names = [feature.name for feature in features]
    mean_abs = np.abs(contributions).mean(axis=0) if len(contributions) else np.zeros(len(names))
    importance = dict(zip(names, (float(v) for v in mean_abs), strict=True))
    roles = roles or FeatureRoles()
    driver_of = [roles.driver_of.get(name) for name in names]
    driver_features = [name for name in names if roles.kind(name) == "driver"]
    noise_features = [name for name in names if roles.kind(name) in ("noise", "proxy")]
    driver_importance: dict[str, float] = {}
    for feature_name, driver in zip(names, driver_of, strict=True):
        if driver is not None:
            driver_importance[driver] = (
                driver_importance.get(driver, 0.0) + importance[feature_name]
            )
    weakest = min(((n, importance[n]) for n in driver_features), key=lambda kv: kv[1], default=None)
    strongest_noise = max(
        ((n, importance[n]) for n in noise_features), key=lambda kv: kv[1], default=None
    )
    noise_ceiling = strongest_noise[1] if strongest_noise else -math.inf
    result: dict[str, Any] = {
        "importance": importance,
        "driver_importance": driver_importance,
        "driver_features": driver_features,
        "noise_features": noise_features,
        "weakest_driver_feature": weakest,
        "strongest_noise_feature": strongest_noise,
        "features_above_noise": bool(weakest is None or weakest[1] > noise_ceiling),
        "drivers_above_noise": all(v > noise_ceiling for v in driver_importance.values()),
        "drivers_below_noise": sorted(
            d for d, v in driver_importance.items() if v <= noise_ceiling
        ),
    }
    if dominant_driver is None:
        return result
    drivers = set(driver_importance) | set(planted_drivers)
    dominant = list(dominant_driver)
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :top_k]
    raising_order = np.argsort(-contributions, axis=1, kind="stable")[:, :top_k]
    per_driver: dict[str, dict[str, float]] = {}
    hits = raising_hits = units = 0
    for row, name in enumerate(dominant):
        if not _is_single_driver(name, drivers):
            continue
        hit = any(driver_of[index] == name for index in order[row])
        raising_hit = any(
            driver_of[index] == name and contributions[row, index] > 0
            for index in raising_order[row]
        )
        units += 1
        hits += int(hit)
        raising_hits += int(raising_hit)
        entry = per_driver.setdefault(
            str(name), {"units": 0, "hits": 0, "share": math.nan, "raising_hits": 0}
        )
        entry["units"] += 1
        entry["hits"] += int(hit)
        entry["raising_hits"] += int(raising_hit)
    for entry in per_driver.values():
        entry["share"] = entry["hits"] / entry["units"]
        entry["raising_share"] = entry["raising_hits"] / entry["units"]
    result.update(
        single_driver_units=units,
        top_reason_hits=hits,
        top_reason_share=hits / units if units else math.nan,
        top_raising_hits=raising_hits,
        top_raising_share=raising_hits / units if units else math.nan,
        per_driver=dict(sorted(per_driver.items())),
    )
    return result


# ---------------------------------------------------------------- report assembly


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


def _pct(value: float | None) -> str:
    return html.format_share(value)


def _model_card(
    model: RiskModel, test: pd.DataFrame, run_info: RunInfo, truth: Truth | None
) -> html.Markup:
    spec = model.spec
    horizon = (
        f"{spec.horizon_months} calendar months"
        if spec.horizon_months
        else f"{spec.horizon_days} days"
    )
    params = run_info.params
    train_range = params.get("train_as_of", "")
    train_rows = run_info.train_rows if run_info.train_rows is not None else params.get("n_train")
    test_positive = float(test["label"].mean()) if len(test) else math.nan
    card = html.definition_list(
        [
            ("Task", f"{spec.task} ({spec.slug})"),
            ("Unit", spec.unit),
            ("Label", spec.label),
            ("Horizon", horizon),
            (
                "Model",
                f"{run_info.name or spec.registered_model_name} version {run_info.version or '–'}"
                + (f" (alias {run_info.alias})" if run_info.alias else ""),
            ),
            ("MLflow run", run_info.run_id or "–"),
            ("Trained at", run_info.trained_at or "–"),
            ("Code commit", run_info.git_commit or "–"),
            ("Feature catalog", f"{spec.catalog_version}, {len(spec.features)} features"),
            ("Training data (as-of range)", train_range or "–"),
            ("Training rows", train_rows if train_rows is not None else "–"),
            ("Training positive rate", _pct(run_info.train_positive_rate)),
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
                f"{test['as_of'].max():%Y-%m-%d}, positive rate {_pct(test_positive)}"
                if len(test)
                else "empty",
            ),
            ("Dataset fingerprint", params.get("dataset_fingerprint", "–")),
            (
                "Ground truth",
                "simulated city truth files" if truth is not None else "not available",
            ),
        ]
    )
    lightgbm = {
        **vars(model.params_),
        "best_iteration": model.best_iteration_,
        "calibration": model.calibrator_.kind,
    }
    parameter_table = html.table(["parameter", "value"], sorted(lightgbm.items()))
    capacities: dict[str, float] = {c.level: c.share for c in spec.capacities}
    threshold_table = html.table(
        ["level", "capacity (share of population)", "lowest calibrated score"],
        [
            [level, _pct(capacities.get(level)), f"{getattr(model.thresholds_, level):.4f}"]
            for level in WARNING_LEVELS
        ],
    )
    return html.join(
        [
            card,
            html.tag("h3", "Parameters"),
            parameter_table,
            html.tag("h3", "Risk levels"),
            threshold_table,
            html.tag("h3", "Intended use"),
            html.tag("p", INTENDED_USE.get(spec.slug, "")),
            html.tag("h3", "Known limits"),
            html.tag("ul", *(html.tag("li", text) for text in KNOWN_LIMITS)),
            html.tag("p", run_info.data_note, class_="muted") if run_info.data_note else "",
        ]
    )


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
    order = np.argsort(scores, kind="stable")
    chunks = [chunk for chunk in np.array_split(order, min(bins, len(order))) if len(chunk)]
    mean_score = np.array([scores[c].mean() for c in chunks])
    observed = np.array([label[c].mean() for c in chunks])

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


def _performance(
    model: RiskModel, test: pd.DataFrame, scored: _Scored, true_prob: np.ndarray | None
) -> html.Markup:
    from sklearn.metrics import precision_recall_curve, roc_curve

    label = test["label"].to_numpy(dtype="float64")
    metrics = evaluate_scores(label, scored.arrays, true_prob)
    has_oracle = "oracle_roc_auc" in metrics
    both_classes = len(np.unique(label)) == 2
    charts: list[html.Markup] = []
    if both_classes:
        roc = [("model", *roc_curve(label, scored.arrays.scores)[:2])]
        precision, recall, _ = precision_recall_curve(label, scored.arrays.scores)
        pr = [("model", recall, precision)]
        if has_oracle and true_prob is not None:
            roc.append(("oracle (true probability)", *roc_curve(label, true_prob)[:2]))
            o_precision, o_recall, _ = precision_recall_curve(label, true_prob)
            pr.append(("oracle (true probability)", o_recall, o_precision))
        charts.append(
            html.image(
                _curve_png(
                    "ROC curve", "false positive rate", "true positive rate (recall)", roc, True
                ),
                "ROC curve of the model and the oracle",
            )
        )
        charts.append(
            html.image(
                _curve_png("Precision-recall curve", "recall", "precision", pr, False),
                "Precision-recall curve of the model and the oracle",
            )
        )
    charts.append(
        html.image(
            _reliability_png(label, scored.arrays.scores), "Reliability plot of calibrated scores"
        )
    )

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
    positives = label.sum()
    capacities: dict[str, float] = {c.level: c.share for c in model.spec.capacities}
    capacity_rows = []
    cumulative = 0.0
    for level, included in FLAGGED_LEVELS.items():
        cumulative += capacities.get(level, 0.0)
        flagged = int(np.isin(scored.arrays.levels, included).sum())
        oracle_precision = metrics.get(f"oracle_precision_at_{level}", math.nan)
        oracle_recall = (
            oracle_precision * flagged / positives
            if positives and not math.isnan(oracle_precision)
            else math.nan
        )
        capacity_rows.append(
            [
                f"{level} and above" if level != "red" else "red",
                _pct(cumulative),
                flagged,
                _pct(metrics[f"flagged_share_{level}"]),
                _pct(metrics[f"precision_at_{level}"]),
                _pct(metrics[f"recall_at_{level}"]),
                _pct(oracle_precision),
                _pct(oracle_recall),
            ]
        )
    return html.join(
        [
            html.tag(
                "p",
                f"Test slice: {len(test):,} rows, {int(positives):,} positives. "
                + (
                    "Oracle figures score the same rows by the simulated true probability: "
                    "the best any model could do."
                    if has_oracle
                    else "No ground truth given: oracle figures are not available."
                ),
            ),
            html.tag("div", *charts, class_="grid"),
            html.tag("h3", "Metrics"),
            html.table(["metric", "model", "oracle"], metric_rows),
            html.tag("h3", "Precision and recall at each risk level's capacity"),
            html.tag(
                "p",
                "Levels are cumulative: 'orange and above' counts red and orange warnings. "
                "The oracle column flags the same number of units, ranked by true probability.",
                class_="muted",
            ),
            html.table(
                [
                    "warned",
                    "capacity",
                    "units warned",
                    "share warned",
                    "precision",
                    "recall",
                    "oracle precision",
                    "oracle recall",
                ],
                capacity_rows,
            ),
        ]
    )


def _global_explanations(
    model: RiskModel, test: pd.DataFrame, scored: _Scored, roles: FeatureRoles
) -> html.Markup:
    features = model.spec.features
    contributions = scored.contributions
    values = _numeric_values(model, test.iloc[scored.explained_rows])
    labels = [_label(feature) for feature in features]
    mean_abs = np.abs(contributions).mean(axis=0) if len(contributions) else np.zeros(len(features))
    ranking = np.argsort(-mean_abs, kind="stable")
    bar = importance_bar_png(labels, mean_abs.tolist(), [_kind(f, roles) for f in features])
    beeswarm = beeswarm_png(contributions, values, labels)
    dependence = [
        html.image(
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
    table_rows = [
        [
            rank + 1,
            features[index].label_en,
            features[index].label_zh,
            html.tag("code", features[index].name),
            roles.describe(features[index].name),
            float(mean_abs[index]),
        ]
        for rank, index in enumerate(ranking)
    ]
    return html.join(
        [
            html.tag(
                "p",
                f"Exact TreeSHAP contributions (log-odds) on {len(contributions):,} test rows"
                + (" (a seeded sample)." if len(contributions) < len(test) else "."),
            ),
            html.image(bar, "Mean absolute SHAP value per feature"),
            html.image(beeswarm, "Beeswarm of SHAP values per feature"),
            html.tag(
                "h3", f"Dependence plots of the top {min(DEPENDENCE_PLOTS, len(features))} features"
            ),
            html.tag("div", *dependence, class_="grid"),
            html.tag("h3", "Importance ranking"),
            html.table(
                ["rank", "feature", "特征", "column", "planted driver", "mean |SHAP|"], table_rows
            ),
        ]
    )


def _audit_groups(slug: str, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Audit columns to report (the catalog's first, then any other), and those missing."""
    from features.catalog import AUDIT_COLUMNS

    expected = list(AUDIT_COLUMNS.get(slug, ()))
    extra = [c for c in frame.columns if c.startswith("audit_") and c not in expected]
    present = [c for c in expected if c in frame.columns] + extra
    return present, [c for c in expected if c not in frame.columns]


def _fairness(model: RiskModel, test: pd.DataFrame, scored: _Scored) -> html.Markup:
    scores, levels = scored.arrays.scores, scored.arrays.levels
    whole = fairness_table(test.assign(_all="all"), scores, levels, "_all").iloc[0]
    overall = {key: float(whole[key]) for key in ("precision", "recall")}
    parts: list[object] = [
        html.tag(
            "p",
            "Warned = risk level yellow or above. Calibration gap = mean score - base rate. "
            f"Highlighted: |calibration gap| > {CALIBRATION_GAP_THRESHOLD:.2f}, or precision or "
            f"recall more than {RATE_GAP_THRESHOLD:.2f} from the whole test slice "
            f"(precision {_pct(overall['precision'])}, recall {_pct(overall['recall'])}); "
            f"groups under {MIN_GROUP_ROWS} rows are too small to judge and never highlighted, "
            f"nor a precision (recall) resting on fewer than {MIN_GROUP_EVENTS} warned units "
            "(positives).",
        )
    ]
    groups, missing = _audit_groups(model.spec.slug, test)
    if missing:
        parts.append(
            html.tag(
                "p",
                "Audit columns missing from the test slice: " + ", ".join(missing),
                class_="note",
            )
        )
    if not groups:
        parts.append(html.tag("p", "The test slice has no audit columns.", class_="note"))
    header = [
        "group",
        "rows",
        "positives",
        "warned",
        "base rate",
        "warning rate",
        "precision",
        "recall",
        "mean score",
        "calibration gap",
    ]
    for column in groups:
        table = fairness_table(test, scores, levels, column)
        flags = fairness_flags(table, overall)
        rows = []
        for index, row in table.iterrows():

            def cell(
                key: str, value: str, index: Any = index, flags: pd.DataFrame = flags
            ) -> html.Cell:
                flagged = key in flags.columns and bool(flags.at[index, key])
                return html.Cell(value, "num flag" if flagged else "num")

            rows.append(
                [
                    row["group"] + ("" if row["n"] >= MIN_GROUP_ROWS else " (small)"),
                    int(row["n"]),
                    int(row["positives"]),
                    int(row["warned"]),
                    cell("base_rate", html.format_share(row["base_rate"], 2)),
                    cell("warning_rate", html.format_share(row["warning_rate"], 2)),
                    cell("precision", html.format_share(row["precision"], 2)),
                    cell("recall", html.format_share(row["recall"], 2)),
                    cell("mean_score", html.format_share(row["mean_score"], 2)),
                    cell("calibration_gap", f"{row['calibration_gap']:+.4f}"),
                ]
            )
        highlighted = int(flags.to_numpy().sum())
        parts.append(html.tag("h3", column.removeprefix("audit_").replace("_", " ")))
        parts.append(
            html.tag(
                "div",
                html.table(header, rows),
                html.tag(
                    "p",
                    f"{highlighted} highlighted gap(s)."
                    if highlighted
                    else "No gap above the thresholds.",
                    class_="muted",
                ),
                class_="fairness-group",
                data_group=column,
            )
        )
    return html.join(parts)


def _verdict(passed: bool) -> html.Markup:
    return html.tag("span", "PASS" if passed else "FAIL", class_="pass" if passed else "fail")


def _fidelity(
    model: RiskModel, test: pd.DataFrame, scored: _Scored, truth: Truth | None
) -> tuple[html.Markup, dict[str, Any] | None]:
    features = model.spec.features
    dominant = None
    if truth is not None and "dominant_driver" in truth.units.columns:
        explained = test.iloc[scored.explained_rows]
        keys = truth.units.loc[:, ["entity_id", "as_of", "dominant_driver"]].assign(
            entity_id=lambda t: t["entity_id"].astype(str),
            as_of=lambda t: pd.to_datetime(t["as_of"]).astype("datetime64[ns]"),
        )
        rows = explained.loc[:, ["entity_id", "as_of"]].assign(
            entity_id=lambda t: t["entity_id"].astype(str),
            as_of=lambda t: pd.to_datetime(t["as_of"]).astype("datetime64[ns]"),
        )
        dominant = rows.merge(keys, on=["entity_id", "as_of"], how="left", validate="many_to_one")[
            "dominant_driver"
        ].tolist()
    result = fidelity(
        scored.contributions,
        features,
        dominant,
        planted_drivers=truth.drivers if truth is not None else (),
        roles=truth.roles if truth is not None else None,
    )
    noise_ceiling = result["strongest_noise_feature"]
    roles = truth.roles if truth is not None else FeatureRoles()
    parts: list[object] = []
    if not result["noise_features"] or not result["driver_features"]:
        parts.append(
            html.tag(
                "p",
                "The truth (truth/drivers.json) names no planted-driver or no noise feature.",
                class_="note",
            )
        )
    weakest = result["weakest_driver_feature"]
    parts.append(
        html.tag(
            "p",
            "Rule: a planted driver's importance is the mean |SHAP| of the catalog features that "
            "measure it (truth/drivers.json), summed; the check passes when every driver's "
            "importance is above the mean |SHAP| of every noise and proxy feature. Several features can "
            "measure one driver and share its credit, so single features are listed below for "
            "reference and not judged one by one.",
            id="fidelity-rule",
        )
    )
    parts.append(
        html.tag(
            "p",
            _verdict(result["drivers_above_noise"]),
            " Every planted driver ranks above every noise feature. Strongest noise feature: "
            + (f"{noise_ceiling[0]} ({noise_ceiling[1]:.4f})" if noise_ceiling else "none")
            + (
                f"; drivers at or below it: {', '.join(result['drivers_below_noise'])}."
                if result["drivers_below_noise"]
                else "."
            ),
            id="fidelity-drivers",
        )
    )
    importance = result["importance"]
    noise_rows = [[name, roles.kind(name), importance[name]] for name in result["noise_features"]]
    driver_rows = [
        [driver, "planted driver", value]
        for driver, value in sorted(result["driver_importance"].items(), key=lambda kv: -kv[1])
    ]
    ranked = sorted(driver_rows + noise_rows, key=lambda row: -float(row[2]))
    parts.append(
        html.table(
            ["driver or noise feature", "kind", "mean |SHAP| (drivers: summed over features)"],
            ranked,
            row_classes=[
                "flag"
                if row[1] == "planted driver" and row[0] in result["drivers_below_noise"]
                else None
                for row in ranked
            ],
        )
    )
    parts.append(
        html.tag(
            "p",
            "For reference, single features: "
            + (
                "every planted-driver feature is above every noise feature."
                if result["features_above_noise"]
                else "the weakest planted-driver feature, "
                + (f"{weakest[0]} ({weakest[1]:.4f})," if weakest else "none,")
                + " is not above the strongest noise feature (flagged rows below)."
            ),
            id="fidelity-features",
        )
    )
    by_feature = sorted(
        (
            [f.name, roles.describe(f.name), importance[f.name]]
            for f in features
            if roles.kind(f.name) != "other"
        ),
        key=lambda row: -float(row[2]),
    )
    ceiling = noise_ceiling[1] if noise_ceiling else -math.inf
    parts.append(
        html.table(
            ["feature", "planted driver it measures (or noise)", "mean |SHAP|"],
            by_feature,
            row_classes=[
                "flag" if row[1] != "noise" and float(row[2]) <= ceiling else None
                for row in by_feature
            ],
        )
    )
    if truth is not None and truth.drivers:
        missing = sorted(set(truth.drivers) - set(result["driver_importance"]))
        if missing:
            parts.append(
                html.tag(
                    "p",
                    "Planted drivers without any catalog feature: " + ", ".join(missing),
                    class_="note",
                )
            )
    if dominant is None:
        parts.append(
            html.tag("p", "No unit truth given: the top-reason check is skipped.", class_="note")
        )
    else:
        share = result["top_reason_share"]
        passed = bool(share >= TOP_REASON_SHARE_TARGET) if not math.isnan(share) else False
        parts.append(
            html.tag(
                "p",
                _verdict(passed),
                f" Units with a single dominant driver: {result['single_driver_units']:,} (of the "
                f"{len(scored.contributions):,} explained rows); its driver is among the "
                f"top-{TOP_REASONS} reasons, ranked by |contribution| as the scorer shows them, "
                f"for {result['top_reason_hits']:,} ({_pct(share)}; target "
                f"{TOP_REASON_SHARE_TARGET:.0%}).",
                id="fidelity-top-reasons",
            )
        )
        parts.append(
            html.tag(
                "p",
                f"Among the top-{TOP_REASONS} contributions that raise the risk (the truth's "
                "dominant driver is the largest push up; reasons that lower the risk, such as an "
                "absent driver, can outrank it by |contribution|): "
                f"{result['top_raising_hits']:,} ({_pct(result['top_raising_share'])}).",
                id="fidelity-top-raising",
            )
        )
        parts.append(
            html.tag(
                "p",
                "How to read a miss: both the truth and SHAP measure a driver's push against the "
                "average unit, so a miss means the model spread the driver's effect over other "
                "features or learned it weakly; reasons that lower the risk (a driver the unit "
                "lacks) can also outrank a modest dominant push by |contribution|.",
                class_="note",
            )
        )
        parts.append(
            html.table(
                [
                    "dominant driver",
                    "units",
                    f"in top {TOP_REASONS} reasons",
                    "share",
                    f"in top {TOP_REASONS} raising",
                    "share raising",
                ],
                [
                    [
                        driver,
                        int(entry["units"]),
                        int(entry["hits"]),
                        _pct(entry["share"]),
                        int(entry["raising_hits"]),
                        _pct(entry["raising_share"]),
                    ]
                    for driver, entry in result["per_driver"].items()
                ],
            )
        )
    return html.join(parts), result


def _sample_positions(levels: np.ndarray, per_level: int) -> list[int]:
    rng = np.random.default_rng(0)
    chosen: list[int] = []
    for level in WARNING_LEVELS:
        candidates = np.flatnonzero(levels == level)
        if len(candidates):
            picked = rng.choice(candidates, size=min(per_level, len(candidates)), replace=False)
            chosen.extend(int(i) for i in sorted(picked))
    return chosen


def _warnings_sample(model: RiskModel, test: pd.DataFrame, scored: _Scored) -> html.Markup:
    features = model.spec.features
    explained = test.iloc[scored.explained_rows]
    levels = scored.arrays.levels[scored.explained_rows]
    scores = scored.arrays.scores[scored.explained_rows]
    margins = scored.arrays.raw_margin[scored.explained_rows]
    raw_values = explained.loc[:, list(model.spec.feature_names)].to_numpy(dtype=object)
    parts: list[object] = [
        html.tag(
            "p",
            f"Up to {SAMPLE_WARNINGS_PER_LEVEL} warnings per level, drawn with a fixed seed. "
            "Entity identifiers are left out on purpose.",
        )
    ]
    positions = _sample_positions(levels, SAMPLE_WARNINGS_PER_LEVEL)
    if not positions:
        parts.append(
            html.tag("p", "No unit in the test slice reaches a warning level.", class_="note")
        )
    for number, position in enumerate(positions, start=1):
        row_contrib = scored.contributions[position]
        items = []
        for index, feature in enumerate(features):
            items.append(
                Contribution(
                    feature.label_en,
                    feature.label_zh,
                    display_value(raw_values[position, index]),
                    float(row_contrib[index]),
                )
            )
        png = waterfall_png(
            items,
            scored.base_value,
            final_margin=float(margins[position]),
            score=float(scores[position]),
            lang="en",
            top_k=8,
        )
        order = np.argsort(-np.abs(row_contrib), kind="stable")[:5]
        reason_rows = []
        for index in order:
            feature = features[index]
            direction = contribution_direction(float(row_contrib[index]))
            value = raw_values[position, index]
            if isinstance(value, float) and math.isnan(value):
                value = None
            elif hasattr(value, "item"):
                value = value.item()
            reason_rows.append(
                [
                    f"{row_contrib[index]:+.3f}",
                    _safe_sentence(feature, value, direction, "en"),
                    _safe_sentence(feature, value, direction, "zh"),
                ]
            )
        level = str(levels[position])
        parts.append(
            html.tag(
                "article",
                html.tag(
                    "h3",
                    f"Sample {number}: ",
                    html.tag("span", level, class_=f"level level-{level}"),
                    f" score {scores[position]:.1%}, as of {explained['as_of'].iloc[position]:%Y-%m-%d}",
                ),
                html.image(png, f"Waterfall of sample warning {number}"),
                html.table(["contribution (log-odds)", "reason", "原因"], reason_rows),
                class_="warning-sample",
            )
        )
    return html.join(parts)


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
    fidelity_html, _ = _fidelity(model, test, scored, truth)
    spec = model.spec
    title = f"riskloop model report: {spec.task}" + (
        f" v{run_info.version}" if run_info.version else ""
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    contents = html.tag(
        "nav",
        html.tag(
            "ol",
            *(
                html.tag("li", html.tag("a", name, href=f"#{section_id}"))
                for section_id, name in zip(
                    SECTION_IDS,
                    (
                        "Model card",
                        "Performance",
                        "Global explanations",
                        "Fairness",
                        "Explanation fidelity",
                        "Sample warnings",
                    ),
                    strict=True,
                )
            ),
        ),
    )
    language_note = plot_language("zh").note
    return html.document(
        title,
        html.tag("h1", title),
        html.tag(
            "p", f"Generated {generated}. Labels in English and Chinese (中文).", class_="muted"
        ),
        html.tag("p", language_note, class_="note") if language_note else "",
        contents,
        html.section("model-card", "1. Model card", _model_card(model, test, run_info, truth)),
        html.section(
            "performance",
            "2. Performance on the test slice",
            _performance(model, test, scored, true_prob),
        ),
        html.section(
            "global-explanations",
            "3. Global explanations",
            _global_explanations(
                model, test, scored, truth.roles if truth is not None else FeatureRoles()
            ),
        ),
        html.section("fairness", "4. Fairness by audit group", _fairness(model, test, scored)),
        html.section(
            "fidelity", "5. Explanation fidelity against the simulated truth", fidelity_html
        ),
        html.section(
            "warnings-sample", "6. Sample warnings", _warnings_sample(model, test, scored)
        ),
    )
