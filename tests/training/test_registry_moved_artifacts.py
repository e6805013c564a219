"""An installation moved to another folder with the default local registry: `mlruns.db` records
absolute `file:///old/folder/mlartifacts/...` locations, so with the old folder gone the
champion's artifacts are not found. Every command that loads it said the version "is not a
riskloop model (registered outside riskloop?)"; now it names the location it could not read
and says the artifacts are missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.registry import load_registered
from models.risk_model import ModelLoadError
from training.cli import app


@pytest.fixture()
def moved_away(dispute_champion: Path) -> Path:
    """The champion's folder, its artifacts moved elsewhere after they were registered."""
    (dispute_champion / "mlartifacts").rename(dispute_champion / "elsewhere")
    return dispute_champion / "mlartifacts"


def test_loading_names_the_missing_artifact_location(moved_away: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        load_registered("dispute-escalation")
    message = str(caught.value)
    assert "riskloop-dispute-escalation version 1's artifacts are missing" in message
    assert f"nothing at {moved_away.as_uri()}/" in message
    assert "not a riskloop model" not in message


def test_report_says_so_in_one_line(moved_away: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--task", "dispute-escalation"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "artifacts are missing (moved or deleted)" in lines[0]
    assert moved_away.as_uri() in lines[0]
