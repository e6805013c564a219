"""`riskloop score` over a population is one audit row, as every score request of the API is;
no output leaves without it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.settings import get_settings
from serving.store import WarningStore
from training.cli import app
from training.commands import cli_actor
from training.datasets import TrainingData

TASK = "dispute-escalation"


@pytest.fixture()
def rows(city_data: dict[str, TrainingData]) -> pd.DataFrame:
    return city_data[TASK].frame.head(20).reset_index(drop=True)


def _score(source: Path, output: Path) -> tuple[int, str]:
    args = ["score", "--task", TASK, "--input", str(source), "--output", str(output)]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_an_offline_scoring_is_one_audit_row_without_ids(
    dispute_champion: Path, rows: pd.DataFrame
) -> None:
    source = dispute_champion / "rows.parquet"
    rows.to_parquet(source)
    output = dispute_champion / "scored.parquet"

    code, said = _score(source, output)

    assert code == 0, said
    scored = pd.read_parquet(output)
    with WarningStore.from_settings() as store:
        audit = store.audit_rows(actor=cli_actor())
    assert [row["action"] for row in audit] == ["score_offline"], audit
    row = audit[0]
    assert row["task"] == TASK and str(row["model_version"]) == "1"
    assert row["detail"]["n_records"] == 20
    assert row["detail"]["output"] == "scored.parquet"
    assert sum(row["detail"]["levels"].values()) == 20
    assert row["detail"]["levels"]["red"] == int((scored["risk_level"] == "red").sum())
    written = json.dumps(row, default=str)
    assert not any(str(entity) in written for entity in rows["entity_id"])


def test_no_output_when_the_audit_log_cannot_record_it(
    dispute_champion: Path, rows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = dispute_champion / "rows.parquet"
    rows.to_parquet(source)
    (dispute_champion / "a-file").write_text("in the way")
    monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{dispute_champion / 'a-file' / 'x.db'}")
    get_settings.cache_clear()
    output = dispute_champion / "scored.parquet"

    code, said = _score(source, output)

    assert code == 2, said
    assert not output.exists()
