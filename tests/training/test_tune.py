"""Optuna tuning: a few quick trials stored in SQLite, best parameters inside the space."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna

from models.risk_model import RiskModel
from models.spec import get_spec
from training.train import Splits
from training.tune import tune

TRIALS = 3


def test_tuning_stores_the_study_and_returns_parameters_from_the_space(
    tmp_path: Path, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    spec = get_spec("telecom-fraud")
    _, splits = fast_models["telecom-fraud"]
    base = dataclasses.replace(spec.params, num_boost_round=30, early_stopping_rounds=10)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    result = tune(spec, splits.train, splits.valid, TRIALS, base, "test-study", storage)

    study = optuna.load_study(study_name="test-study", storage=storage)
    assert len(study.trials) == TRIALS == result.n_complete + result.n_pruned
    assert result.best_valid_auc == study.best_value > 0.6
    for field in dataclasses.fields(spec.search_space):
        bounds = getattr(spec.search_space, field.name)
        assert bounds.low <= getattr(result.params, field.name) <= bounds.high
    assert (result.params.seed, result.params.num_boost_round) == (base.seed, 30)
