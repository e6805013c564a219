"""A realistic city whose tables lack every optional noise column: datasets and models without
the features derived from them (with a line saying so), and a real service scoring with them."""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.dataset import optional_features
from features.schemas import TABLE_SPECS
from features.tasks import TASKS
from tests.environment import service_env, settings_env, stores_root
from tests.processes import LOOPBACK_TLS, free_port, stop_process_group
from tests.serving.conftest import start_service

TRAIN_ROUNDS = 20


def _without_optional_columns(city: Path, out: Path) -> dict[str, set[str]]:
    """Copy `city` to `out`, dropping every optional column; the columns dropped per task."""
    shutil.copytree(city, out)
    dropped: dict[str, set[str]] = {}
    for slug, tables in TABLE_SPECS.items():
        for table, spec in tables.items():
            optional = [name for name, col in spec.columns.items() if col.optional]
            if not optional:
                continue
            path = out / slug / f"{table}.parquet"
            pd.read_parquet(path).drop(columns=optional).to_parquet(path, index=False)
            dropped.setdefault(slug, set()).update(f"{table}.{name}" for name in optional)
    return dropped


@pytest.fixture(scope="module")
def lean_root(tmp_path_factory: pytest.TempPathFactory, empty_mlflow_store: Path) -> Iterator[Path]:
    """This module's stores; its MLflow store a copy of the empty one (making one anew runs
    MLflow's schema migrations, about 2.5 s of CPU)."""
    root = stores_root(tmp_path_factory, "lean", empty_mlflow_store)
    with settings_env(service_env(root)):
        yield root


def test_a_city_without_noise_columns_trains_and_serves(
    lean_root: Path, realistic_city: Path
) -> None:
    from models.spec import get_spec
    from serving.auth import create_key
    from serving.online_store import materialize
    from training.commands.service import build_scoring_set
    from training.datasets import build_from_raw
    from training.train import train_task

    city = lean_root / "city"
    dropped = _without_optional_columns(realistic_city, city)
    frames = {}
    for slug, info in TASKS.items():
        spec = get_spec(info.name)
        spec = dataclasses.replace(spec, params=dataclasses.replace(spec.params, num_threads=1))
        data = build_from_raw(spec, city)
        left_out = optional_features(info.name)
        assert set(data.left_out) == left_out and left_out
        assert set(data.left_out.values()) <= dropped[slug]
        assert not left_out & set(data.frame.columns)
        notes: list[str] = []
        outcome = train_task(spec, data, max_rounds=TRAIN_ROUNDS, on_step=notes.append)
        assert outcome.model.spec.feature_names == spec.without(left_out).feature_names
        assert sorted(n for n in notes if n.startswith("note:")) == sorted(data.notes())
        assert all("left out of the dataset and the model" in n for n in data.notes())
        scoring = build_scoring_set(info.name, city)
        assert not left_out & set(scoring.columns)
        materialize(info.name, scoring)
        frames[info.name] = scoring

    keys = {"all": create_key("all", ("score", "review", "feedback", "admin"))}
    port = free_port()
    process, log = start_service(lean_root, port)
    try:
        assert process.poll() is None, log.read_text()[-4000:]
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=60, verify=LOOPBACK_TLS
        ) as client:
            for task, frame in frames.items():
                sample = frame.sample(10, random_state=1)
                ids = sample["entity_id"].astype(str).tolist()
                headers = {"Authorization": f"Bearer {keys['all']}"}
                by_id = client.post(f"/v1/{task}/score", json={"entity_ids": ids}, headers=headers)
                assert by_id.status_code == 200, by_id.text
                results = by_id.json()["results"]
                assert [r["entity_id"] for r in results] == ids
                assert all(0.0 <= r["score"] <= 1.0 for r in results)
                named = {reason["feature"] for r in results for reason in r["reasons"]}
                assert not named & optional_features(task)
                records = [
                    {
                        k: (v.item() if hasattr(v, "item") else v)
                        for k, v in row.items()
                        if k == "entity_id"
                        or (k in get_spec(task).feature_names and not _missing(v))
                    }
                    for row in sample.to_dict("records")
                ]
                for record in records:
                    record["entity_id"] = str(record["entity_id"])
                by_records = client.post(
                    f"/v1/{task}/score", json={"records": records}, headers=headers
                )
                assert by_records.status_code == 200, by_records.text
                assert [r["score"] for r in by_records.json()["results"]] == [
                    r["score"] for r in results
                ]
    finally:
        stop_process_group(process)


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
