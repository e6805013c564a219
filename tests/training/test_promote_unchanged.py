"""Promoting a challenger that already is the champion decides nothing: the audit row and the
MLflow run say `unchanged`, not `refused` (a refusal is the rule keeping the champion)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from serving.store import WarningStore
from training.cli import app
from training.commands import cli_actor
from training.datasets import TrainingData
from training.promote import audit_first_champion

TASK = "dispute-escalation"


def test_promoting_the_champion_again_is_recorded_as_unchanged(
    dispute_champion: Path, city_data: dict[str, TrainingData]
) -> None:
    import mlflow

    from models.settings import get_settings

    audit_first_champion(TASK, 1, "")  # as `riskloop train` records version 1 (store created)
    dataset = dispute_champion / "disputes.parquet"
    city_data[TASK].frame.to_parquet(dataset)

    result = CliRunner().invoke(app, ["promote", "--task", TASK, "--dataset", str(dataset)])

    assert result.exit_code == 0, result.output
    assert "version 1 is already the champion" in result.stdout
    # not "kept the champion", which README gives exit 3 for (the rule found it not better)
    assert "nothing to promote" in result.stdout and "kept the champion" not in result.stdout
    with WarningStore.from_settings() as store:
        rows = store.audit_rows(actor=cli_actor())
    row = rows[-1]
    assert row["action"] == "model_promotion"
    assert row["detail"]["decision"] == "unchanged"
    assert "refused" not in [row["detail"].get("decision") for row in rows]
    assert row["detail"]["champion_before"] == row["detail"]["champion_after"] == 1
    mlflow.set_tracking_uri(get_settings().mlflow_uri)
    try:
        runs = mlflow.search_runs(
            experiment_names=[get_settings().experiment],
            filter_string="tags.`riskloop.kind` = 'promotion'",
        )
    finally:
        mlflow.set_tracking_uri("")
    assert runs["tags.riskloop.decision"].tolist() == ["unchanged"]
