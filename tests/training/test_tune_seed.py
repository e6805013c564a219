"""A study records its LightGBM seed: a worker with another --seed is refused in one line
(its trials would mix seeds), and a study made before the seed was recorded takes any."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from models.risk_model import RiskModel
from models.spec import get_spec
from training.cli import app
from training.datasets import Splits, TrainingData
from training.tune import SEED_ATTR, StudyMismatchError, study_identity, tune

TASK = "telecom-fraud"


def _base(seed: int):  # type: ignore[no-untyped-def]
    spec = get_spec(TASK)
    params = dataclasses.replace(
        spec.params, num_boost_round=10, early_stopping_rounds=5, seed=seed
    )
    return spec, params


def test_a_worker_with_another_seed_is_refused(
    tmp_path: Path, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    _, splits = fast_models[TASK]
    spec, seven = _base(7)
    tune(spec, splits.train, splits.valid, 1, seven, "seeded", storage)
    assert optuna.load_study(study_name="seeded", storage=storage).user_attrs[SEED_ATTR] == "7"

    _, eight = _base(8)
    with pytest.raises(StudyMismatchError, match=r"LightGBM seed 7, not 8.*--seed 7"):
        tune(spec, splits.train, splits.valid, 1, eight, "seeded", storage)
    tune(spec, splits.train, splits.valid, 1, seven, "seeded", storage)
    assert len(optuna.load_study(study_name="seeded", storage=storage).trials) == 2


def test_a_study_recording_no_seed_takes_any(
    tmp_path: Path, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    """A study made before the seed was recorded: its other settings, no seed."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    _, splits = fast_models[TASK]
    spec, seven = _base(7)
    old = optuna.create_study(study_name="old", storage=storage, direction="maximize")
    for key, value in study_identity(spec, splits.train, splits.valid, seven).items():
        if key != SEED_ATTR:
            old.set_user_attr(key, value)

    for seed in (7, 8):
        tune(spec, splits.train, splits.valid, 1, _base(seed)[1], "old", storage)
    assert len(optuna.load_study(study_name="old", storage=storage).trials) == 2


def test_tune_says_the_seed_in_one_line(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    dataset = isolated_env / "fraud.parquet"
    city_data[TASK].frame.to_parquet(dataset)
    storage = f"sqlite:///{isolated_env / 'shared.db'}"
    common = ["tune", "--task", TASK, "--storage", storage, "--study", "s", "--trials", "2"]
    common += ["--dataset", str(dataset), "--max-rounds", "5"]
    runner = CliRunner()
    first = runner.invoke(app, [*common, "--seed", "7", "--trials", "1"])
    assert first.exit_code == 0, first.output

    other = runner.invoke(app, [*common, "--seed", "8"])

    assert other.exit_code == 2, other.output
    lines = [line for line in other.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), other.stderr
    assert "LightGBM seed 7, not 8" in lines[0]
