"""`promote` says when the challenger itself was trained on other data than it is judged on.

A QA session trained a challenger on a dataset file, rebuilt the file from another city and
promoted: the decision said "compared on <file>" with no word that the challenger's training
data was gone (the champion's was checked, the challenger's never), while `report` on the same
version said so.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from training.cli import app
from training.datasets import TrainingData
from training.promote import trained_elsewhere

TASK = "telecom-fraud"


def test_promote_notes_a_challenger_trained_on_the_file_as_it_was_then(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    dataset = isolated_env / "fraud.parquet"
    frame = city_data[TASK].frame
    frame.to_parquet(dataset)
    runner = CliRunner()
    trained = runner.invoke(
        app, ["train", "--task", TASK, "--dataset", str(dataset), "--max-rounds", "5"]
    )
    assert trained.exit_code == 0, (trained.output, trained.exception)
    # the file rebuilt since: other rows under the same name
    frame.iloc[: len(frame) * 9 // 10].to_parquet(dataset)
    promoted = runner.invoke(app, ["promote", "--task", TASK])
    assert promoted.exit_code == 0, (promoted.output, promoted.exception)
    assert f"note: the challenger was trained on {dataset} as it was then" in promoted.stderr
    assert "both were judged on the data there now" in promoted.stderr


def test_the_note_names_another_source_or_a_changed_one_and_nothing_otherwise() -> None:
    data = TrainingData(pd.DataFrame(), "/city", "bbbb")
    tags = {"riskloop.dataset_source": "/city"}
    assert trained_elsewhere("challenger", tags, {"dataset_fingerprint": "bbbb"}, data) == ""
    assert trained_elsewhere("challenger", {}, {}, data) == ""  # its run does not say
    assert trained_elsewhere("challenger", tags, {"dataset_fingerprint": "aaaa"}, data) == (
        "the challenger was trained on /city as it was then (dataset fingerprint aaaa); both "
        "were judged on the data there now (bbbb)"
    )
    other = {"riskloop.dataset_source": "/old"}
    assert trained_elsewhere("champion", other, {}, data) == (
        "the champion was trained on /old; both were judged on /city"
    )
