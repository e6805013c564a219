"""Fixtures over the small city: its tables and truth loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

TASKS = ("wage_arrears", "telecom_fraud", "dispute_escalation")


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
