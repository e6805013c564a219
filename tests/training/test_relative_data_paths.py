"""Data given by a path relative to the working directory is recorded absolute: `promote` (and
`report`) run from another folder find the version's training data."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import app
from training.datasets import TrainingData

TASK = "wage-arrears"


def _source(version: str) -> str:
    from training.tracking import tracking_client

    client = tracking_client()
    run_id = client.get_model_version(f"riskloop-{TASK}", version).run_id
    return str(client.get_run(run_id).data.tags["riskloop.dataset_source"])


def test_a_relative_raw_folder_and_dataset_are_recorded_absolute(
    isolated_env: Path,
    small_city: Path,
    city_data: dict[str, TrainingData],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner()
    elsewhere = isolated_env / "elsewhere"
    elsewhere.mkdir()
    dataset = isolated_env / "files" / "wage.parquet"
    dataset.parent.mkdir()
    city_data[TASK].frame.to_parquet(dataset, index=False)

    monkeypatch.chdir(small_city.parent)
    trained = runner.invoke(
        app, ["train", "--task", TASK, "--raw", small_city.name, "--max-rounds", "20"]
    )
    assert trained.exit_code == 0, trained.output
    assert _source("1") == str(small_city.resolve())
    monkeypatch.chdir(dataset.parent)
    on_file = runner.invoke(
        app, ["train", "--task", TASK, "--dataset", dataset.name, "--max-rounds", "20"]
    )
    assert on_file.exit_code == 0, on_file.output
    assert _source("2") == str(dataset.resolve())

    monkeypatch.chdir(elsewhere)
    promoted = runner.invoke(app, ["promote", "--task", TASK])
    assert promoted.exit_code == 0, promoted.output
    assert f"compared on {dataset.resolve()} (" in promoted.stdout
    assert (
        f"note: the champion was trained on {small_city.resolve()}; both were judged on "
        f"{dataset.resolve()}"
    ) in promoted.stderr

    monkeypatch.chdir(small_city.parent)
    report = runner.invoke(
        app,
        ["report", "--task", TASK, "--version", "1", "--raw", small_city.name, "--lang", "en"],
    )
    assert report.exit_code == 0, report.output
    page = Path(report.stdout.split()[0]).read_text(encoding="utf-8")
    # the report names the folder as every console user may read it, not the server's path
    assert f"Test slice rebuilt from {small_city.name} " in page
    assert str(small_city.resolve()) not in page
