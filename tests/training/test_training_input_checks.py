"""`riskloop train` holds a dataset's feature columns to the catalog's rules, as `riskloop score`
and the API do: numbers stored as text were learnt from, then refused at scoring."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.spec import TASK_NAMES, get_spec
from training.cli import app
from training.datasets import TrainingData, build_from_raw, check_dataset
from training.errors import UserError

TASK = "dispute-escalation"


def test_train_refuses_numbers_stored_as_text_as_score_does(
    isolated_env: Path, city_data: dict[str, TrainingData], tmp_path: Path
) -> None:
    frame = city_data[TASK].frame
    dataset = tmp_path / "texted.parquet"
    frame.assign(n_parties=frame["n_parties"].astype(str)).to_parquet(dataset, index=False)

    result = CliRunner().invoke(app, ["train", "--task", TASK, "--dataset", str(dataset)])

    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"error: {dataset}: column n_parties must hold numbers (numbers stored as text are refused"
    ), lines
    assert lines[0].endswith("; nothing trained"), lines


def test_a_category_or_a_range_the_catalog_does_not_allow_is_refused(
    city_data: dict[str, TrainingData],
) -> None:
    spec = get_spec(TASK)
    frame = city_data[TASK].frame
    with pytest.raises(UserError, match="column dispute_type must be one of"):
        check_dataset(spec, frame.assign(dispute_type="parking"), "d.parquet")
    with pytest.raises(UserError, match="column n_parties must be between 0 and 1000"):
        check_dataset(spec, frame.assign(n_parties=-2), "d.parquet")
    # ids the API would not take are no training input's business: training only groups by them
    check_dataset(spec, frame.assign(entity_id="纠纷 " + frame["entity_id"]), "d.parquet")


def test_the_datasets_the_cli_builds_pass(realistic_city: Path) -> None:
    for task in TASK_NAMES:  # build_from_raw checks the dataset it built
        assert len(build_from_raw(get_spec(task), realistic_city).frame)
