"""The label-leakage guard of `riskloop train` and `riskloop promote`: a feature that alone
(nearly) determines the training slice's label, or a model too good to be honest, stops the
training (`LeakageFound`) unless overridden, and an overridden version is never champion by
the promotion rule.

The guard is a statistical judgement: on a slice with `LEAKAGE_MIN_POSITIVES` positives or more
a figure at or above its limit is refused; on fewer, a rare label's planted driver can reach the
limit by chance (19 training positives of a city at rate x0.02, all with two or more
screen-sharing alerts, gave that feature 0.9958), so a figure is refused only when the lower end
of its 95% interval (`auc_interval`) reaches the limit too, and otherwise said in a note. That
holds for a perfect figure too: a label copied into a feature ranks a slice of 19 positives
perfectly and is refused (its interval stays above 0.999), while an honest model's 1.0 on a
test slice of two positives is a note (its interval reaches down to about 0.98).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.spec import TaskSpec
from training.errors import UserError

#: A feature whose values alone rank the training slice's labels this well (ROC-AUC, either
#: direction) stands in for the label: `riskloop train` refuses it (`LeakageFound`). At the
#: simulated cities' normal rates honest features stay far below: at most 0.686 (wage:
#: size_band), 0.700 (fraud: screen_sharing_alerts_30d) and 0.772 (disputes: dispute_type) on
#: the default city (`riskloop generate`, seed 0), and below 0.78 on clean, rate x3 and small
#: cities; at rates of x0.004-x0.02 a slice of about 20 positives put fraud's
#: screen_sharing_alerts_30d at 0.993-0.996 (`LEAKAGE_MIN_POSITIVES`).
LEAKY_FEATURE_AUC = 0.99
#: A model whose test-slice ROC-AUC reaches this learnt the label from somewhere it should not:
#: at normal rates the simulator's own true probabilities score at most 0.88 (README, "Model
#: quality"); on the few test positives of a rate-x0.05 city they reach 0.996-0.999.
LEAKY_MODEL_AUC = 0.995
#: With fewer positives than this in the slice judged (the training slice for a feature, the
#: test slice for the model), a figure at or above its limit is refused only when the lower
#: end of its 95% interval (`auc_interval`) reaches the limit too; with this many or more the
#: figure alone decides, as it always did. An honest model can rank a test slice of two
#: positives perfectly (small city seed 42 at x0.004, disputes: 1.0 on 2 of about 600 rows,
#: interval from 0.98): a note, where a label leaked into a feature (1.0 on 19 training
#: positives of about 29,600 rows, interval from 0.9997) is refused.
LEAKAGE_MIN_POSITIVES = 50
#: The run tag saying the leakage guard was overridden (`--allow-label-leakage`), and what
#: it found; `riskloop promote` never makes such a version champion by the rule.
LEAKAGE_OVERRIDE_TAG = "riskloop.leakage_override"
LEAKAGE_FINDING_TAG = "riskloop.leakage_finding"
#: The two-sided 95% normal quantile.
_Z95 = 1.959963984540054


def auc_interval(auc: float, positives: int, negatives: int) -> tuple[float, float]:
    """The 95% interval of a ROC-AUC measured on `positives` and `negatives` rows, by Hanley &
    McNeil's standard error (Radiology 143, 1982), clipped to 0-1; NaN without both classes.

    A normal interval from their closed-form error rather than an exact or bootstrap bound: it
    needs only the figure and the two counts (which the runs record), so the guard, `train`,
    `promote` and the report give the same interval; its width shrinks with the counts.

    Their error is zero at an AUC of exactly 1.0 (or 0.0), which would claim certainty from
    any slice, two positives as well as two thousand. There it is taken half a pair from the
    edge (`1 - 1 / (2 * positives * negatives)`, a continuity correction as in a 2x2 table's):
    the interval is about 0.98-1.0 on 2 positives of 600 rows, 0.9994-1.0 on 19 of 7,000.
    """
    if not positives or not negatives or not math.isfinite(auc):
        return math.nan, math.nan
    half_pair = 0.5 / (positives * negatives)
    at = min(max(auc, half_pair), 1.0 - half_pair)  # the figure itself inside the edges
    q1 = at / (2.0 - at)
    q2 = 2.0 * at * at / (1.0 + at)
    variance = (
        at * (1.0 - at) + (positives - 1) * (q1 - at * at) + (negatives - 1) * (q2 - at * at)
    ) / (positives * negatives)
    error = _Z95 * math.sqrt(max(variance, 0.0))
    return max(0.0, auc - error), min(1.0, auc + error)


def slice_counts(metrics: Mapping[str, float]) -> tuple[int, int] | None:
    """The positives and negatives of the slice `metrics` were measured on (from its `n_rows`
    and `positive_rate`, as `training.evaluate` gives and the runs record); None without them."""
    rows, rate = metrics.get("n_rows", math.nan), metrics.get("positive_rate", math.nan)
    if not (math.isfinite(rows) and math.isfinite(rate)):
        return None
    positives = round(rows * rate)
    return positives, round(rows) - positives


@dataclass(frozen=True)
class Screening:
    """What the guard made of a slice: `findings` refuse the training (`refuse_leakage`), one
    each; `note` names the figures at or above a limit that too few positives kept from being
    called a leak, and why ("" when none)."""

    findings: list[str]
    note: str = ""


@dataclass(frozen=True)
class _Figure:
    """One ROC-AUC at or above its limit, with the counts of the slice it was measured on."""

    auc: float
    limit: float
    positives: int
    negatives: int

    @property
    def low(self) -> float:
        """The lower end of its 95% interval."""
        return auc_interval(self.auc, self.positives, self.negatives)[0]

    @property
    def by_interval(self) -> bool:
        """Whether it is judged by its interval (fewer than `LEAKAGE_MIN_POSITIVES` positives)."""
        return self.positives < LEAKAGE_MIN_POSITIVES

    @property
    def refused(self) -> bool:
        """Whether the guard calls it a leak."""
        return not self.by_interval or self.low >= self.limit

    def bound(self, which: str) -> str:
        """Its interval's lower end and the positives it rests on, for a finding."""
        return f"95% interval from {self.low:.4f} on {self.positives} {which}positives"

    def spared(self, what: str, which: str) -> str:
        """Why `what`, at or above the limit, was not refused, in words."""
        return (
            f"{what} reaches the leakage limit {self.limit}, but on {self.positives} "
            f"{which}positives its 95% interval reaches down to {self.low:.4f} (Hanley & McNeil)"
        )


def _spared_note(spared: list[str]) -> str:
    """One note line for the figures the interval spared ("" for none)."""
    if not spared:
        return ""
    return (
        "; ".join(spared)
        + f": not refused as label leakage (below {LEAKAGE_MIN_POSITIVES} positives the guard "
        "refuses only a figure whose interval stays at or above the limit; a strong driver of a "
        "rare label can reach it by chance)"
    )


class LeakageFound(UserError):
    """The training data holds the label in disguise; nothing was registered."""


def _auc_either_way(values: np.ndarray, label: np.ndarray) -> float:
    """The ROC-AUC of ranking rows by `values` in the better direction (0.5 to 1), missing
    values ranked both lowest and highest (a label that shows as a missing value leaks too)."""
    positives = int(label.sum())
    negatives = len(label) - positives
    present = ~np.isnan(values)
    if not positives or not negatives or not present.any():
        return 0.5
    best = 0.5
    low, high = np.nanmin(values), np.nanmax(values)
    for fill in {low - 1.0, high + 1.0} if not present.all() else {low}:
        ranks = pd.Series(np.where(present, values, fill)).rank(method="average").to_numpy()
        auc = (ranks[label == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
        best = max(best, auc, 1.0 - auc)
    return float(best)


def single_feature_aucs(spec: TaskSpec, frame: pd.DataFrame) -> dict[str, float]:
    """Each feature's ROC-AUC as the only score of `frame`'s labels, in the better direction.

    A number ranks rows by its value; a category by its own label rate in `frame` (the best
    any ordering of its categories reaches), missing values counting as one more category.
    """
    from models.risk_model import model_matrix

    matrix = model_matrix(spec, frame)
    label = frame["label"].to_numpy(dtype="int64")
    found = {}
    for name in spec.feature_names:
        column = matrix[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = pd.Series(column.cat.codes.to_numpy(), index=column.index)
            rate = pd.Series(label, index=column.index).groupby(codes).transform("mean")
            values = rate.to_numpy(dtype="float64")
        else:
            values = column.to_numpy(dtype="float64")
        found[name] = _auc_either_way(values, label)
    return found


def screen_features(spec: TaskSpec, train: pd.DataFrame) -> Screening:
    """The features of the training slice that alone (nearly) determine its label: one finding
    `name (single-feature ROC-AUC 0.9990 on the training slice)` each, the strongest first (on
    a slice of fewer than `LEAKAGE_MIN_POSITIVES` positives with its interval's lower end), for
    each at or above `LEAKY_FEATURE_AUC` that is refused; a note for those that are not."""
    aucs = single_feature_aucs(spec, train)
    positives = int(train["label"].sum())
    figures = {
        name: _Figure(auc, LEAKY_FEATURE_AUC, positives, len(train) - positives)
        for name, auc in sorted(aucs.items(), key=lambda kv: -kv[1])
        if auc >= LEAKY_FEATURE_AUC
    }
    findings = [
        f"{name} (single-feature ROC-AUC {figure.auc:.4f} on the training slice"
        + (f"; {figure.bound('')}" if figure.by_interval else "")
        + ")"
        for name, figure in figures.items()
        if figure.refused
    ]
    spared = [
        figure.spared(f"{name}'s single-feature ROC-AUC {figure.auc:.4f} on the training slice", "")
        for name, figure in figures.items()
        if not figure.refused
    ]
    return Screening(findings, _spared_note(spared))


def leakage_findings(spec: TaskSpec, train: pd.DataFrame) -> list[str]:
    """The refusals of `screen_features` alone (what `riskloop promote` judges a comparison
    dataset by; `riskloop train` says its note too)."""
    return screen_features(spec, train).findings


def screen_model(metrics: Mapping[str, float]) -> Screening:
    """The model's own sign of leakage: a test-slice ROC-AUC of `LEAKY_MODEL_AUC` or more, on a
    test slice of fewer than `LEAKAGE_MIN_POSITIVES` positives with its interval's lower end
    there too (metrics without the slice's counts are judged by the figure alone)."""
    auc = metrics.get("roc_auc", math.nan)
    if not auc >= LEAKY_MODEL_AUC:
        return Screening([])
    found = f"the model's test ROC-AUC is {auc:.4f}"
    counts = slice_counts(metrics)
    if counts is None:
        return Screening([found])
    figure = _Figure(auc, LEAKY_MODEL_AUC, *counts)
    if figure.refused:
        return Screening([found + (f" ({figure.bound('test ')})" if figure.by_interval else "")])
    return Screening(
        [], _spared_note([figure.spared(f"the model's test ROC-AUC {auc:.4f}", "test ")])
    )


def model_leakage_finding(metrics: Mapping[str, float]) -> str:
    """`screen_model`'s refusal in one line ("" when none)."""
    return next(iter(screen_model(metrics).findings), "")


def refuse_leakage(spec: TaskSpec, source: str, findings: list[str], allow: bool) -> None:
    """Refuse what the leakage guard found, unless `allow`; even then, refuse a task's first
    version: `tracking.log_and_register` makes a first version champion on the spot, and a
    version trained past the guard must become champion only by `riskloop promote --force`."""
    if not findings:
        return
    found = "; ".join(findings)
    if not allow:
        raise LeakageFound(
            f"{spec.task}: label leakage in {source}: {found}; refused at "
            f"{LEAKY_FEATURE_AUC} for one feature or {LEAKY_MODEL_AUC} for the model (on "
            f"fewer than {LEAKAGE_MIN_POSITIVES} positives when the lower end of its 95% "
            "interval reaches it too; at the simulated cities' normal rates honest features "
            "stay below 0.8); nothing registered. Fix the "
            "data, or pass --allow-label-leakage if you know why (such a version becomes "
            "champion only by `riskloop promote --force`)"
        )
    from training import tracking

    tracking.configure_tracking()
    if tracking.alias_version(spec.registered_model_name, tracking.CHAMPION) is None:
        raise LeakageFound(
            f"{spec.task}: label leakage in {source}: {found}; --allow-label-leakage is "
            "refused for the task's first version, which would become champion at once: "
            "train a version on data without leakage first; nothing registered"
        )
