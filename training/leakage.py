"""The label-leakage guard of `riskloop train` and `riskloop promote`: a feature that alone
(nearly) determines the training slice's label, or a model too good to be honest, stops the
training (`LeakageFound`) unless overridden, and an overridden version is never champion by
the promotion rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.spec import TaskSpec
from training.errors import UserError

#: A feature whose values alone rank the training slice's labels this well (ROC-AUC, either
#: direction) stands in for the label: `riskloop train` refuses it (`LeakageFound`). The
#: simulated cities' honest features stay far below: at most 0.686 (wage: size_band), 0.700
#: (fraud: screen_sharing_alerts_30d) and 0.772 (disputes: dispute_type) on the default city
#: (`riskloop generate`, seed 0), and below 0.78 on clean, rate x3 and small cities.
LEAKY_FEATURE_AUC = 0.99
#: A model whose test-slice ROC-AUC reaches this learnt the label from somewhere it should not:
#: the simulator's own true probabilities score at most 0.88 (README, "Model quality").
LEAKY_MODEL_AUC = 0.995
#: The run tag saying the leakage guard was overridden (`--allow-label-leakage`), and what
#: it found; `riskloop promote` never makes such a version champion by the rule.
LEAKAGE_OVERRIDE_TAG = "riskloop.leakage_override"
LEAKAGE_FINDING_TAG = "riskloop.leakage_finding"


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


def leakage_findings(spec: TaskSpec, train: pd.DataFrame) -> list[str]:
    """The features of the training slice that alone (nearly) determine its label: one
    `name (single-feature ROC-AUC 0.9990 on the training slice)` each, the strongest first;
    empty when none reaches `LEAKY_FEATURE_AUC`."""
    aucs = single_feature_aucs(spec, train)
    leaky = sorted(
        (name for name, auc in aucs.items() if auc >= LEAKY_FEATURE_AUC), key=lambda n: -aucs[n]
    )
    return [
        f"{name} (single-feature ROC-AUC {aucs[name]:.4f} on the training slice)" for name in leaky
    ]


def model_leakage_finding(metrics: dict[str, float]) -> str:
    """The model's own sign of leakage: a test-slice ROC-AUC of `LEAKY_MODEL_AUC` or more
    ("" below it)."""
    auc = metrics.get("roc_auc", float("nan"))
    if not auc >= LEAKY_MODEL_AUC:
        return ""
    return f"the model's test ROC-AUC is {auc:.4f}"


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
            f"{LEAKY_FEATURE_AUC} for one feature or {LEAKY_MODEL_AUC} for the model (the "
            "simulated cities' honest features stay below 0.8); nothing registered. Fix the "
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
