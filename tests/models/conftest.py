"""Fast fixtures for model unit tests: synthetic frames over the real catalog, small fits.

The frames follow the catalog's dtypes and categories, with a label driven by the planted
driver features in the catalog's direction, so a fitted model has real structure to explain.
The small-city fits live in `tests/training/`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from models.risk_model import RiskModel
from models.spec import TaskSpec, get_spec

SYNTHETIC_ROUNDS = 40


def synthetic_frame(spec: TaskSpec, n_rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """entity_id, as_of, label and every catalog feature, typed as datasets are."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {
        "entity_id": [f"unit-{i:05d}" for i in range(n_rows)],
        "as_of": pd.to_datetime("2025-01-01")
        + pd.to_timedelta(rng.integers(0, 360, n_rows), unit="D"),
    }
    logit = np.full(n_rows, -2.0)
    for feature in spec.features:
        if feature.dtype == "category":
            values: np.ndarray = rng.choice(list(feature.categories), n_rows)
            columns[feature.name] = pd.Categorical(values, categories=list(feature.categories))
            continue
        if feature.dtype == "bool":
            values = rng.random(n_rows) < 0.25
        elif feature.dtype == "int":
            values = rng.poisson(0.8, n_rows).astype("int64")
        else:
            values = rng.normal(0.0, 1.0, n_rows)
            values[rng.random(n_rows) < 0.05] = np.nan
        columns[feature.name] = values
        if feature.signal is not None:
            logit = logit + 0.7 * feature.direction * np.nan_to_num(values.astype("float64"))
    frame = pd.DataFrame(columns)
    frame["label"] = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype("int8")
    return frame


def fast_spec(task: str) -> TaskSpec:
    """The task's spec with few boosting rounds, for quick fits."""
    spec = get_spec(task)
    return dataclasses.replace(
        spec, params=dataclasses.replace(spec.params, num_boost_round=SYNTHETIC_ROUNDS)
    )


def fit_synthetic(task: str, seed: int = 0) -> tuple[RiskModel, pd.DataFrame]:
    """A model fitted on one synthetic frame, and a fresh frame to score."""
    spec = fast_spec(task)
    train = synthetic_frame(spec, seed=seed)
    valid = synthetic_frame(spec, seed=seed + 1)
    model = RiskModel(spec).fit(train, train["label"], valid, valid["label"])
    return model, synthetic_frame(spec, n_rows=500, seed=seed + 2)


@pytest.fixture(scope="session")
def telecom_model() -> tuple[RiskModel, pd.DataFrame]:
    return fit_synthetic("telecom-fraud")


@pytest.fixture(scope="session")
def dispute_model() -> tuple[RiskModel, pd.DataFrame]:
    return fit_synthetic("dispute-escalation")


@pytest.fixture()
def fit_model_on_synthetic() -> object:
    """`fit_synthetic` as a fixture (test modules cannot import conftest helpers)."""
    return fit_synthetic


@pytest.fixture()
def make_frame() -> object:
    """`synthetic_frame` as a fixture."""
    return synthetic_frame
