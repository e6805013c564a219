"""Optuna tuning: a few quick trials stored in SQLite, best parameters inside the space."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest

from models.risk_model import RiskModel
from models.spec import LightGBMParams, TaskSpec, get_spec
from training.datasets import Splits
from training.tune import (
    DATASET_ATTR,
    REGISTERED_VERSION_ATTR,
    SETTINGS_ATTR,
    TASK_ATTR,
    StudyMismatchError,
    tune,
)

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


def _quick(spec_name: str, rounds: int = 10) -> tuple[TaskSpec, LightGBMParams]:
    spec = get_spec(spec_name)
    return spec, dataclasses.replace(spec.params, num_boost_round=rounds, early_stopping_rounds=5)


def test_a_study_records_its_task_dataset_and_settings_and_refuses_other_workers(
    tmp_path: Path, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    """A wage-arrears worker joined a dispute study and took its trials as its own."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    fraud, fraud_base = _quick("telecom-fraud")
    _, fraud_splits = fast_models["telecom-fraud"]
    tune(fraud, fraud_splits.train, fraud_splits.valid, 1, fraud_base, "s1", storage)
    attrs = optuna.load_study(study_name="s1", storage=storage).user_attrs
    assert attrs[TASK_ATTR] == "telecom-fraud"
    assert attrs[DATASET_ATTR] and "max rounds 10" in attrs[SETTINGS_ATTR]

    wage, wage_base = _quick("wage-arrears")
    _, wage_splits = fast_models["wage-arrears"]
    with pytest.raises(StudyMismatchError, match="made for task telecom-fraud, not wage-arrears"):
        tune(wage, wage_splits.train, wage_splits.valid, 2, wage_base, "s1", storage)
    other_rows = fraud_splits.train.iloc[: len(fraud_splits.train) // 2]
    with pytest.raises(StudyMismatchError, match="another dataset"):
        tune(fraud, other_rows, fraud_splits.valid, 2, fraud_base, "s1", storage)
    _, longer = _quick("telecom-fraud", rounds=20)
    with pytest.raises(StudyMismatchError, match=r"other trial settings.*max rounds 10"):
        tune(fraud, fraud_splits.train, fraud_splits.valid, 2, longer, "s1", storage)
    assert len(optuna.load_study(study_name="s1", storage=storage).trials) == 1

    # the same search joins and adds its trials
    tune(fraud, fraud_splits.train, fraud_splits.valid, 1, fraud_base, "s1", storage)
    assert len(optuna.load_study(study_name="s1", storage=storage).trials) == 2


def test_a_registered_study_is_not_extended(
    tmp_path: Path, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    """More --trials on a finished, registered study ran trials nobody would ever register."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    fraud, base = _quick("telecom-fraud")
    _, splits = fast_models["telecom-fraud"]
    tune(fraud, splits.train, splits.valid, 1, base, "done", storage)
    optuna.load_study(study_name="done", storage=storage).set_user_attr(REGISTERED_VERSION_ATTR, 3)
    with pytest.raises(StudyMismatchError, match=r"already completed.*version 3.*new --study"):
        tune(fraud, splits.train, splits.valid, 2, base, "done", storage)
    assert len(optuna.load_study(study_name="done", storage=storage).trials) == 1


def test_train_refuses_a_study_of_another_task_as_a_user_error(
    tmp_path: Path,
    fast_models: dict[str, tuple[RiskModel, Splits]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`riskloop train --study` goes through the same check: one line and exit 2."""
    from models.settings import get_settings
    from training.errors import UserError
    from training.train import _params

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    fraud, base = _quick("telecom-fraud")
    _, splits = fast_models["telecom-fraud"]
    tune(fraud, splits.train, splits.valid, 1, base, "shared", storage)
    monkeypatch.setenv("RISKLOOP_OPTUNA_STORAGE", storage)
    get_settings.cache_clear()
    _, wage_splits = fast_models["wage-arrears"]
    try:
        with pytest.raises(UserError, match="made for task telecom-fraud"):
            _params(get_spec("wage-arrears"), wage_splits, 7, 10, 1, "shared", None, print)
    finally:
        monkeypatch.delenv("RISKLOOP_OPTUNA_STORAGE")
        get_settings.cache_clear()
