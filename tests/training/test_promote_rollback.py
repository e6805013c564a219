"""Rolling back a champion from the CLI: `promote --version N` judges an earlier registered
version in the challenger's place, and `--force` moves champion back to it whatever the rule
says, recorded as every promotion is (MLflow run, version tag, audit row). A QA session found
no way back but moving MLflow aliases by hand."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from training.cli import app
from training.datasets import TrainingData

TASK = "telecom-fraud"


def _aliases() -> dict[str, str]:
    import mlflow

    from models.registry import registered_model_name
    from models.settings import get_settings

    client = mlflow.MlflowClient(get_settings().mlflow_uri, get_settings().mlflow_uri)
    aliases = client.get_registered_model(registered_model_name(TASK)).aliases
    return {alias: str(version) for alias, version in aliases.items()}


def test_promote_version_rolls_the_champion_back_on_the_record(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    dataset = isolated_env / "fraud.parquet"
    city_data[TASK].frame.to_parquet(dataset)
    runner = CliRunner()
    for rounds in ("5", "40"):  # v1 (the first: champion), then v2, another model
        trained = runner.invoke(
            app, ["train", "--task", TASK, "--dataset", str(dataset), "--max-rounds", rounds]
        )
        assert trained.exit_code == 0, (trained.output, trained.exception)
    forward = runner.invoke(app, ["promote", "--task", TASK, "--force"])
    assert forward.exit_code == 0, forward.output
    assert _aliases() == {"champion": "2", "challenger": "2"}

    back = runner.invoke(app, ["promote", "--task", TASK, "--version", "1", "--force"])
    assert back.exit_code == 0, (back.output, back.exception)
    assert "promoted (challenger v1, champion v2 -> v1)" in back.stdout, back.stdout
    assert _aliases() == {"champion": "1", "challenger": "2"}  # the challenger stays
    with sqlite3.connect(isolated_env / "riskloop.db") as db:
        (detail,) = db.execute(
            "SELECT detail FROM audit_log WHERE action = 'model_promotion' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    row = json.loads(detail)
    assert (row["champion_before"], row["champion_after"]) == (2, 1), row

    again = runner.invoke(app, ["promote", "--task", TASK, "--version", "1"])
    assert again.exit_code == 0 and "nothing to promote" in again.stdout, again.output
    missing = runner.invoke(app, ["promote", "--task", TASK, "--version", "99"])
    assert missing.exit_code == 2, missing.output
    errors = [line for line in missing.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no version 99" in errors[0], missing.output
    assert _aliases() == {"champion": "1", "challenger": "2"}
