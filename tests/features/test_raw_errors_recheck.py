"""QA re-check of raw-table refusals: a table held as a Parquet folder of parts beside a CSV
export, and a CSV column one bad value turns to text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from tests.cli_results import one_error_line
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

    one_error_line(result, "holds both petitions.parquet and petitions.csv: keep one")
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


def _disputes_csv(small_city: Path, tmp_path: Path, column: str, cells: dict[int, str]) -> Path:
    """A copy of the small city's dispute tables whose disputes table is a CSV export with
    `cells` (row position -> text) written into `column`."""
    raw = tmp_path / "raw"
    shutil.copytree(small_city / SLUG, raw / SLUG)
    path = raw / SLUG / "disputes.parquet"
    disputes = pd.read_parquet(path)
    values = disputes[column].astype(object).to_numpy(copy=True)
    for row, text in cells.items():
        values[row] = text
    disputes.assign(**{column: values}).to_csv(path.with_suffix(".csv"), index=False)
    path.unlink()
    return raw


@pytest.mark.parametrize(
    ("column", "cells", "expected"),
    [
        ("n_parties", {6: "three"}, "expected int64: values that are not whole numbers"),
        # other spellings pandas' CSV reader takes for true/false are not to blame
        (
            "group_flag",
            {6: "maybe", 2: "TRUE", 3: "False", 4: "tRuE"},
            "expected bool: values that are not true/false",
        ),
    ],
    ids=["int", "bool"],
)
def test_one_bad_value_in_a_csv_column_blames_its_row_only(
    isolated_env: Path, small_city: Path, tmp_path: Path, column: str, cells: dict, expected: str
) -> None:
    raw = _disputes_csv(small_city, tmp_path, column, cells)
    out = isolated_env / "out" / "disputes.parquet"

    line = one_error_line(
        _build(raw, out),
        f"{SLUG}/disputes",
        column,
        "wrong dtype str",
        expected,
        "in 1 of 4,000 rows (row 6; counted from 0)",
    )

    assert "three" not in line and "maybe" not in line
    assert not out.exists()


def test_the_boolean_spellings_counted_as_fitting_are_those_the_csv_reader_reads(
    small_city: Path, tmp_path: Path
) -> None:
    """`features.validation` counts text as true/false by `CSV_BOOLEANS`, ignoring case: the
    raw reader (`training.raw_io`) must read every such spelling as a boolean."""
    from features.validation import CSV_BOOLEANS

    spellings = [variant for word in CSV_BOOLEANS for variant in (word, word.upper(), word.title())]
    raw = _disputes_csv(small_city, tmp_path, "group_flag", dict(enumerate(spellings)))

    flags = load_raw_tables(raw, SLUG)["disputes"]["group_flag"]

    assert flags.dtype == bool
    assert flags.head(len(spellings)).tolist() == [CSV_BOOLEANS[word.lower()] for word in spellings]


@pytest.mark.parametrize("other", ["petitions.csv", "petitions.parquet"])
def test_the_dask_engine_refuses_a_bare_folder_of_parts_beside_another_copy(
    petitions_in_parts: Path, other: str
) -> None:
    """A `petitions/` folder of parts (the Dask engine reads it) beside a CSV export or a
    Parquet file of the same table: one of them would be read in silence."""
    folder = petitions_in_parts / SLUG
    (folder / "petitions.parquet").rename(folder / "petitions")
    frame = pd.read_parquet(folder / "petitions")
    if other.endswith(".csv"):
        frame.to_csv(folder / other, index=False)
    else:
        frame.to_parquet(folder / other, index=False)
    with pytest.raises(UserError, match=rf"holds both {other} and petitions/: keep one"):
        _table_path(petitions_in_parts, SLUG, "petitions")
    (folder / other).unlink()
    assert _table_path(petitions_in_parts, SLUG, "petitions") == folder / "petitions"
