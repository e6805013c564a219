"""Test-slice metrics, with the simulated city's oracle beside them where the truth is known.

ECE uses 10 equal-frequency bins (deciles of the score): with base rates of a few percent,
equal-width bins would put nearly every row in the first bin and hide miscalibration.
Precision and recall at a level's capacity are cumulative: "red" counts the red units,
"orange" the red and orange ones, "yellow" everything flagged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.risk_model import RiskModel
from models.scorer import ScoredArrays, score_arrays

ECE_BINS = 10
FLAGGED_LEVELS: dict[str, tuple[str, ...]] = {
    "red": ("red",),
    "orange": ("red", "orange"),
    "yellow": ("red", "orange", "yellow"),
}


def expected_calibration_error(label: np.ndarray, score: np.ndarray, bins: int = ECE_BINS) -> float:
    """Row-weighted mean |observed rate - mean score| over equal-frequency score bins."""
    label = np.asarray(label, dtype="float64")
    score = np.asarray(score, dtype="float64")
    if not len(score):
        return float("nan")
    order = np.argsort(score, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, min(bins, len(order))):
        total += len(chunk) * abs(label[chunk].mean() - score[chunk].mean())
    return float(total / len(score))


def _auc(label: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(label)) < 2:
        return float("nan")
    return float(roc_auc_score(label, score))


def _pr_auc(label: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if len(np.unique(label)) < 2:
        return float("nan")
    return float(average_precision_score(label, score))


def _top_k_precision(label: np.ndarray, score: np.ndarray, k: int) -> float:
    if k <= 0:
        return float("nan")
    top = np.argsort(-score, kind="stable")[:k]
    return float(label[top].mean())


def truth_values(rows: pd.DataFrame, truth: pd.DataFrame, column: str) -> pd.Series:
    """The truth file's `column` for each row, matched on (entity_id, as_of); NaN where absent."""
    keys = truth.loc[:, ["entity_id", "as_of", column]].assign(
        entity_id=lambda t: t["entity_id"].astype(str),
        as_of=lambda t: pd.to_datetime(t["as_of"]).astype("datetime64[ns]"),
    )
    wanted = rows.loc[:, ["entity_id", "as_of"]].assign(
        entity_id=lambda t: t["entity_id"].astype(str),
        as_of=lambda t: pd.to_datetime(t["as_of"]).astype("datetime64[ns]"),
    )
    merged = wanted.merge(keys, on=["entity_id", "as_of"], how="left", validate="many_to_one")
    return merged[column]


def attach_truth(test: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """The simulated `true_prob` of each test row (NaN where the truth file lacks the unit)."""
    return truth_values(test, truth, "true_prob").to_numpy(dtype="float64")


def evaluate_scores(
    label: np.ndarray,
    scored: ScoredArrays,
    true_prob: np.ndarray | None = None,
) -> dict[str, float]:
    """Headline metrics of scored rows; oracle figures (and `oracle_rows`, how many rows they
    are measured on) when `true_prob` covers enough of them (`oracle_rows`)."""
    label = np.asarray(label, dtype="float64")
    scores = scored.scores
    metrics: dict[str, float] = {
        "n_rows": float(len(label)),
        "positive_rate": float(label.mean()) if len(label) else float("nan"),
        "roc_auc": _auc(label, scored.raw_margin),
        "pr_auc": _pr_auc(label, scored.raw_margin),
        "brier": float(np.mean((scores - label) ** 2)) if len(label) else float("nan"),
        "ece": expected_calibration_error(label, scores),
        "mean_score": float(scores.mean()) if len(scores) else float("nan"),
    }
    positives = label.sum()
    for level, included in FLAGGED_LEVELS.items():
        flagged = np.isin(scored.levels, included)
        metrics[f"flagged_share_{level}"] = float(flagged.mean()) if len(label) else float("nan")
        metrics[f"precision_at_{level}"] = (
            float(label[flagged].mean()) if flagged.any() else float("nan")
        )
        metrics[f"recall_at_{level}"] = (
            float(label[flagged].sum() / positives) if positives else float("nan")
        )
    known = oracle_rows(true_prob)
    if known is not None:
        # on the rows the truth covers (a unit labelled from a closed warning's outcome past the
        # simulated months has none); the model's lift on those same rows
        label, true_prob = label[known], np.asarray(true_prob)[known]
        levels = scored.levels[known]
        model_auc = metrics["roc_auc"] if known.all() else _auc(label, scored.raw_margin[known])
        oracle_auc = _auc(label, true_prob)
        metrics["oracle_rows"] = float(known.sum())
        metrics["oracle_roc_auc"] = oracle_auc
        metrics["oracle_pr_auc"] = _pr_auc(label, true_prob)
        metrics["oracle_brier"] = float(np.mean((true_prob - label) ** 2))
        metrics["oracle_ece"] = expected_calibration_error(label, true_prob)
        metrics["lift_recovered"] = (
            (model_auc - 0.5) / (oracle_auc - 0.5) if oracle_auc > 0.5 else float("nan")
        )
        for level, included in FLAGGED_LEVELS.items():
            flagged_count = int(np.isin(levels, included).sum())
            metrics[f"oracle_precision_at_{level}"] = _top_k_precision(
                label, true_prob, flagged_count
            )
    return metrics


#: The share of a test slice the truth must cover for oracle figures: those of a few rows
#: would be noise, and a lift measured on a sliver would not be the slice's.
ORACLE_MIN_COVERAGE = 0.9


def oracle_rows(true_prob: np.ndarray | None) -> np.ndarray | None:
    """The rows whose simulated `true_prob` is known, when they are at least
    `ORACLE_MIN_COVERAGE` of the slice; else None (no oracle figures)."""
    if true_prob is None or not len(true_prob):
        return None
    known = ~np.isnan(np.asarray(true_prob, dtype="float64"))
    return known if known.mean() >= ORACLE_MIN_COVERAGE else None


def evaluate_model(
    model: RiskModel, test: pd.DataFrame, truth: pd.DataFrame | None = None
) -> dict[str, float]:
    """Score the test slice with the scorer (no explanations) and compute its metrics."""
    scored = score_arrays(model, test, explain=False)
    true_prob = attach_truth(test, truth) if truth is not None else None
    return evaluate_scores(test["label"].to_numpy(), scored, true_prob)


def mean_abs_shap(model: RiskModel, frame: pd.DataFrame, max_rows: int = 5000) -> dict[str, float]:
    """Global importance: mean |TreeSHAP contribution| per feature over (a sample of) `frame`."""
    sample = frame if len(frame) <= max_rows else frame.sample(max_rows, random_state=0)
    contributions = score_arrays(model, sample, explain=True).contributions
    assert contributions is not None
    values = np.abs(contributions).mean(axis=0) if len(sample) else np.zeros(contributions.shape[1])
    return dict(zip(model.spec.feature_names, (float(v) for v in values), strict=True))
