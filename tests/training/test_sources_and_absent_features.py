"""What the QA tester found in `build-dataset` and `score`:

- `build-dataset --raw data/city --out data/city/wage_arrears/employers.parquet` replaced the
  city's employers table with the dataset; `score --output` guarded only its own input file.
  Both now refuse, in one line and writing nothing, an output in a raw data folder or on
  riskloop's own stores, keys and secrets.
- `score` refused an input lacking feature columns the API lets a record leave out: they are
  now scored as missing, and named in one note on stderr (an input holding fewer than half
  of them is still refused: tests/training/test_cli_recheck_refusals.py).
- `score --help` named the audit row's actor `system:cli`; rows are written as `cli:NAME`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli import app
from training.datasets import TrainingData

TASK = "dispute-escalation"
SLUG = "dispute_escalation"


def _one_error_line(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_build_dataset_never_writes_over_the_raw_tables(
    isolated_env: Path, small_city: Path
) -> None:
    city = isolated_env / "city"
    shutil.copytree(small_city / "wage_arrears", city / "wage_arrears")
    employers = city / "wage_arrears" / "employers.parquet"
    before = employers.read_bytes()
    build = ["build-dataset", "--task", "wage-arrears", "--raw", str(city), "--out"]

    line = _one_error_line([*build, str(employers)])
    assert f"inside the --raw folder {city}" in line, line
    line = _one_error_line([*build, str(city / "datasets" / "wage.parquet")])
    assert "inside the --raw folder" in line, line

    assert employers.read_bytes() == before
    assert not employers.with_suffix(".json").exists()
    assert not (city / "datasets").exists()


@pytest.mark.parametrize(
    ("out", "said"),
    [
        ("riskloop.db", "--out {out} is the warnings store"),
        ("mlruns.db", "--out {out} is the MLflow registry"),
        ("keys.parquet", "--out {out}'s JSON sidecar {sidecar} is the API keys file"),
    ],
)
def test_build_dataset_never_writes_over_riskloops_own_files(
    isolated_env: Path, small_city: Path, out: str, said: str
) -> None:
    """`isolated_env` keeps the store in riskloop.db, the registry in mlruns.db and the keys
    in keys.json: a dataset (or its sidecar) written there would replace them."""
    for name in ("riskloop.db", "mlruns.db", "keys.json"):
        (isolated_env / name).write_bytes(b"kept")
    target = isolated_env / out
    line = _one_error_line(
        ["build-dataset", "--task", TASK, "--raw", str(small_city), "--out", str(target)]
    )
    assert said.format(out=target, sidecar=target.with_suffix(".json")) in line, line
    for name in ("riskloop.db", "mlruns.db", "keys.json"):
        assert (isolated_env / name).read_bytes() == b"kept"
    assert not (isolated_env / "keys.parquet").exists()


@pytest.mark.parametrize(
    ("output", "said"),
    [
        (f"city/{SLUG}/disputes.parquet", "is inside the raw data folder"),
        ("city/scores.csv", "is inside the raw data folder"),
        ("city/truth/scores.csv", "is inside the raw data folder"),
        ("mlartifacts/scores.parquet", "is inside the MLflow artifacts folder"),
        ("keys.json.csv", None),  # a name beside the keys file is not the keys file
    ],
)
def test_score_never_writes_over_raw_tables_or_riskloops_own_files(
    isolated_env: Path, output: str, said: str | None
) -> None:
    """Refused before the input is read: no model is needed to see it. (The stores and keys
    files of `isolated_env` end in .db and .json, which `score` refuses as output anyway.)"""
    table = isolated_env / "city" / SLUG / "disputes.parquet"
    table.parent.mkdir(parents=True)
    table.write_bytes(b"the county's disputes")
    source = isolated_env / "rows.parquet"
    pd.DataFrame({"entity_id": ["MD1"]}).to_parquet(source)
    target = isolated_env / output
    existed = {path: path.read_bytes() for path in isolated_env.rglob("*") if path.is_file()}
    args = ["score", "--task", TASK, "--input", str(source), "--output", str(target)]

    if said is None:
        result = CliRunner().invoke(app, args)
        assert "--output" not in result.stderr, result.stderr  # refused later, for no model
        return
    line = _one_error_line(args)

    assert f"--output {target} {said}" in line, line
    assert {path: path.read_bytes() for path in existed} == existed
    assert not target.exists() or target == table
    assert not (isolated_env / "mlartifacts").exists()
    assert not (isolated_env / "city" / "truth").exists()


@pytest.fixture()
def rows(city_data: dict[str, TrainingData]) -> pd.DataFrame:
    return city_data[TASK].frame.head(30).reset_index(drop=True)


def _score(folder: Path, frame: pd.DataFrame, name: str) -> tuple[int, str, Path]:
    source = folder / f"{name}.parquet"
    frame.to_parquet(source)
    out = folder / f"{name}-scores.parquet"
    args = ["score", "--task", TASK, "--input", str(source), "--output", str(out)]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stderr, out


def test_absent_feature_columns_are_scored_as_missing_and_named(
    dispute_champion: Path, rows: pd.DataFrame
) -> None:
    """As the API scores a record that leaves `dispute_type` and `dispute_amount` out."""
    absent = ["dispute_type", "dispute_amount"]
    code, stderr, out = _score(dispute_champion, rows.drop(columns=absent), "lacking")
    assert code == 0, stderr
    notes = [line for line in stderr.splitlines() if line.strip()]
    assert len(notes) == 1 and notes[0].startswith("note: "), stderr
    assert "2 feature column(s)" in notes[0] and "dispute_type, dispute_amount" in notes[0]

    given_missing = rows.assign(dispute_type=None, dispute_amount=np.nan)
    code, stderr, same = _score(dispute_champion, given_missing, "missing")
    assert code == 0 and not stderr.strip(), stderr
    scored, expected = pd.read_parquet(out), pd.read_parquet(same)
    assert len(scored) == len(rows)
    pd.testing.assert_frame_equal(scored, expected)


def test_an_input_of_ids_and_dates_alone_is_refused_and_ids_stay_required(
    dispute_champion: Path, rows: pd.DataFrame
) -> None:
    """Ids and dates alone hold none of the feature columns: every row would score the same,
    as another task's dataset did (tests/training/test_cli_recheck_refusals.py)."""
    code, stderr, out = _score(dispute_champion, rows[["entity_id", "as_of"]], "bare")
    assert code == 2 and "holds 0 of dispute-escalation's 18 feature columns" in stderr
    assert not out.exists()
    code, stderr, out = _score(dispute_champion, rows.drop(columns="entity_id"), "no-ids")
    assert code == 2 and "has no entity_id column" in stderr and not out.exists()


def test_score_help_names_the_actor_as_the_audit_log_writes_it() -> None:
    result = CliRunner().invoke(app, ["score", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "system:cli" not in result.output
    assert "cli:NAME" in result.output
