"""Fixtures for the feature tests: the small city's tables and datasets, loaded once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.schemas import RawTables
from features.tasks import TASKS
from features.validation import validate_tables
from training.raw_io import load_raw_tables


@pytest.fixture(scope="session")
def city_tables(small_city: Path) -> dict[str, RawTables]:
    """Validated raw tables of the small city, by task slug."""
    return {slug: validate_tables(slug, load_raw_tables(small_city, slug)) for slug in TASKS}


@pytest.fixture(scope="session")
def labelled(city_tables: dict[str, RawTables]) -> dict[str, pd.DataFrame]:
    """The labelled dataset of each task on the small city."""
    return {slug: TASKS[slug].builder.build_labelled_dataset(city_tables[slug]) for slug in TASKS}


@pytest.fixture(scope="session")
def truth(small_city: Path) -> dict[str, pd.DataFrame]:
    """The simulator's true probability per unit, by task slug."""
    return {slug: pd.read_parquet(small_city / "truth" / f"{slug}_units.parquet") for slug in TASKS}
