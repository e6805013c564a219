"""Pure figures for `riskloop monitor`: drift (PSI), volume against capacity, precision, calibration.

No I/O: the CLI gathers the frames (reference data, scored records, warnings) and these
functions turn them into numbers, so each can be tested on hand-made data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from serving.store.models import WARNING_LEVELS

PSI_EPSILON = 1e-4
DEFAULT_BINS = 10
MISSING_BIN = "<missing>"

# How a closed warning's outcome becomes an observed label. `prevented` counts as positive:
# the department judged the risk real and stopped it, so the score was right to flag the unit.
# Scoring it 0 would teach a retrained model that effective interventions mean no risk, and the
# better the loop worked the more the model would unlearn. `unreachable` says nothing either way.
OUTCOME_LABELS: Mapping[str, int] = {"confirmed": 1, "prevented": 1, "false_alarm": 0}


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _shares(counts: pd.Series, total: int) -> pd.Series:
    return counts / total if total else counts.astype("float64")


def _numeric_bins(
    reference: pd.Series, current: pd.Series, bins: int
) -> tuple[pd.Series, pd.Series]:
    """Counts per quantile bin of the reference (plus a missing bin) for both samples."""
    ref_values = pd.to_numeric(reference, errors="coerce").astype("float64")
    cur_values = pd.to_numeric(current, errors="coerce").astype("float64")
    present = ref_values.dropna().to_numpy()
    if present.size:
        quantiles = np.quantile(present, np.linspace(0.0, 1.0, bins + 1)[1:-1])
        edges = np.unique(quantiles)
    else:
        edges = np.array([], dtype="float64")

    def bucket(values: pd.Series) -> pd.Series:
        # Bins are (edge[k-1], edge[k]]: a reference that is mostly zeros keeps 0 in a bin of
        # its own instead of sharing it with every positive value.
        labels = np.searchsorted(edges, values.to_numpy(), side="left").astype(object)
        labels[values.isna().to_numpy()] = MISSING_BIN
        return pd.Series(labels).value_counts()

    return bucket(ref_values), bucket(cur_values)


def _category_bins(reference: pd.Series, current: pd.Series) -> tuple[pd.Series, pd.Series]:
    def bucket(values: pd.Series) -> pd.Series:
        return values.astype(object).where(values.notna(), MISSING_BIN).astype(str).value_counts()

    return bucket(reference), bucket(current)


def psi(
    reference: Iterable[Any],
    current: Iterable[Any],
    *,
    bins: int = DEFAULT_BINS,
    epsilon: float = PSI_EPSILON,
) -> float:
    """Population stability index of `current` against `reference`.

    Numeric values fall into the reference's quantile bins (ties merged, so a feature with few
    distinct values gets fewer bins); other values are compared category by category. Missing
    values form a bin of their own, because a feature going missing is drift too. Empty bins
    get `epsilon` so the logarithm stays finite. NaN when either sample is empty.

    Rule of thumb: below 0.1 stable, 0.1-0.25 worth a look, above 0.25 a real shift.
    """
    ref = pd.Series(list(reference) if not isinstance(reference, pd.Series) else reference)
    cur = pd.Series(list(current) if not isinstance(current, pd.Series) else current)
    if ref.empty or cur.empty:
        return math.nan
    ref = ref.reset_index(drop=True)
    cur = cur.reset_index(drop=True)
    numeric_ref = pd.to_numeric(ref, errors="coerce") if ref.dtype == object else ref
    if _is_numeric(numeric_ref) and numeric_ref.notna().sum() >= ref.notna().sum():
        ref_counts, cur_counts = _numeric_bins(numeric_ref, cur, bins)
    else:
        ref_counts, cur_counts = _category_bins(ref, cur)
    keys = ref_counts.index.union(cur_counts.index)
    ref_share = _shares(ref_counts.reindex(keys, fill_value=0), len(ref)).clip(lower=epsilon)
    cur_share = _shares(cur_counts.reindex(keys, fill_value=0), len(cur)).clip(lower=epsilon)
    return float(((cur_share - ref_share) * np.log(cur_share / ref_share)).sum())


#: Above it a PSI is worth a look ("watch"); above the drift threshold (0.25 by default) it
#: raises the alarm. `psi`'s rule of thumb.
WATCH_PSI = 0.1


def psi_states(
    figures: Mapping[str, float], threshold: float, not_alarmed: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """The names whose PSI raises the alarm (above `threshold`), and those to watch (above
    `WATCH_PSI`, not above `threshold`); a name in `not_alarmed`, or a NaN, is in neither."""
    quiet = set(not_alarmed)
    drifted = [n for n, v in figures.items() if n not in quiet and v > threshold]
    watched = [n for n, v in figures.items() if n not in quiet and WATCH_PSI < v <= threshold]
    return drifted, watched


def recent_rows(
    frame: pd.DataFrame, share: float = 0.25, date_column: str = "as_of"
) -> pd.DataFrame:
    """The rows of the latest `date_column` values that together hold at least `share` of `frame`.

    Monitoring compares this month's population with the newest months the model learned from:
    the oldest training months differ for reasons that are not drift (year-on-year features have
    no history yet, firms were younger), and pooling them in would alarm every month.
    """
    if date_column not in frame.columns or frame.empty:
        return frame
    counts = frame[date_column].value_counts().sort_index(ascending=False)
    needed = share * len(frame)
    kept = counts.index[: int(np.searchsorted(counts.cumsum().to_numpy(), needed)) + 1]
    return frame[frame[date_column].isin(kept)]


def latest_per_unit(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per unit and date: the last score of each (`entity_hash`, `as_of`).

    A unit scored twice for the same date (a screening run again, an API client retrying a
    batch, a re-score after a model change) is one member of the month's population: counted
    twice, it would double the volumes the departments are sized against and weigh the
    re-scored units twice in the drift figures. `frame` is in the order the records were
    written (`scored_records`), so the last row is the latest score.
    """
    if frame.empty or not {"entity_hash", "as_of"} <= set(frame.columns):
        return frame
    return frame[~frame.duplicated(["entity_hash", "as_of"], keep="last")]


def feature_psi(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Iterable[str],
    *,
    bins: int = DEFAULT_BINS,
) -> dict[str, float]:
    """PSI of each feature present in both frames, in the order given."""
    return {
        name: psi(reference[name], current[name], bins=bins)
        for name in features
        if name in reference.columns and name in current.columns
    }


def level_volume(levels: pd.Series, capacities: Mapping[str, float]) -> list[dict[str, Any]]:
    """Units per warning level, and their share of all `levels`, against the share the
    departments can handle.

    `levels` holds one level per unit (`latest_per_unit`'s rows: the shares are over units,
    not over scored records); `capacities` maps a level to its share of the scored
    population (red 0.01, ...); `load` above 1 means more warnings than the level was sized
    for.
    """
    total = len(levels)
    counts = levels.value_counts()
    rows = []
    for level in WARNING_LEVELS[::-1]:
        count = int(counts.get(level, 0))
        share = count / total if total else math.nan
        capacity = capacities.get(level, math.nan)
        rows.append(
            {
                "level": level,
                "count": count,
                "share": share,
                "capacity_share": capacity,
                "load": share / capacity if capacity and not math.isnan(share) else math.nan,
            }
        )
    return rows


def precision_by_level(warnings: pd.DataFrame) -> list[dict[str, Any]]:
    """Outcome counts and precision of closed warnings per level.

    Precision = (confirmed + prevented) / (confirmed + prevented + false_alarm); `unreachable`
    warnings are counted but left out, since nobody learned whether the risk was real.
    """
    closed = warnings[warnings["status"] == "closed"]
    rows = []
    for level in WARNING_LEVELS[::-1]:
        outcomes = closed.loc[closed["risk_level"] == level, "outcome"].value_counts()
        counts = {
            name: int(outcomes.get(name, 0))
            for name in ("confirmed", "prevented", "false_alarm", "unreachable")
        }
        judged = counts["confirmed"] + counts["prevented"] + counts["false_alarm"]
        positives = counts["confirmed"] + counts["prevented"]
        rows.append(
            {
                "level": level,
                "closed": int(sum(counts.values())),
                **counts,
                "precision": positives / judged if judged else math.nan,
            }
        )
    return rows


def observed_labels(outcomes: pd.Series) -> pd.Series:
    """0/1 labels from closing outcomes (`OUTCOME_LABELS`); NaN where the outcome says nothing."""
    return outcomes.map(OUTCOME_LABELS).astype("float64")


def calibration(scores: pd.Series, labels: pd.Series, *, bins: int = 5) -> dict[str, Any]:
    """Mean score against observed rate in equal-count score bins, and their weighted gap (ECE).

    Only warnings that were closed with a telling outcome have labels, so this measures
    calibration among warned units, not the whole population.
    """
    frame = pd.DataFrame({"score": scores.to_numpy(), "label": labels.to_numpy()}).dropna()
    if frame.empty:
        return {"n": 0, "ece": math.nan, "bins": []}
    n_bins = max(1, min(bins, len(frame)))
    frame = frame.sort_values("score", kind="stable").reset_index(drop=True)
    frame["bin"] = np.arange(len(frame)) * n_bins // len(frame)
    rows = []
    ece = 0.0
    for _, group in frame.groupby("bin", sort=True):
        mean_score = float(group["score"].mean())
        rate = float(group["label"].mean())
        ece += len(group) / len(frame) * abs(mean_score - rate)
        rows.append(
            {
                "n": len(group),
                "mean_score": mean_score,
                "observed_rate": rate,
                "min_score": float(group["score"].min()),
                "max_score": float(group["score"].max()),
            }
        )
    return {"n": len(frame), "ece": ece, "bins": rows}
