"""The model report's fidelity section: do the explanations name what the simulated city
planted? Its context (`fidelity_context`, from `training.report_metrics.fidelity`), and the
same context in a reader's words (`named_fidelity`: each feature and planted driver by its
catalog label, with the identifier in brackets, `fidelity_names`). `training.report` lays it
out with the other sections."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.catalog import FeatureDef
from training.report_metrics import (
    TOP_REASON_SHARE_TARGET,
    TOP_REASONS,
    FeatureRoles,
    RankedImportance,
    Truth,
    dominant_drivers,
    driver_ranking,
    feature_ranking,
    fidelity,
)


def fidelity_context(
    features: Sequence[FeatureDef],
    explained: pd.DataFrame,
    contributions: np.ndarray,
    truth: Truth | None,
) -> dict[str, Any]:
    """The fidelity checks' context (`result`: `report_metrics.fidelity`'s answer) for the
    explained test rows `explained` and their TreeSHAP `contributions`."""
    dominant = None
    if truth is not None and "dominant_driver" in truth.units.columns:
        dominant = dominant_drivers(explained, truth.units)
    result = fidelity(
        contributions,
        features,
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
        "features": feature_ranking(result, features, roles),
        "missing_drivers": missing,
        "has_units": dominant is not None,
        "explained": len(contributions),
        "top_reasons": TOP_REASONS,
        "target": TOP_REASON_SHARE_TARGET,
        "top_reasons_passed": bool(share >= TOP_REASON_SHARE_TARGET)
        if not math.isnan(share)
        else False,
    }
    return context


def fidelity_names(
    features: Sequence[FeatureDef], roles: FeatureRoles, lang: str
) -> dict[str, str]:
    """Each feature and planted driver the fidelity section names, as a reader reads it: the
    catalog's label (Chinese in the Chinese edition) with the identifier in brackets. A driver
    takes the labels of the features that measure it (the truth's roles, else the catalog's
    `signal`); one no catalog feature measures keeps its identifier alone."""

    def label(feature: FeatureDef) -> str:
        return feature.label_zh if lang == "zh" else feature.label_en

    def named(text: str, code: str) -> str:
        return f"{text}（{code}）" if lang == "zh" else f"{text} ({code})"

    names = {feature.name: named(label(feature), feature.name) for feature in features}
    measured_by: dict[str, list[str]] = {}
    for feature in features:
        driver = roles.driver_of.get(feature.name) or feature.signal
        if driver and driver not in names:
            measured_by.setdefault(driver, []).append(label(feature))
    for driver, labels in measured_by.items():
        names[driver] = named(("、" if lang == "zh" else " / ").join(labels), driver)
    return names


def named_fidelity(context: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The fidelity context with every feature and driver identifier in `names`' words (the
    rankings' rows, and the names the checks' sentences quote)."""
    result = context["result"]

    def name(code: object) -> str:
        return names.get(str(code), str(code))

    def renamed(rows: Sequence[RankedImportance]) -> list[RankedImportance]:
        return [
            RankedImportance(
                name(row.name), names.get(row.kind, row.kind), row.importance, row.flagged
            )
            for row in rows
        ]

    noise, weakest = result["strongest_noise_feature"], result["weakest_driver_feature"]
    return {
        **context,
        "names": dict(names),
        "drivers": renamed(context["drivers"]),
        "features": renamed(context["features"]),
        "noise": (name(noise[0]), noise[1]) if noise else None,
        "weakest": (name(weakest[0]), weakest[1]) if weakest else None,
        "below": [name(driver) for driver in result["drivers_below_noise"]],
        "missing_named": [name(driver) for driver in context["missing_drivers"]],
    }
