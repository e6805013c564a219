"""`riskloop score` refuses in one line, writing nothing: an --output that is the --input, an
as_of that is missing or not a date (as the API takes dates), and a column named twice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from training.cli import app
from training.datasets import TrainingData

TASK = "dispute-escalation"


@pytest.fixture()
def dispute_champion(read_only_dispute_champion: Path) -> Path:
    """This module only scores with the version: a copy of the store it was registered in once."""
    return read_only_dispute_champion


@pytest.fixture()
def rows(city_data: dict[str, TrainingData]) -> pd.DataFrame:
    return city_data[TASK].frame.head(20).reset_index(drop=True)


def _refused(source: Path, output: Path) -> str:
    args = ["score", "--task", TASK, "--input", str(source), "--output", str(output)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_the_output_may_not_be_the_input(dispute_champion: Path, rows: pd.DataFrame) -> None:
    source = dispute_champion / "rows.parquet"
    rows.to_parquet(source)
    before = source.read_bytes()
    for same in (source, dispute_champion / "." / "rows.parquet"):
        assert "is the --input file" in _refused(source, same)
    assert source.read_bytes() == before


def test_the_output_may_not_be_a_built_dataset(dispute_champion: Path, rows: pd.DataFrame) -> None:
    """QA, 2026-12-07: `score --output data/datasets/dispute_escalation.parquet` replaced the
    dataset `run` trained on, its sidecar left naming columns the file no longer had."""
    from features.dataset import dataset_sidecar
    from training.raw_io import write_dataset

    source = dispute_champion / "rows.parquet"
    rows.to_parquet(source)
    dataset = write_dataset(rows, dataset_sidecar(rows, {}), dispute_champion / "built.parquet")
    before = dataset.read_bytes()
    said = _refused(source, dataset)
    assert "is a built dataset (built.json beside it describes it)" in said, said
    assert dataset.read_bytes() == before
    # a plain parquet file without a sidecar is an output like any other
    plain = dispute_champion / "scores.parquet"
    rows.head(1).to_parquet(plain)
    result = CliRunner().invoke(
        app, ["score", "--task", TASK, "--input", str(source), "--output", str(plain)]
    )
    assert result.exit_code == 0, (result.output, result.exception)


AS_OF_CASES = {
    "text that is no date": (
        lambda f: f.assign(as_of=["garbage", *f["as_of"].dt.strftime("%Y-%m-%d")[1:]]),
        "row 0: 'garbage'",
    ),
    "a day that does not exist": (
        lambda f: f.assign(as_of=[*f["as_of"].dt.strftime("%Y-%m-%d")[:-1], "2025-02-30"]),
        "row 19: '2025-02-30'",
    ),
    "every date missing": (lambda f: f.assign(as_of=pd.NaT), "20 of 20 row(s)"),
    "no as_of column": (lambda f: f.drop(columns="as_of"), "column as_of is missing"),
}


@pytest.mark.parametrize("case", list(AS_OF_CASES))
def test_as_of_must_be_a_date(dispute_champion: Path, rows: pd.DataFrame, case: str) -> None:
    change, expected = AS_OF_CASES[case]
    source = dispute_champion / "rows.parquet"
    change(rows).to_parquet(source)
    output = dispute_champion / "scored.parquet"

    line = _refused(source, output)

    assert "as_of" in line and expected in line, line
    assert not output.exists()


def test_iso_date_text_is_a_date(dispute_champion: Path, rows: pd.DataFrame) -> None:
    source = dispute_champion / "rows.parquet"
    rows.assign(as_of=rows["as_of"].dt.strftime("%Y-%m-%d")).to_parquet(source)
    output = dispute_champion / "scored.parquet"
    args = ["score", "--task", TASK, "--input", str(source), "--output", str(output)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        pd.read_parquet(output)["as_of"].tolist() == rows["as_of"].dt.strftime("%Y-%m-%d").tolist()
    )


def test_a_column_named_twice_is_named(dispute_champion: Path, rows: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(rows, preserve_index=False)
    twice = table.append_column("dispute_type", table.column("dispute_type"))
    source = dispute_champion / "twice.parquet"
    pq.write_table(twice, source)

    line = _refused(source, dispute_champion / "scored.parquet")

    assert "names column(s) more than once: dispute_type" in line, line
