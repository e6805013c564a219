"""Metric helpers and the promotion rule, on numbers whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.evaluate import attach_truth, expected_calibration_error
from training.promote import PromotionRule


def test_ece_is_zero_when_calibrated_and_equals_a_constant_bias() -> None:
    rates = np.arange(1, 11) * 0.08
    score = np.repeat(rates, 100)
    label = np.concatenate([np.arange(100) < round(rate * 100) for rate in rates]).astype(float)
    assert expected_calibration_error(label, score) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(label, score + 0.03) == pytest.approx(0.03, abs=1e-12)


def test_ece_uses_equal_frequency_bins() -> None:
    # Two halves miscalibrated in opposite directions inside one 0.1-wide score range: a single
    # equal-width bin would average them to zero; deciles of the score see both errors.
    score = np.repeat([0.01, 0.05], 500)
    label = np.concatenate([np.arange(500) % 20 == 0, np.arange(500) % 100 == 0]).astype(float)
    assert expected_calibration_error(label, score) == pytest.approx(0.04, abs=1e-12)


def test_truth_is_joined_by_unit_and_date() -> None:
    test = pd.DataFrame({"entity_id": ["a", "b", "c"], "as_of": pd.to_datetime(["2025-01-01"] * 3)})
    truth = pd.DataFrame(
        {
            "entity_id": ["b", "a"],
            "as_of": pd.to_datetime(["2025-01-01", "2025-01-01"]),
            "true_prob": [0.2, 0.1],
        }
    )
    joined = attach_truth(test, truth)
    assert joined[:2].tolist() == [0.1, 0.2] and np.isnan(joined[2])


@pytest.mark.parametrize(
    ("challenger", "champion", "accepted"),
    [
        ({"roc_auc": 0.800, "ece": 0.010}, {"roc_auc": 0.803, "ece": 0.015}, True),
        ({"roc_auc": 0.790, "ece": 0.010}, {"roc_auc": 0.800, "ece": 0.010}, False),
        ({"roc_auc": 0.810, "ece": 0.030}, {"roc_auc": 0.800, "ece": 0.010}, False),
        ({"roc_auc": 0.7951, "ece": 0.0199}, {"roc_auc": 0.800, "ece": 0.010}, True),
    ],
)
def test_promotion_rule(
    challenger: dict[str, float], champion: dict[str, float], accepted: bool
) -> None:
    verdict, reason = PromotionRule().judge(challenger, champion)
    assert verdict is accepted
    assert reason.startswith("challenger is worse") is not accepted
