"""Models trained on the small city: truth-based quality, additivity, behaviour, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.risk_model import RiskModel, model_matrix
from models.scorer import score_arrays
from models.spec import TASK_NAMES, get_spec
from training.datasets import Splits, TrainingData
from training.evaluate import evaluate_model
from training.train import fit_model

# Planted-driver scenarios a case worker expects to raise risk: (task, {feature: (step, cap)}).
# Unpaid social-insurance months move three related features together, as real data would.
PLANTED_DRIVERS = [
    (
        "wage-arrears",
        {
            "si_arrears_months_3m": (2, 3),
            "si_arrears_months_6m": (2, 6),
            "si_unpaid_streak_months": (2, None),
        },
    ),
    ("telecom-fraud", {"screen_sharing_alerts_30d": (1, None)}),
    ("dispute-escalation", {"threat_flag_visits": (1, None)}),
]


@pytest.mark.parametrize("task", TASK_NAMES)
def test_additivity_for_every_test_row(
    task: str, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    model, splits = fast_models[task]
    arrays = score_arrays(model, splits.test)
    assert arrays.contributions is not None
    margin = model.booster_.predict(model_matrix(model.spec, splits.test), raw_score=True)
    np.testing.assert_allclose(
        arrays.contributions.sum(axis=1) + arrays.base_value, margin, rtol=0, atol=1e-9
    )


@pytest.mark.parametrize(("task", "steps"), PLANTED_DRIVERS)
def test_raising_a_planted_driver_never_lowers_the_score(
    task: str,
    steps: dict[str, tuple[int, int | None]],
    fast_models: dict[str, tuple[RiskModel, Splits]],
) -> None:
    model, splits = fast_models[task]
    before = score_arrays(model, splits.test, explain=False).scores
    raised = splits.test.assign(
        **{
            feature: (splits.test[feature] + step).clip(upper=cap)
            for feature, (step, cap) in steps.items()
        }
    )
    after = score_arrays(model, raised, explain=False).scores
    assert np.all(after >= before - 1e-12)
    assert after.mean() > before.mean()


@pytest.mark.parametrize("task", ["wage-arrears", "telecom-fraud"])
def test_model_recovers_most_of_the_oracle_lift(
    task: str,
    fast_models: dict[str, tuple[RiskModel, Splits]],
    city_data: dict[str, TrainingData],
) -> None:
    model, splits = fast_models[task]
    metrics = evaluate_model(model, splits.test, city_data[task].truth)
    assert metrics["oracle_roc_auc"] > 0.6
    assert metrics["lift_recovered"] > 0.6, metrics
    assert metrics["ece"] < 0.06, metrics


def test_retraining_with_same_seed_and_data_is_bit_identical(
    fast_models: dict[str, tuple[RiskModel, Splits]],
) -> None:
    model, splits = fast_models["dispute-escalation"]
    spec = get_spec("dispute-escalation")
    again = fit_model(spec, splits, model.params_)
    assert again.model_text() == model.model_text()
    other_seed = fit_model(spec, splits, dataclasses.replace(model.params_, seed=99))
    assert other_seed.model_text() != model.model_text()
