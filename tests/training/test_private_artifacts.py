"""What training and offline scoring leave on disk names no unit by position or by mode.

Each registered model's MLflow input example is made up (no test row, no consecutive rows of the
dataset), the monitoring reference's order is not rebuilt from the run's logged seed, and an
offline score file (raw ids with their levels) is readable by its owner only.
"""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from models.risk_model import RiskModel
from models.spec import get_spec
from training.cli import app
from training.datasets import Splits, TrainingData
from training.reference import reference_sample
from training.train import fit_model

from .test_reference_order import TASK as REFERENCE_TASK
from .test_reference_order import _dataset

TASK = "dispute-escalation"


def test_a_registered_models_input_example_is_no_units_row(
    isolated_env: Path, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    """The example used to be the test slice's first 5 rows: consecutive positions of the
    dataset file, whose rows carry the raw ids."""
    import mlflow

    from training.tracking import configure_tracking, log_and_register, signature_frame

    model, splits = fast_models[TASK]
    configure_tracking()
    try:
        with mlflow.start_run():
            log_and_register(model, splits.test)
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")
    (folder,) = (isolated_env / "mlartifacts" / "models").glob("*/artifacts")
    real = {
        json.dumps(record, sort_keys=True)
        for record in json.loads(signature_frame(model, splits.test).to_json(orient="records"))
    }
    for name in ("input_example.json", "serving_input_example.json"):
        saved = json.loads((folder / name).read_text(encoding="utf-8"))
        frame = pd.DataFrame(saved["inputs"] if isinstance(saved, dict) else saved)
        assert list(frame.columns) == list(model.spec.feature_names)
        assert len(frame) == 5
        records = json.loads(frame.to_json(orient="records"))
        assert not real & {json.dumps(record, sort_keys=True) for record in records}, name


def test_the_references_order_is_not_rebuilt_from_the_logged_seed() -> None:
    """The rows stay the seeded ones (monitoring compares the same population), but their order
    is drawn afresh: `dataset.sample(n, random_state=seed)` no longer lines up with it."""
    spec = get_spec(REFERENCE_TASK)
    frame = _dataset(2400)
    model = fit_model(
        spec, Splits(frame, frame, frame), dataclasses.replace(spec.params, num_boost_round=5)
    )
    marker = next(f.name for f in spec.features if f.dtype not in ("category", "bool", "int"))
    first = reference_sample(model, frame, seed=7)[marker].to_numpy()
    second = reference_sample(model, frame, seed=7)[marker].to_numpy()
    seeded = frame.sample(n=len(frame), random_state=7)[marker].to_numpy()
    assert sorted(first) == sorted(second) == sorted(seeded)
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, seeded) and not np.array_equal(second, seeded)
    assert (first == seeded).mean() < 0.01


def _score(source: Path, output: Path) -> None:
    args = ["score", "--task", TASK, "--input", str(source), "--output", str(output)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def test_offline_scores_are_written_for_their_owner_only(
    dispute_champion: Path, city_data: dict[str, TrainingData]
) -> None:
    """Each row is a raw id with its score and risk level: a new file is created 0600, and an
    existing world-readable one is made 0600 when scores are written over it."""
    source = dispute_champion / "rows.parquet"
    city_data[TASK].frame.head(10).to_parquet(source)
    fresh = dispute_champion / "fresh.csv"
    _score(source, fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert len(pd.read_csv(fresh)) == 10
    existing = dispute_champion / "existing.parquet"
    existing.write_bytes(b"old")
    existing.chmod(0o644)
    _score(source, existing)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert len(pd.read_parquet(existing)) == 10
