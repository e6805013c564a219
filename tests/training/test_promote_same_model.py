"""Promotion QA (rescore43): a challenger that is the same model as the champion (a retrain on
unchanged tables) decides nothing, and `promote` run where no warnings store is refuses
before it moves the alias, creating nothing."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from models.risk_model import RiskModel
from serving.store import WarningStore
from training.cli import app
from training.commands import cli_actor
from training.datasets import Splits, TrainingData
from training.promote import audit_first_champion, same_model

TASK = "dispute-escalation"


def _register(model: RiskModel, rows: pd.DataFrame) -> int:
    """`model` as the task's next version (alias challenger), as `riskloop train` logs one."""
    import mlflow

    from training.tracking import configure_tracking, log_and_register

    configure_tracking()
    try:
        with mlflow.start_run():
            return log_and_register(model, rows).version
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")


def _champion_version() -> int | None:
    import mlflow

    from models.spec import get_spec
    from training import tracking

    tracking.configure_tracking()
    try:
        return tracking.alias_version(get_spec(TASK).registered_model_name, tracking.CHAMPION)
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def test_same_model_means_same_booster_calibrator_and_thresholds(
    tmp_path: Path, fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    model, _ = fast_models[TASK]
    reloaded = RiskModel.load(model.save(tmp_path / "copy"))
    assert same_model(reloaded, model)
    other = copy.copy(model)
    other.thresholds_ = dataclasses.replace(model.thresholds_, red=model.thresholds_.red + 0.01)
    assert not same_model(other, model)
    other = copy.copy(model)
    other.calibrator_ = dataclasses.replace(model.calibrator_, slope=model.calibrator_.slope * 2)
    assert not same_model(other, model)


def test_a_retrain_identical_to_the_champion_is_not_promoted(
    dispute_champion: Path,
    fast_models: dict[str, tuple[RiskModel, Splits]],
    city_data: dict[str, TrainingData],
) -> None:
    audit_first_champion(TASK, 1, "")  # as `riskloop train` records version 1 (store created)
    model, splits = fast_models[TASK]
    assert _register(model, splits.test.head(5)) == 2  # the same fit, registered again
    dataset = dispute_champion / "disputes.parquet"
    city_data[TASK].frame.to_parquet(dataset)

    for extra in ([], ["--force"]):  # --force has nothing to move either
        result = CliRunner().invoke(
            app, ["promote", "--task", TASK, "--dataset", str(dataset), *extra]
        )

        assert result.exit_code == 0, result.output
        assert "nothing to promote (challenger v2, champion v1 -> v1)" in result.stdout
        assert "version 2 is the same model as champion version 1" in result.stdout
        assert _champion_version() == 1
        with WarningStore.from_settings() as store:
            row = store.audit_rows(actor=cli_actor())[-1]
        assert row["action"] == "model_promotion"
        assert row["detail"]["decision"] == "unchanged"
        assert row["detail"]["forced"] is False
        assert row["detail"]["champion_before"] == row["detail"]["champion_after"] == 1


def test_promote_where_no_store_is_refuses_before_moving_the_alias(
    dispute_champion: Path,
    fast_models: dict[str, tuple[RiskModel, Splits]],
    city_data: dict[str, TrainingData],
) -> None:
    model, splits = fast_models[TASK]
    other = copy.copy(model)
    other.thresholds_ = dataclasses.replace(model.thresholds_, red=model.thresholds_.red + 0.01)
    assert _register(other, splits.test.head(5)) == 2
    dataset = dispute_champion / "disputes.parquet"
    city_data[TASK].frame.to_parquet(dataset)
    for made in dispute_champion.glob("riskloop*"):  # the store and secrets the fixture made
        made.unlink()  # promote runs where no store is
    before = _files(dispute_champion)

    result = CliRunner().invoke(
        app, ["promote", "--task", TASK, "--dataset", str(dataset), "--force"]
    )

    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no warnings store at"), lines
    assert _files(dispute_champion) == before  # no store, no secrets file, no MLflow artifact
    assert _champion_version() == 1
