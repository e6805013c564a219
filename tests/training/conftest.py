"""Session fixtures for training tests: small-city datasets and fast models fitted once."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from features.dataset import time_split
from models.risk_model import RiskModel
from models.spec import TASK_NAMES, get_spec
from tests.environment import settings_env
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


def _register_dispute_champion(fast_models: dict[str, tuple[RiskModel, Splits]]) -> None:
    """The fast dispute-escalation model as version 1, `champion`, in the settings' store."""
    import mlflow

    from training.tracking import configure_tracking, log_and_register

    model, splits = fast_models["dispute-escalation"]
    configure_tracking()
    try:
        with mlflow.start_run():
            log_and_register(model, splits.test.head(5))
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")


@pytest.fixture()
def dispute_champion(isolated_env: Path, fast_models: dict[str, tuple[RiskModel, Splits]]) -> Path:
    """The fast dispute-escalation model as version 1, `champion`, in the test's own store;
    the test's folder. Its warnings store and secrets file exist, as a first `riskloop train`
    leaves them (`score` refuses a missing store)."""
    from serving.store import WarningStore

    _register_dispute_champion(fast_models)
    WarningStore.from_settings().close()
    return isolated_env


@pytest.fixture(scope="session")
def store_made_once(
    tmp_path_factory: pytest.TempPathFactory, empty_mlflow_store: Path
) -> Callable[[Callable[[], None]], Path]:
    """A factory: a new folder whose MLflow store `register()` filled, run with riskloop's
    MLflow settings and the working folder pointed there. For versions registered once and
    read by many tests, each test copying the store's database into its own folder (the
    versions' files stay in this one)."""

    def make(register: Callable[[], None]) -> Path:
        root = tmp_path_factory.mktemp("store-made-once")
        shutil.copyfile(empty_mlflow_store, root / "mlruns.db")
        store_env = {
            "RISKLOOP_MLFLOW_URI": f"sqlite:///{root / 'mlruns.db'}",
            "RISKLOOP_ARTIFACT_LOCATION": str(root / "mlartifacts"),
        }
        with pytest.MonkeyPatch.context() as patch, settings_env(store_env):
            patch.chdir(root)
            register()
        return root

    return make


@pytest.fixture(scope="session")
def dispute_champion_store(
    store_made_once: Callable[[Callable[[], None]], Path],
    fast_models: dict[str, tuple[RiskModel, Splits]],
) -> Path:
    """A folder whose MLflow store holds `dispute_champion`'s version, registered once per
    session (for `read_only_dispute_champion`)."""
    return store_made_once(lambda: _register_dispute_champion(fast_models))


@pytest.fixture()
def read_only_dispute_champion(isolated_env: Path, dispute_champion_store: Path) -> Path:
    """`dispute_champion` for tests that only read the version (score with it): the test's
    MLflow store a copy of `dispute_champion_store`'s, whose version's files stay in that
    session folder (registering it took a quarter of a second per test)."""
    from serving.store import WarningStore

    shutil.copyfile(dispute_champion_store / "mlruns.db", isolated_env / "mlruns.db")
    WarningStore.from_settings().close()
    return isolated_env
