"""`riskloop run` keeps a dataset and online features only while they fit the folder's city and
secrets file (QA, 2026-12-07).

After `riskloop generate --force` put another city in the folder, `run` said "dataset found"
and kept the old online features: disputes are numbered alike in every city, so 510 of the
new city's 553 open disputes scored by id got another dispute's features under the same
number. After a new secrets file (a data folder copied from elsewhere, `secrets start-over`)
no id was found at all. Now the dataset's sidecar must name the raw tables' fingerprint, and
the online features' sidecar that fingerprint and the pseudonym key, or they are made again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SMALL_CITY_SEED

TASK = "dispute-escalation"


def _latest(city: Path) -> pd.DataFrame:
    """The city's latest scoring rows by dispute number (what the online store should hold)."""
    from serving.online_store import latest_rows
    from training.commands.service import build_scoring_set

    rows = latest_rows("dispute_escalation", build_scoring_set(TASK, city))
    return rows.set_index(rows["entity_id"].astype(str))


def _served_row(entity_id: str, data_dir: Path) -> pd.Series:
    from serving.online_store import lookup

    return lookup(TASK, [entity_id], data_dir).iloc[0]


def test_the_main_job_makes_again_what_another_city_or_key_made(
    isolated_env: Path, small_city: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from data_samples.city import generate_city
    from features.dataset import input_fingerprint
    from models.secret_keys import secrets_path
    from serving.online_store import online_path
    from training.commands.main_job import _ensure_dataset, _ensure_online_features
    from training.raw_io import load_raw_tables

    data_dir = isolated_env / "data"
    city = data_dir / "city"
    shutil.copytree(small_city, city)
    datasets = data_dir / "datasets"

    def main_job_steps() -> tuple[Path, str]:
        capsys.readouterr()
        dataset, fingerprint = _ensure_dataset(TASK, city, datasets)
        _ensure_online_features(TASK, city, data_dir, fingerprint)
        return dataset, capsys.readouterr().err

    first, said = main_job_steps()
    assert "building the labelled dataset" in said and "materializing the latest" in said
    online = online_path("dispute_escalation", data_dir)
    made = (first.stat().st_mtime_ns, online.stat().st_mtime_ns)
    # the same city and key: both kept, nothing said of them but the dataset found
    again, said = main_job_steps()
    assert "dataset found" in said and "materializ" not in said, said
    assert (again.stat().st_mtime_ns, online.stat().st_mtime_ns) == made

    # another city in the folder (as `generate --force` leaves it): both made again
    shutil.rmtree(city)
    generate_city(city, size="small", seed=SMALL_CITY_SEED + 1, profile="clean")
    _, said = main_job_steps()
    assert "built from other raw tables" in said and "materializing again" in said, said
    fingerprint = input_fingerprint(load_raw_tables(city, TASK))
    assert pd.read_json(first.with_suffix(".json"), typ="series")["input_fingerprint"] == (
        fingerprint
    )
    # a dispute of the new city scored by id is served its own features, every one of them
    from features.catalog import feature_names

    latest = _latest(city)
    shared = list(latest.index[:5])
    for number in shared:
        served = _served_row(number, data_dir)
        for column in feature_names("dispute_escalation"):
            expected = latest.loc[number, column]
            assert served[column] == expected or (pd.isna(served[column]) and pd.isna(expected)), (
                number,
                column,
            )

    # a new secrets file (a copied folder, `secrets start-over`): made again under its key
    secrets_path().unlink()
    _, said = main_job_steps()
    assert "dataset found" in said and "materializing again" in said, said
    assert _served_row(shared[0], data_dir)["entity_id"] == shared[0]
