"""Fixtures over the small city: its tables, truth, labels and driver observables, loaded once.

Labels and driver observables are recomputed straight from the raw tables (no simulator
internals): the tests compare them with the truth files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_samples.city.observables import SPLITS, TASKS, Split, labels


@pytest.fixture(scope="session")
def city_tables(small_city: Path) -> dict[str, dict[str, pd.DataFrame]]:
    """Every raw table of the small city: {task slug: {table name: frame}}."""
    return {
        slug: {
            path.stem: pd.read_parquet(path)
            for path in sorted((small_city / slug).glob("*.parquet"))
        }
        for slug in TASKS
    }


@pytest.fixture(scope="session")
def city_truth(small_city: Path) -> dict[str, pd.DataFrame]:
    """The unit truth of each task: entity_id, as_of, true_prob, dominant_driver."""
    return {slug: pd.read_parquet(small_city / "truth" / f"{slug}_units.parquet") for slug in TASKS}


@pytest.fixture(scope="session")
def city_labels(city_tables, city_truth) -> dict[str, np.ndarray]:
    """Each truth row's label, from the label tables."""
    return {task: labels(task, city_tables[task], city_truth[task]) for task in TASKS}


@pytest.fixture(scope="session")
def driver_splits(city_tables, city_truth) -> dict[str, dict[str, Split]]:
    """Each task's driver observables as (high, low) masks over the truth rows."""
    return {task: SPLITS[task](city_tables[task], city_truth[task]) for task in TASKS}
