"""`riskloop report` without --raw rebuilds the test slice from the folder the version was
trained on (as `promote` does), else the default city, and says which it used."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from models.spec import get_spec
from training.cli import app
from training.datasets import build_from_raw

TASK = "wage-arrears"


def test_report_defaults_to_the_versions_own_training_folder(
    isolated_env: Path, small_city: Path
) -> None:
    runner = CliRunner()
    trained = runner.invoke(
        app, ["train", "--task", TASK, "--raw", str(small_city), "--max-rounds", "20"]
    )
    assert trained.exit_code == 0, trained.output
    assert not (isolated_env / "data" / "city").exists()  # the default city is not there

    own = runner.invoke(app, ["report", "--task", TASK, "--lang", "en"])

    assert own.exit_code == 0, own.output
    notes = [line for line in own.stderr.splitlines() if line.strip()]
    assert notes == [
        f"note: test slice rebuilt from {small_city}, the folder the version was trained on"
    ]
    assert own.stdout.split() == [str(isolated_env / "reports" / f"{TASK}-v1.html")]

    dataset = isolated_env / "wage.parquet"
    build_from_raw(get_spec(TASK), small_city).frame.to_parquet(dataset, index=False)
    on_file = runner.invoke(
        app, ["train", "--task", TASK, "--dataset", str(dataset), "--max-rounds", "20"]
    )
    assert on_file.exit_code == 0, on_file.output

    refused = runner.invoke(app, ["report", "--task", TASK, "--version", "2"])

    assert refused.exit_code == 2, refused.output
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        f"error: raw data folder {isolated_env / 'data' / 'city'} does not exist; the "
        f"version was trained on the dataset file {dataset}, not a city folder"
    ), lines
