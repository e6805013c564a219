"""`--truth`: a missing folder is refused everywhere it is taken, one given where it would be
ignored is refused, and a truth that matches none of the dataset's rows is said."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli import app
from training.datasets import TrainingData

TASK = "dispute-escalation"


def _one_error_line(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["train", "promote"])
def test_a_missing_truth_folder_is_refused(
    isolated_env: Path, city_data: dict[str, TrainingData], command: str
) -> None:
    dataset = isolated_env / "disputes.parquet"
    city_data[TASK].frame.head(50).to_parquet(dataset)
    missing = isolated_env / "nonexist"
    for data in ([], ["--dataset", str(dataset)]):
        line = _one_error_line([command, "--task", TASK, *data, "--truth", str(missing)])
        assert (
            f"--truth {missing} holds no dispute_escalation_units.parquet: no such folder" in line
        )


@pytest.mark.parametrize("command", ["train", "promote"])
def test_truth_without_a_dataset_is_refused_not_ignored(
    isolated_env: Path, small_city: Path, command: str
) -> None:
    truth = str(small_city / "truth")
    for data in ([], ["--raw", str(small_city)]):
        line = _one_error_line([command, "--task", TASK, *data, "--truth", truth])
        assert "--truth goes with --dataset" in line, line


def test_a_truth_that_matches_no_row_is_said(
    isolated_env: Path, small_city: Path, city_data: dict[str, TrainingData]
) -> None:
    dataset = isolated_env / "disputes.parquet"
    city_data[TASK].frame.to_parquet(dataset)
    other = isolated_env / "other-city-truth"
    other.mkdir()
    units = pd.read_parquet(small_city / "truth" / "dispute_escalation_units.parquet")
    units.assign(entity_id="X" + units["entity_id"].astype(str)).to_parquet(
        other / "dispute_escalation_units.parquet"
    )

    args = ["--dataset", str(dataset), "--truth", str(other), "--max-rounds", "5"]
    result = CliRunner().invoke(app, ["train", "--task", TASK, *args])

    assert result.exit_code == 0, result.output
    assert "oracle_roc_auc=-" in result.stdout
    # (a model of 5 rounds also says its levels cannot hold their planned shares)
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: no oracle")]
    assert len(notes) == 1, result.stderr
    assert f"matched 0 of the dataset's {len(city_data[TASK].frame):,} rows" in notes[0]
