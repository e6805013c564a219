"""Session fixtures for training tests: small-city datasets and fast models fitted once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from features.dataset import time_split
from models.risk_model import RiskModel
from models.spec import TASK_NAMES, get_spec
from training.datasets import Splits, TrainingData, build_from_raw, split_dataset
from training.train import fit_model

FAST_ROUNDS = 60
# The small city has nine months of disputes: after two 90-day purge gaps the honest training
# slice holds about 120 rows, too few to learn from. Additivity and behavioural tests need a
# model that learned something, not an honest estimate, so disputes split without the purge
# here; their honest quality is measured on the default city (bench/training.py).
UNPURGED_TASKS = ("dispute-escalation",)


@pytest.fixture(scope="session")
def city_data(small_city: Path) -> dict[str, TrainingData]:
    """Each task's labelled dataset built from the small city (with its truth)."""
    return {task: build_from_raw(get_spec(task), small_city) for task in TASK_NAMES}


@pytest.fixture(scope="session")
def fast_models(city_data: dict[str, TrainingData]) -> dict[str, tuple[RiskModel, Splits]]:
    """One model per task with few boosting rounds, and the splits it was fitted on."""
    fitted = {}
    for task, data in city_data.items():
        spec = get_spec(task)
        params = dataclasses.replace(spec.params, num_boost_round=FAST_ROUNDS)
        if task in UNPURGED_TASKS:
            splits = Splits(*time_split(data.frame, pd.DateOffset(days=0)))
        else:
            splits = split_dataset(spec, data.frame)
        fitted[task] = (fit_model(spec, splits, params), splits)
    return fitted


@pytest.fixture()
def dispute_champion(isolated_env: Path, fast_models: dict[str, tuple[RiskModel, Splits]]) -> Path:
    """The fast dispute-escalation model as version 1, `champion`, in the test's own store;
    the test's folder. Its warnings store and secrets file exist, as a first `riskloop train`
    leaves them (`score` refuses a missing store)."""
    import mlflow

    from serving.store import WarningStore
    from training.tracking import configure_tracking, log_and_register

    model, splits = fast_models["dispute-escalation"]
    configure_tracking()
    try:
        with mlflow.start_run():
            log_and_register(model, splits.test.head(5))
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")
    WarningStore.from_settings().close()
    return isolated_env
