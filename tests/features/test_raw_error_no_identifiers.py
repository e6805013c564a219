"""A raw-table refusal is one line that names the rows at fault and shows none of their values.

The documented cron line appends stderr to a log file: a resident's identity number or birth
year printed there is personal data leaked into a log. The department finds the rows by their
positions instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.validation import RawDataError, validate_table
from training.cli import app

SLUG = "telecom_fraud"
BAD_ROWS = [1, 7]


@pytest.fixture()
def residents_csv(small_city: Path, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A copy of the small city's fraud tables whose residents table is a CSV export with
    `n/a` in `birth_year` on rows 1 and 7 (pandas reads them as NaN: the column turns float)."""
    raw = tmp_path / "raw"
    shutil.copytree(small_city / SLUG, raw / SLUG)
    path = raw / SLUG / "residents.parquet"
    residents = pd.read_parquet(path)
    years = residents["birth_year"].astype(object).to_numpy(copy=True)
    years[BAD_ROWS] = "n/a"
    residents.assign(birth_year=years).to_csv(path.with_suffix(".csv"), index=False)
    path.unlink()
    return raw, residents


def _cell_texts(frame: pd.DataFrame) -> set[str]:
    """Every cell of the first rows as text, as a printed table or repr would show it."""
    head = frame.head(10)
    texts = {str(value) for value in head.to_numpy().ravel()}
    texts |= {str(float(value)) for value in head["birth_year"]}
    return {text for text in texts if len(text) >= 4}


def test_build_dataset_names_the_rows_at_fault_on_one_line_without_values(
    residents_csv: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    raw, residents = residents_csv
    out = tmp_path / "d.parquet"
    result = CliRunner().invoke(
        app, ["build-dataset", "--task", "telecom-fraud", "--raw", str(raw), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    error = result.stderr.strip()
    assert error.startswith("error: ") and "\n" not in error, error
    assert "telecom_fraud/residents" in error and "birth_year" in error
    assert "not whole numbers or are missing" in error
    assert f"of {len(residents):,}" in error and "(rows 1, 7; counted from 0)" in error, error
    assert "offending rows" not in error and "np.float64" not in error
    leaked = sorted(text for text in _cell_texts(residents) if text in error)
    assert leaked == [], f"cell values printed: {leaked}"
    assert not out.exists()


def test_the_error_keeps_the_positions_for_callers(
    residents_csv: tuple[Path, pd.DataFrame],
) -> None:
    raw, residents = residents_csv
    frame = pd.read_csv(raw / SLUG / "residents.csv")
    with pytest.raises(RawDataError) as caught:
        validate_table(SLUG, "residents", frame)
    error = caught.value
    assert (error.table, error.column) == (f"{SLUG}/residents", "birth_year")
    assert error.positions == tuple(BAD_ROWS)
    assert (error.count, error.total) == (len(BAD_ROWS), len(residents))
