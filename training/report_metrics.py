"""The model report's figures: pure functions over scores, labels and contributions.

Every number the report shows is computed here, apart from the layout, so tests call these
functions directly and check them against a plain computation (`tests/reports/
test_report_numbers.py`). Nothing here draws, formats or writes HTML: `training.report`
turns the results into charts and a template context.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta

from features.catalog import FeatureDef
from training.evaluate import FLAGGED_LEVELS, truth_values

WARNING_LEVELS = ("red", "orange", "yellow")
# A group's figure is a fairness gap when its ratio to the reference (the whole slice's rate;
# for calibration, the group's own mean score) is outside these bounds AND the group's own 95%
# interval excludes the reference: noise in a small group raises no alarm, and a real gap at a
# 2-5% base rate is not hidden under an absolute threshold. The bounds are symmetric (0.8 is
# 1/1.25), so observed/score and score/observed cross them together.
RATIO_BOUNDS = (0.8, 1.25)
CONFIDENCE = 0.95
#: What one figure of a group says: a gap, too few units to tell, or neither.
GAP, TOO_FEW, NO_GAP = "gap", "too_few", ""
# Explanation fidelity pass mark for the dominant driver among the top reasons.
TOP_REASONS = 3
TOP_REASON_SHARE_TARGET = 0.80


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


def proportion_interval(
    successes: np.ndarray | pd.Series, trials: np.ndarray | pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """The exact (Clopper-Pearson) `CONFIDENCE` interval of each share successes / trials.

    Exact rather than normal-approximation intervals: groups are often small and the rates
    low (a 0/67 group's interval is 0-5.4%, not 0-0). NaN where there are no trials.
    """
    k = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    tail = (1.0 - CONFIDENCE) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(k > 0, beta.ppf(tail, k, n - k + 1), 0.0)
        high = np.where(k < n, beta.ppf(1.0 - tail, k + 1, n - k), 1.0)
    none = n <= 0
    return np.where(none, np.nan, low), np.where(none, np.nan, high)


#: The rates a fairness table gives an interval: rate -> (its count column, its trials column).
INTERVAL_RATES: Mapping[str, tuple[str, str]] = {
    "base_rate": ("positives", "n"),
    "precision": ("hits", "warned"),
    "recall": ("hits", "positives"),
    "fpr": ("false_alarms", "negatives"),
}


def fairness_table(
    frame: pd.DataFrame, scores: np.ndarray, levels: np.ndarray, group_col: str
) -> pd.DataFrame:
    """Per-group warning and error rates of scored rows, with their 95% intervals.

    A row is *warned* when its level is yellow or above. Columns: group, n, positives,
    negatives, warned, hits (warned positives), false_alarms (warned negatives), base_rate
    (share labelled 1), warning_rate, precision (hits / warned), recall (hits / positives),
    fpr (false-positive rate: false_alarms / negatives), each of base_rate, precision, recall
    and fpr with its `<rate>_low` / `<rate>_high` interval (`proportion_interval`), mean_score
    and score_ratio (mean_score / base_rate: above 1 the model scores the group above its
    observed rate; inf for a group without positives). A rate is NaN where undefined. Missing group values form the group
    "missing".
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
            "warned": grouped["warned"].sum(),
            "hits": grouped["hit"].sum(),
            "base_rate": grouped["label"].mean(),
            "warning_rate": grouped["warned"].mean(),
            "mean_score": grouped["score"].mean(),
        }
    )
    table["negatives"] = table["n"] - table["positives"]
    table["false_alarms"] = table["warned"] - table["hits"]
    table["precision"] = table["hits"] / table["warned"].where(table["warned"] > 0)
    table["recall"] = table["hits"] / table["positives"].where(table["positives"] > 0)
    table["fpr"] = table["false_alarms"] / table["negatives"].where(table["negatives"] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):  # a group without positives: inf
        table["score_ratio"] = table["mean_score"].to_numpy() / table["base_rate"].to_numpy()
    for rate, (count, trials) in INTERVAL_RATES.items():
        table[f"{rate}_low"], table[f"{rate}_high"] = proportion_interval(
            table[count], table[trials]
        )
    table = table.reset_index().astype({"group": "str"})
    counts = ["n", "positives", "negatives", "warned", "hits", "false_alarms"]
    table = table.astype(dict.fromkeys(counts, "int64"))
    rates = [
        column
        for rate in ("base_rate", "warning_rate", "precision", "recall", "fpr")
        for column in ((rate, f"{rate}_low", f"{rate}_high") if rate in INTERVAL_RATES else (rate,))
    ]
    return table.loc[:, ["group", *counts, *rates, "mean_score", "score_ratio"]]


def judge_gap(value: float, low: float, high: float, reference: float) -> str:
    """`GAP`, `TOO_FEW` or `NO_GAP` for a group's rate `value` (95% interval `low`-`high`)
    against `reference`.

    Beyond the bounds means value / reference outside `RATIO_BOUNDS`. A gap: beyond the bounds
    and the interval excludes the reference. Too few to tell: beyond the bounds, but the
    interval still covers the reference, so the group's units cannot tell a gap from chance.
    Within the bounds, or undefined: `NO_GAP`.
    """
    if any(math.isnan(x) for x in (value, low, high, reference)) or reference <= 0:
        return NO_GAP
    lower, upper = RATIO_BOUNDS
    if lower <= value / reference <= upper:
        return NO_GAP
    return GAP if high < reference or low > reference else TOO_FEW


def fairness_flags(table: pd.DataFrame, overall: Mapping[str, float]) -> pd.DataFrame:
    """What each judged figure of a fairness table says (`judge_gap`): `GAP`, `TOO_FEW` or
    `NO_GAP`.

    Columns: calibration (the base rate's interval against the group's own mean score:
    score / observed outside the bounds), and precision, recall and fpr against the whole
    slice's (`overall`). Warning rates are shown, never judged: groups' base rates differ.
    """

    def judged(rate: str, reference: pd.Series) -> list[str]:
        return [
            judge_gap(value, low, high, ref)
            for value, low, high, ref in zip(
                table[rate], table[f"{rate}_low"], table[f"{rate}_high"], reference, strict=True
            )
        ]

    verdicts = {"calibration": judged("base_rate", table["mean_score"])}
    for rate in ("precision", "recall", "fpr"):
        verdicts[rate] = judged(rate, pd.Series(overall[rate], index=table.index))
    return pd.DataFrame(verdicts, index=table.index)


#: Raw columns that are a protected attribute, or can stand for one (DOMAIN.md: age and sex
#: only with a stated reason; a place can stand for migrant status), by the attribute's name.
PROTECTED_SOURCES: Mapping[str, str] = {"birth_year": "age", "sex": "sex", "district": "place"}


@dataclass(frozen=True)
class ProtectedFeature:
    """A model feature derived from a protected attribute or a proxy of one.

    Attributes:
        feature: the catalog entry; its `why_kept` is the stated reason ("" when none).
        attributes: the protected attributes it derives from (`PROTECTED_SOURCES` values).
    """

    feature: FeatureDef
    attributes: tuple[str, ...]


def protected_features(features: Sequence[FeatureDef]) -> list[ProtectedFeature]:
    """The features a reviewer must see with their stated reason: those read from a protected
    or proxy column (`PROTECTED_SOURCES`), and any the catalog gives a reason to be kept."""
    found = []
    for feature in features:
        attributes = tuple(
            dict.fromkeys(
                PROTECTED_SOURCES[column]
                for column in feature.source_columns
                if column in PROTECTED_SOURCES
            )
        )
        if attributes or feature.why_kept:
            found.append(ProtectedFeature(feature, attributes))
    return found


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
    roles = roles or FeatureRoles()
    result = _importance_against_noise(contributions, features, roles)
    if dominant_driver is None:
        return result
    drivers = set(result["driver_importance"]) | set(planted_drivers)
    driver_of = [roles.driver_of.get(feature.name) for feature in features]
    result.update(_top_reason_hits(contributions, driver_of, list(dominant_driver), drivers, top_k))
    return result


def _importance_against_noise(
    contributions: np.ndarray, features: Sequence[FeatureDef], roles: FeatureRoles
) -> dict[str, Any]:
    """Mean |SHAP| per feature and per planted driver, and how they rank against noise."""
    names = [feature.name for feature in features]
    mean_abs = np.abs(contributions).mean(axis=0) if len(contributions) else np.zeros(len(names))
    importance = dict(zip(names, (float(v) for v in mean_abs), strict=True))
    driver_features = [name for name in names if roles.kind(name) == "driver"]
    noise_features = [name for name in names if roles.kind(name) in ("noise", "proxy")]
    driver_importance: dict[str, float] = {}
    for name in driver_features:
        driver = roles.driver_of[name]
        driver_importance[driver] = driver_importance.get(driver, 0.0) + importance[name]
    weakest = min(((n, importance[n]) for n in driver_features), key=lambda kv: kv[1], default=None)
    strongest_noise = max(
        ((n, importance[n]) for n in noise_features), key=lambda kv: kv[1], default=None
    )
    noise_ceiling = strongest_noise[1] if strongest_noise else -math.inf
    return {
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


def _top_reason_hits(
    contributions: np.ndarray,
    driver_of: list[str | None],
    dominant: list[object],
    drivers: set[str],
    top_k: int,
) -> dict[str, Any]:
    """How often a unit's single dominant driver is among its top-k reasons (all, raising);
    `driver_of` names each feature's planted driver (None for the others)."""
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
    return {
        "single_driver_units": units,
        "top_reason_hits": hits,
        "top_reason_share": hits / units if units else math.nan,
        "top_raising_hits": raising_hits,
        "top_raising_share": raising_hits / units if units else math.nan,
        "per_driver": dict(sorted(per_driver.items())),
    }


def overall_rates(frame: pd.DataFrame, scores: np.ndarray, levels: np.ndarray) -> dict[str, float]:
    """Precision, recall and false-positive rate of the whole slice (the references a
    group's rates are compared to)."""
    whole = fairness_table(frame.assign(_all="all"), scores, levels, "_all").iloc[0]
    return {key: float(whole[key]) for key in ("precision", "recall", "fpr")}


@dataclass(frozen=True)
class FairnessGroup:
    """One audit column's fairness table and what each judged figure says (`fairness_flags`)."""

    column: str
    table: pd.DataFrame
    flags: pd.DataFrame

    @property
    def highlighted(self) -> int:
        """How many figures are gaps (highlighted)."""
        return int((self.flags.to_numpy() == GAP).sum())

    @property
    def too_few(self) -> int:
        """How many figures rest on too few units to tell."""
        return int((self.flags.to_numpy() == TOO_FEW).sum())

    def records(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """Each group's figures beside its figures' verdicts, in table order."""
        rows = self.table.to_dict("records")
        flags = self.flags.to_dict("records")
        return [
            (
                {str(key): value for key, value in row.items()},
                {str(k): str(v) for k, v in flag.items()},
            )
            for row, flag in zip(rows, flags, strict=True)
        ]


def audit_groups(expected: Sequence[str], frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Audit columns to report (the task's own first, then any other), and those missing."""
    extra = [c for c in frame.columns if c.startswith("audit_") and c not in expected]
    present = [c for c in expected if c in frame.columns] + extra
    return present, [c for c in expected if c not in frame.columns]


def fairness_groups(
    frame: pd.DataFrame,
    scores: np.ndarray,
    levels: np.ndarray,
    columns: Sequence[str],
    overall: Mapping[str, float],
) -> list[FairnessGroup]:
    """The fairness table and its highlighted cells for each audit column."""
    groups = []
    for column in columns:
        table = fairness_table(frame, scores, levels, column)
        groups.append(FairnessGroup(column, table, fairness_flags(table, overall)))
    return groups


def reliability_bins(
    label: np.ndarray, scores: np.ndarray, bins: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Mean score and observed positive rate per score bin of equal row counts."""
    order = np.argsort(scores, kind="stable")
    chunks = [chunk for chunk in np.array_split(order, min(bins, len(order))) if len(chunk)]
    mean_score = np.array([scores[c].mean() for c in chunks])
    observed = np.array([label[c].mean() for c in chunks])
    return mean_score, observed


@dataclass(frozen=True)
class CapacityRow:
    """Precision and recall when every unit at `level` or above is warned (the first row,
    red, counts red alone)."""

    level: str
    capacity: float
    flagged: int
    flagged_share: float
    precision: float
    recall: float
    oracle_precision: float
    oracle_recall: float


def capacity_rows(
    capacities: Mapping[Any, float],
    levels: np.ndarray,
    positives: float,
    metrics: Mapping[str, float],
) -> list[CapacityRow]:
    """The capacity table: cumulative levels, their counts, precision and recall (and oracle's).

    The oracle flags as many units as the model, ranked by true probability, so its recall is
    its precision times the flagged count over the positives.
    """
    rows = []
    cumulative = 0.0
    for level, included in FLAGGED_LEVELS.items():
        cumulative += capacities.get(level, 0.0)
        flagged = int(np.isin(levels, included).sum())
        oracle_precision = metrics.get(f"oracle_precision_at_{level}", math.nan)
        oracle_recall = (
            oracle_precision * flagged / positives
            if positives and not math.isnan(oracle_precision)
            else math.nan
        )
        rows.append(
            CapacityRow(
                level=level,
                capacity=cumulative,
                flagged=flagged,
                flagged_share=metrics[f"flagged_share_{level}"],
                precision=metrics[f"precision_at_{level}"],
                recall=metrics[f"recall_at_{level}"],
                oracle_precision=oracle_precision,
                oracle_recall=oracle_recall,
            )
        )
    return rows


def importance_ranking(contributions: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean |SHAP| per feature and the feature order from most to least important."""
    mean_abs = np.abs(contributions).mean(axis=0) if len(contributions) else np.zeros(n_features)
    return mean_abs, np.argsort(-mean_abs, kind="stable")


def dominant_drivers(explained: pd.DataFrame, units: pd.DataFrame) -> list[object]:
    """The truth's dominant driver of each explained row, matched on (entity_id, as_of)."""
    return list(truth_values(explained, units, "dominant_driver").tolist())


@dataclass(frozen=True)
class RankedImportance:
    """One row of a fidelity ranking: a driver or a feature, its mean |SHAP|, its flag."""

    name: str
    kind: str
    importance: float
    flagged: bool


def driver_ranking(
    result: Mapping[str, Any], roles: FeatureRoles | None = None
) -> list[RankedImportance]:
    """Planted drivers (summed over their features) and noise and proxy features, most
    important first. A driver at or below the strongest noise or proxy feature is flagged.
    """
    roles = roles or FeatureRoles()
    importance = result["importance"]
    below = set(result["drivers_below_noise"])
    rows = [
        RankedImportance(driver, "planted driver", value, driver in below)
        for driver, value in sorted(result["driver_importance"].items(), key=lambda kv: -kv[1])
    ] + [
        RankedImportance(name, roles.kind(name), importance[name], False)
        for name in result["noise_features"]
    ]
    return sorted(rows, key=lambda row: -float(row.importance))


def feature_ranking(
    result: Mapping[str, Any], features: Sequence[FeatureDef], roles: FeatureRoles | None = None
) -> list[RankedImportance]:
    """Driver, noise and proxy features one by one; a driver feature not above every noise or
    proxy one is flagged."""
    roles = roles or FeatureRoles()
    importance = result["importance"]
    noise = result["strongest_noise_feature"]
    ceiling = noise[1] if noise else -math.inf
    rows = [
        RankedImportance(
            f.name,
            roles.describe(f.name),
            importance[f.name],
            roles.kind(f.name) == "driver" and importance[f.name] <= ceiling,
        )
        for f in features
        if roles.kind(f.name) != "other"
    ]
    return sorted(rows, key=lambda row: -float(row.importance))


def sample_positions(levels: np.ndarray, per_level: int) -> list[int]:
    """Up to `per_level` rows of each warning level, drawn with a fixed seed."""
    rng = np.random.default_rng(0)
    chosen: list[int] = []
    for level in WARNING_LEVELS:
        candidates = np.flatnonzero(levels == level)
        if len(candidates):
            picked = rng.choice(candidates, size=min(per_level, len(candidates)), replace=False)
            chosen.extend(int(i) for i in sorted(picked))
    return chosen
