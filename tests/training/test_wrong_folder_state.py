"""Commands run from the wrong folder (QA re-check, after fd2606c and 0d1bdcb).

- `riskloop materialize` run where the secrets file is not made a new secrets file there and
  rewrote the deployment's online features (RISKLOOP_DATA_DIR) under the new pseudonym key:
  exit 0, and `entity_ids` scoring then found nobody. It is now refused in one line, before
  any work: the online file is left as it was.
- `riskloop score` run where the store is not made a new store and secrets file there for its
  `score_offline` audit row. It is now refused in one line before scoring: nothing created,
  no output written.

The deployment here is set up in one folder with relative paths (the defaults), as
`riskloop run` leaves it; the commands then run from an empty folder beside it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.settings import get_settings
from training.cli import app

TASK = "wage-arrears"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def _relative_paths(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Work in `folder` with the store, keys and secrets at their default relative paths."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("RISKLOOP_STORE_URL", "sqlite:///riskloop.db")
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", "keys.json")
    monkeypatch.delenv("RISKLOOP_SECRETS_FILE", raising=False)
    monkeypatch.delenv("RISKLOOP_PSEUDONYM_SECRET", raising=False)
    get_settings.cache_clear()


def test_materialize_and_score_from_an_empty_folder_are_refused_and_create_nothing(
    isolated_env: Path, small_city: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = isolated_env / "deployment"
    deployment.mkdir()
    _relative_paths(monkeypatch, deployment)
    assert _run("store", "upgrade")[0] == 0
    code, out, err = _run("materialize", "--task", TASK, "--raw", str(small_city))
    assert code == 0, err
    online = Path(out.rsplit("-> ", 1)[1].strip())
    served = online.read_bytes()
    code, _, err = _run("train", "--task", TASK, "--raw", str(small_city), "--max-rounds", "10")
    assert code == 0, err
    dataset = isolated_env / "dataset.parquet"
    code, _, err = _run(
        "build-dataset", "--task", TASK, "--raw", str(small_city), "--out", str(dataset)
    )
    assert code == 0, err
    pd.read_parquet(dataset).head(50).to_parquet(dataset)
    code, _, err = _run("score", "--task", TASK, "--input", str(dataset), "--output", "scored.csv")
    assert code == 0, err  # from the deployment's folder both work
    deployment_files = _listing(deployment)

    empty = isolated_env / "empty3"
    empty.mkdir()
    _relative_paths(monkeypatch, empty)
    refusals = {
        ("materialize", "--task", TASK, "--raw", str(small_city)): "no secrets file at",
        (
            "score", "--task", TASK, "--input", str(dataset), "--output", "scored.parquet",
        ): "no warnings store at",
    }  # fmt: skip
    for args, needle in refusals.items():
        code, out, err = _run(*args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (args, out, err)
        assert lines[0].startswith(f"error: {needle} {empty}"), lines[0]
        assert "Traceback" not in err and not out, (args, out)
        assert _listing(empty) == [], (args, _listing(empty))  # no store, secrets, output
    assert online.read_bytes() == served  # the served features keep their pseudonyms
    assert _listing(deployment) == deployment_files
