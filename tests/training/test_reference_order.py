"""The monitoring reference MLflow keeps holds no order that names its rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from models.spec import get_spec
from training.datasets import Splits
from training.reference import reference_sample
from training.train import fit_model

TASK = "wage-arrears"


def _dataset(n: int) -> pd.DataFrame:
    """A labelled dataset as `build-dataset` writes it: an entity id per row, months in order,
    each row told apart by a unique value of one continuous feature."""
    rng = np.random.default_rng(11)
    columns: dict[str, object] = {}
    for feature in get_spec(TASK).features:
        if feature.dtype == "category":
            columns[feature.name] = rng.choice(list(feature.categories), size=n)
        elif feature.dtype == "bool":
            columns[feature.name] = rng.random(n) < 0.2
        elif feature.dtype == "int":
            columns[feature.name] = rng.poisson(1.0, size=n).clip(0, feature.max_value)
        else:
            columns[feature.name] = rng.gamma(2.0, 1.0, size=n)
    frame = pd.DataFrame(columns)
    frame.insert(0, "entity_id", [f"91110000{i:010d}" for i in range(n)])
    frame.insert(1, "as_of", pd.date_range("2024-01-01", periods=12, freq="MS").repeat(n // 12))
    frame["label"] = (rng.random(n) < 0.2).astype("int8")
    return frame


def test_reference_rows_are_shuffled_not_in_the_datasets_order() -> None:
    """Row i of the dataset file is entity_id[i]: a reference in the same order (every row of
    a dataset under 50,000 rows) paired each logged row and score with its id by position."""
    spec = get_spec(TASK)
    frame = _dataset(2400)
    model = fit_model(
        spec, Splits(frame, frame, frame), dataclasses.replace(spec.params, num_boost_round=5)
    )
    sample = reference_sample(model, frame, seed=7)
    assert len(sample) == len(frame) and "entity_id" not in sample.columns
    marker = next(f.name for f in spec.features if f.dtype not in ("category", "bool", "int"))
    assert frame[marker].is_unique
    position = pd.Series(range(len(frame)), index=frame[marker])
    source = position.loc[sample[marker]].to_numpy()
    assert sorted(source) == list(range(len(frame)))  # every row, once
    assert (source == np.arange(len(frame))).mean() < 0.01  # position names nobody
    assert not sample["as_of"].is_monotonic_increasing
    again = reference_sample(model, frame, seed=7)  # the same seeded rows, in a fresh order
    assert sorted(again[marker]) == sorted(sample[marker])
