"""A registry setting that cannot be riskloop's registry is one `error:` line and exit 2, at
once, for every command: a folder where the SQLite file goes (MLflow retried opening it for
about 100 s, a warning a try), a plain path or `file://` URI (MLflow's file store, in
maintenance mode: a 67-line traceback, or `serve` advising to train), and a SQLite file that
is not there for a command that only reads the registry (MLflow made an empty one, and its
folder, and the command advised training into it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.processes import free_port
from training.cli import app
from training.datasets import TrainingData

#: far below the ~100 s MLflow spent retrying a folder, far above a refusal's time
AT_ONCE_S = 30.0


def _refused(args: list[str], monkeypatch: pytest.MonkeyPatch, uri: str) -> str:
    """Run `riskloop ARGS` with RISKLOOP_MLFLOW_URI=`uri`: exit 2 and one `error:` line, soon;
    that line. `serve` must not start the service."""
    from models.settings import get_settings

    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", uri)
    get_settings.cache_clear()
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("the service was started"))
    started = time.monotonic()
    result = CliRunner().invoke(app, args)
    elapsed = time.monotonic() - started
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert elapsed < AT_ONCE_S, f"refused after {elapsed:.0f} s"
    return lines[0]


def _dataset(folder: Path, city_data: dict[str, TrainingData]) -> Path:
    path = folder / "wage.parquet"
    city_data["wage-arrears"].frame.to_parquet(path)
    return path


def _commands(folder: Path, dataset: Path) -> dict[str, list[str]]:
    return {
        "train": ["train", "--task", "wage-arrears", "--dataset", str(dataset)],
        "tune": [
            *("tune", "--task", "wage-arrears", "--dataset", str(dataset), "--trials", "1"),
            *("--max-rounds", "5", "--study", "s", "--storage"),
            f"sqlite:///{folder / 'optuna.db'}",
        ],
        "serve": ["serve", "--port", str(free_port())],
        "models": ["models"],
        "keys list": ["keys", "list"],
    }


@pytest.mark.parametrize("command", ["train", "tune", "serve"])
def test_a_sqlite_registry_path_that_is_a_folder_is_refused_at_once(
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    city_data: dict[str, TrainingData],
    command: str,
) -> None:
    folder = isolated_env / "emptydir"
    folder.mkdir()
    args = _commands(isolated_env, _dataset(isolated_env, city_data))[command]

    line = _refused(args, monkeypatch, f"sqlite:///{folder}")

    assert "RISKLOOP_MLFLOW_URI" in line and f"{folder} is a folder, not a database file" in line
    assert f"sqlite:///{folder / 'mlruns.db'}" in line, line  # what to give instead
    assert list(folder.iterdir()) == []
    assert not (isolated_env / "optuna.db").exists()  # refused before any trial


@pytest.mark.parametrize("kind", ["file", "folder", "file URI", "missing"])
@pytest.mark.parametrize("command", ["models", "serve", "train", "tune", "keys list"])
def test_a_registry_that_is_not_a_database_uri_is_one_line_for_every_command(
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    city_data: dict[str, TrainingData],
    kind: str,
    command: str,
) -> None:
    """`RISKLOOP_MLFLOW_URI=/some/afile`, a folder, `file:///...`: MLflow's file store, which
    riskloop does not use; said before any work, naming what the setting must be."""
    target = isolated_env / "afile"
    target.write_text("not a registry")
    (isolated_env / "adir").mkdir()
    uri = {
        "file": str(target),
        "folder": str(isolated_env / "adir"),
        "file URI": (isolated_env / "adir").as_uri(),
        "missing": "mlruns",
    }[kind]
    args = _commands(isolated_env, _dataset(isolated_env, city_data))[command]

    line = _refused(args, monkeypatch, uri)

    assert line.startswith("error: invalid setting RISKLOOP_MLFLOW_URI: "), line
    assert "must be a database URI (e.g. sqlite:///path/mlruns.db or postgresql://" in line, line
    assert target.read_text() == "not a registry"
    assert list((isolated_env / "adir").iterdir()) == []
    assert not (isolated_env / "mlruns").exists() and not (isolated_env / "optuna.db").exists()


def scored_record() -> None:
    """One scored wage-arrears record in the test's warnings store, so that `monitor` gets as
    far as looking for the champion's reference data."""
    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from serving.store import WarningStore

    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        store.record_scores(
            actor="scorer",
            task="wage-arrears",
            model_name="riskloop-wage-arrears",
            model_version="1",
            results=[
                {"entity_id": "E1", "score": 0.01, "risk_level": "green", "reasons": []}
                | {"actions": [], "features": {}}
            ],
        )


@pytest.mark.parametrize(
    "args",
    [
        ["monitor", "--task", "wage-arrears"],
        ["serve", "--port", "PORT"],
        ["bundle", "--task", "all"],
    ],
)
def test_a_command_that_only_reads_the_registry_makes_none_at_a_mistyped_path(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """`serve`, `monitor` and `bundle` made an empty registry (and its folder) at the typo, then
    said there was no champion and to train one, into that new store."""
    if args[0] == "monitor":
        scored_record()
    monkeypatch.setenv("BENTOML_HOME", str(isolated_env / "bentoml"))  # bundle: not the user's
    typo = isolated_env / "typo_dir" / "mlruns.db"
    args = [str(free_port()) if arg == "PORT" else arg for arg in args]

    line = _refused(args, monkeypatch, f"sqlite:///{typo}")

    assert f"no MLflow registry at sqlite:///{typo} (RISKLOOP_MLFLOW_URI)" in line, line
    assert "does not exist" in line and "champion" not in line, line
    assert not typo.parent.exists()
