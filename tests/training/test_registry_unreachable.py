"""A registry that cannot be reached or opened: every command that reads it says so in one
`error:` line naming the registry (password hidden), exit 2, instead of MLflow's traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli import app

TASK = "wage-arrears"


def _free_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _commands(folder: Path) -> dict[str, list[str]]:
    rows = folder / "rows.parquet"
    pd.DataFrame({"entity_id": ["a"], "as_of": pd.to_datetime(["2025-01-31"])}).to_parquet(rows)
    dataset = folder / "missing-but-not-read.parquet"
    return {
        "models": ["models"],
        "promote": ["promote", "--task", TASK],
        "score": ["score", "--task", TASK, "--input", str(rows), "--output", "o.csv"],
        "report": ["report", "--task", TASK, "--raw", str(folder)],
        "train": ["train", "--task", TASK, "--dataset", str(dataset)],
    }


def _one_error_line(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["models", "promote", "score", "report", "train"])
def test_a_tracking_server_that_does_not_answer_is_one_line(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    from models.settings import get_settings

    url = f"http://riskloop:s3cret@127.0.0.1:{_free_port()}"
    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # refused at once: no backoff
    get_settings.cache_clear()

    line = _one_error_line(_commands(isolated_env)[command])

    assert "cannot reach the MLflow registry at http://riskloop:***@127.0.0.1:" in line, line
    assert "RISKLOOP_MLFLOW_URI" in line and "s3cret" not in line
    assert "refused" in line.lower(), line


@pytest.mark.parametrize("command", ["models", "promote", "score", "report", "train"])
def test_a_sqlite_store_whose_folder_cannot_be_made_is_one_line(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    from models.settings import get_settings

    blocker = isolated_env / "a-file"
    blocker.write_text("a file where the store's folder would go")
    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", f"sqlite:///{blocker / 'store' / 'mlruns.db'}")
    get_settings.cache_clear()

    line = _one_error_line(_commands(isolated_env)[command])

    if command == "train":  # the one command here that creates the store: it cannot
        assert f"cannot open the MLflow registry at sqlite:///{blocker}" in line, line
        return
    # a command that only reads the registry finds no file there (and makes none)
    assert f"no MLflow registry at sqlite:///{blocker}" in line, line
    assert "does not exist" in line and blocker.is_file()
