"""Drift, volume, precision and calibration figures of `serving.store.monitoring`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.store.monitoring import (
    calibration,
    feature_psi,
    level_volume,
    observed_labels,
    precision_by_level,
    psi,
)


def test_identical_distributions_have_psi_near_zero() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=5000)
    assert psi(reference, reference) == pytest.approx(0.0, abs=1e-12)
    assert psi(reference, rng.normal(size=3000)) < 0.02  # a fresh sample of the same law


def test_a_shifted_distribution_passes_the_alert_threshold() -> None:
    rng = np.random.default_rng(2)
    reference = rng.normal(size=5000)
    assert psi(reference, rng.normal(loc=1.0, size=3000)) > 0.25
    assert 0.0 < psi(reference, rng.normal(loc=0.1, size=3000)) < 0.1
    assert psi(reference, rng.normal(scale=2.5, size=3000)) > 0.25  # spread, not just location


def test_psi_grows_with_the_shift() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(size=4000)
    values = [psi(reference, reference + shift) for shift in (0.0, 0.2, 0.5, 1.0, 2.0)]
    assert values == sorted(values)


def test_empty_bins_stay_finite_and_categories_work() -> None:
    reference = pd.Series(["labour"] * 50 + ["land"] * 50)
    assert psi(reference, reference) == pytest.approx(0.0)
    moved = psi(reference, pd.Series(["labour"] * 90 + ["consumer"] * 10))
    assert math.isfinite(moved) and moved > 0.25
    assert math.isfinite(psi([1.0] * 100, [5.0] * 100))  # constant reference: one bin


def test_missing_values_are_a_bin_of_their_own() -> None:
    reference = pd.Series([1.0, 2.0, 3.0, 4.0] * 50)
    half_missing = pd.Series([1.0, 2.0, None, None] * 50, dtype="float64")
    assert psi(reference, half_missing) > 0.25
    objects = pd.Series([1, 2, None, None] * 50, dtype=object)  # as JSON features come back
    assert psi(reference, objects) == pytest.approx(psi(reference, half_missing))


def test_empty_samples_give_nan() -> None:
    assert math.isnan(psi([], [1.0]))
    assert math.isnan(psi([1.0], []))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200),
)
def test_psi_is_non_negative_and_zero_on_itself(
    reference: list[float], current: list[float]
) -> None:
    assert psi(reference, current) >= 0.0
    assert psi(reference, reference) == pytest.approx(0.0, abs=1e-9)


def test_feature_psi_covers_shared_columns_in_order() -> None:
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500), "c": 1})
    current = pd.DataFrame({"b": rng.normal(3, size=500), "a": rng.normal(size=500)})
    figures = feature_psi(reference, current, ["a", "b", "c", "zzz"])
    assert list(figures) == ["a", "b"]
    assert figures["a"] < 0.1 < 0.25 < figures["b"]


def test_level_volume_against_capacity() -> None:
    levels = pd.Series(["red"] * 2 + ["orange"] * 4 + ["yellow"] * 10 + ["green"] * 84)
    rows = {
        row["level"]: row
        for row in level_volume(levels, {"red": 0.01, "orange": 0.04, "yellow": 0.10})
    }
    assert rows["red"]["count"] == 2
    assert rows["red"]["load"] == pytest.approx(2.0)
    assert rows["orange"]["load"] == pytest.approx(1.0)
    assert rows["yellow"]["share"] == pytest.approx(0.10)


def test_precision_by_level_counts_prevented_as_right_and_skips_unreachable() -> None:
    warnings = pd.DataFrame(
        {
            "risk_level": ["red", "red", "red", "red", "orange", "yellow"],
            "status": ["closed", "closed", "closed", "closed", "open", "closed"],
            "outcome": [
                "confirmed",
                "prevented",
                "false_alarm",
                "unreachable",
                None,
                "false_alarm",
            ],
        }
    )
    rows = {row["level"]: row for row in precision_by_level(warnings)}
    assert rows["red"]["precision"] == pytest.approx(2 / 3)
    assert rows["red"]["closed"] == 4
    assert math.isnan(rows["orange"]["precision"])
    assert rows["yellow"]["precision"] == 0.0


def test_calibration_of_closed_warnings() -> None:
    outcomes = pd.Series(
        ["confirmed", "false_alarm", "prevented", "unreachable", "false_alarm", "confirmed"]
    )
    labels = observed_labels(outcomes)
    assert labels.isna().tolist() == [False, False, False, True, False, False]
    scores = pd.Series([0.9, 0.2, 0.8, 0.5, 0.1, 0.7])
    table = calibration(scores, labels, bins=2)
    assert table["n"] == 5
    # equal-count bins over the sorted scores: (0.1, 0.2, 0.7) and (0.8, 0.9)
    assert [row["n"] for row in table["bins"]] == [3, 2]
    assert table["bins"][0]["observed_rate"] == pytest.approx(1 / 3)
    assert table["bins"][1]["observed_rate"] == 1.0
    expected = 3 / 5 * abs(1 / 3 - 1 / 3) + 2 / 5 * abs(0.85 - 1.0)
    assert table["ece"] == pytest.approx(expected)
    assert calibration(pd.Series([], dtype=float), pd.Series([], dtype=float))["n"] == 0


def test_psi_states_split_the_alarm_from_what_to_watch() -> None:
    from serving.store.monitoring import WATCH_PSI, psi_states

    figures = {"a": 0.3, "b": 0.2, "c": WATCH_PSI, "d": 0.25, "e": float("nan"), "f": 0.5}
    drifted, watched = psi_states(figures, 0.25, not_alarmed=["f"])
    assert drifted == ["a"] and watched == ["b", "d"]
