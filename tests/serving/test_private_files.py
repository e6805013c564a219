"""Files riskloop writes about people outside the warnings database are its owner's alone:
the monitoring reference MLflow keeps and the online store, 0600 in 0700 folders."""

from __future__ import annotations

import stat
from pathlib import Path

import pandas as pd

from serving.online_store import online_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_reference_artifact_of_every_training_run_is_the_owners_only(
    serving_root: Path, trained: dict[str, int]
) -> None:
    references = sorted((serving_root / "mlartifacts").glob("**/reference/dataset.parquet"))
    assert len(references) >= len(trained), references
    for reference in references:
        assert _mode(reference) == 0o600, reference
        assert _mode(reference.parent) == 0o700, reference.parent
        assert "entity_id" not in pd.read_parquet(reference).columns


def test_the_online_store_is_the_owners_only_in_pseudonym_order(
    serving_root: Path, trained: dict[str, int]
) -> None:
    folder = online_dir(serving_root / "data")
    files = sorted(folder.glob("*.parquet"))
    assert len(files) == len(trained), files
    assert _mode(folder) == 0o700
    for path in files:
        assert _mode(path) == 0o600, path
        # in the raw ids' order, whoever holds the ids pairs each row with its id by position
        assert pd.read_parquet(path)["entity_id"].is_monotonic_increasing, path
