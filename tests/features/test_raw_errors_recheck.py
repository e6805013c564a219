"""QA re-check of raw-table refusals: a table held as a Parquet folder of parts beside a CSV
export, and a CSV column one bad value turns to text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from training.cli import app
from training.engines import _table_path
from training.errors import UserError
from training.raw_io import load_raw_tables

SLUG = "dispute_escalation"
DISPUTES = "dispute-escalation"


def _build(raw: Path, out: Path, *options: str) -> Result:
    return CliRunner().invoke(
        app, ["build-dataset", "--task", DISPUTES, "--raw", str(raw), "--out", str(out), *options]
    )


def _one_error_line(result: Result, *expected: str) -> str:
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and all(text in line for text in expected), line
    return line


@pytest.fixture()
def petitions_in_parts(small_city: Path, tmp_path: Path) -> Path:
    """A copy of the small city's dispute tables whose petitions table is a Parquet folder of
    parts (`petitions.parquet/part-0.parquet`), as a Dask or Spark export writes it."""
    raw = tmp_path / "raw"
    shutil.copytree(small_city / SLUG, raw / SLUG)
    petitions = raw / SLUG / "petitions.parquet"
    frame = pd.read_parquet(petitions)
    petitions.unlink()
    petitions.mkdir()
    frame.to_parquet(petitions / "part-0.parquet", index=False)
    return raw


@pytest.fixture()
def parts_beside_csv(petitions_in_parts: Path) -> Path:
    """The same, with a newer CSV export of petitions dropped beside the Parquet folder."""
    folder = petitions_in_parts / SLUG
    pd.read_parquet(folder / "petitions.parquet").to_csv(folder / "petitions.csv", index=False)
    return petitions_in_parts


@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_a_parquet_folder_beside_a_csv_is_refused_by_both_engines(
    isolated_env: Path, parts_beside_csv: Path, engine: str
) -> None:
    out = isolated_env / "out" / "disputes.parquet"

    result = _build(parts_beside_csv, out, "--engine", engine)

    _one_error_line(result, "holds both petitions.parquet and petitions.csv: keep one")
    assert not out.exists()


def test_the_dask_engine_refuses_a_parquet_folder_beside_a_csv(parts_beside_csv: Path) -> None:
    with pytest.raises(UserError, match=r"holds both petitions\.parquet and petitions\.csv"):
        _table_path(parts_beside_csv, SLUG, "petitions")


def test_a_parquet_folder_alone_is_read_by_both_engines(
    isolated_env: Path, small_city: Path, petitions_in_parts: Path
) -> None:
    folder = petitions_in_parts / SLUG / "petitions.parquet"
    assert _table_path(petitions_in_parts, SLUG, "petitions") == folder
    read = load_raw_tables(petitions_in_parts, SLUG)["petitions"]
    pd.testing.assert_frame_equal(read, pd.read_parquet(small_city / SLUG / "petitions.parquet"))

    out = isolated_env / "out" / "disputes.parquet"
    result = _build(petitions_in_parts, out)
    assert result.exit_code == 0, result.output
    assert out.exists()
