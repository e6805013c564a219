"""`riskloop score` holds the API's input rules, keeps its output's shape for an empty input,
names the model version in the output, and takes the API's `top_k` range.

Rows come from the small city's dispute dataset; the champion is the session's fast
dispute-escalation model, registered in a fresh MLflow store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli import app
from training.datasets import TrainingData

TASK = "dispute-escalation"
ROWS = 40


@pytest.fixture()
def dispute_champion(read_only_dispute_champion: Path) -> Path:
    """This module only scores with the version: a copy of the store it was registered in once."""
    return read_only_dispute_champion


@pytest.fixture()
def rows(city_data: dict[str, TrainingData]) -> pd.DataFrame:
    """A few real dispute rows (with their label and audit columns: extra columns)."""
    return city_data[TASK].frame.head(ROWS).reset_index(drop=True)


def _score(folder: Path, frame: pd.DataFrame, output: str, *options: str) -> tuple[int, str, Path]:
    source = folder / "input.parquet"
    frame.to_parquet(source)
    out = folder / output
    args = ["score", "--task", TASK, "--input", str(source), "--output", str(out), *options]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stderr, out


def _with(frame: pd.DataFrame, column: str, positions: list[int], value: object) -> pd.DataFrame:
    values = frame[column].astype("object").copy()
    values.iloc[positions] = value
    return frame.assign(**{column: values})


BAD_INPUTS = {
    "unknown category": (
        lambda f: _with(f, "dispute_type", [3, 7], "alien_invasion"),
        ["dispute_type", "must be one of labour,", "2 of 40 row(s)", "row 3: 'alien_invasion'"],
    ),
    "negative amount": (
        lambda f: f.assign(dispute_amount=f["dispute_amount"].where(f.index != 5, -120.0)),
        ["dispute_amount", "must be between 0 and", "1 of 40 row(s)", "row 5: -120.0"],
    ),
    "count above the catalog's maximum": (
        lambda f: f.assign(n_parties=f["n_parties"].where(f.index != 0, 5000)),
        ["n_parties", "must be between 0 and 1000", "row 0: 5000"],
    ),
    "fraction in a count": (
        lambda f: f.assign(grid_visits=f["grid_visits"].astype("float64").where(f.index != 2, 1.5)),
        ["grid_visits", "must be a whole number", "row 2: 1.5"],
    ),
    "no entity ids": (
        lambda f: f.assign(entity_id=pd.Series([None] * len(f), dtype="object")),
        ["entity_id", "must be present", "40 of 40 row(s)", "row 0, row 1, row 2, ..."],
    ),
    "malformed entity id": (
        lambda f: _with(f, "entity_id", [4], "MD 0042 Zhang"),
        ["entity_id", "must be text of 1 to 128", "1 of 40 row(s)", "(row 4; "],
    ),
    "numbers stored as text": (
        lambda f: f.assign(n_parties=f["n_parties"].astype("str")),
        ["n_parties", "stored as text are refused", "40 of 40 row(s)", "row 0: '"],
    ),
    "text that is no number": (
        lambda f: _with(f.assign(n_parties=f["n_parties"].astype("str")), "n_parties", [1], "two"),
        ["n_parties", "must hold numbers", "row 1: 'two'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_rows_the_api_refuses_are_refused_in_one_line_and_nothing_is_written(
    dispute_champion: Path, rows: pd.DataFrame, case: str
) -> None:
    corrupt, expected = BAD_INPUTS[case]
    bad = corrupt(rows)
    code, stderr, out = _score(dispute_champion, bad, "scores.csv")
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for words in expected:
        assert words in lines[0], lines[0]
    assert "nothing scored or written" in lines[0]
    assert not out.exists()
    # entity ids are personal identifiers: a refusal names rows by position, never by id
    ids = bad["entity_id"].dropna().astype(str)
    assert not any(entity in stderr for entity in ids), stderr


def test_every_breaking_column_is_named_on_the_one_line(
    dispute_champion: Path, rows: pd.DataFrame
) -> None:
    bad = _with(rows, "dispute_type", [0], "alien_invasion").assign(dispute_amount=-1.0)
    code, stderr, _ = _score(dispute_champion, bad, "scores.csv")
    assert code == 2
    assert "column dispute_type" in stderr and "dispute_amount (40 row(s))" in stderr


def test_missing_values_and_unknown_columns_are_scored(
    dispute_champion: Path, rows: pd.DataFrame
) -> None:
    partial = _with(rows, "dispute_type", [0, 1], None).assign(
        dispute_amount=rows["dispute_amount"].where(rows.index > 3),
        n_parties=rows["n_parties"].astype("float64").where(rows.index != 2),
        is_high_risk_type=_with(rows, "is_high_risk_type", [5], None)["is_high_risk_type"],
        department_note="not a feature",
    )
    code, stderr, out = _score(dispute_champion, partial, "scores.parquet")
    assert code == 0, stderr
    scored = pd.read_parquet(out)
    assert len(scored) == ROWS and scored["score"].between(0, 1).all()
    assert scored["entity_id"].tolist() == rows["entity_id"].tolist()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_the_output_names_the_model_version_that_scored_it(
    dispute_champion: Path, rows: pd.DataFrame, suffix: str
) -> None:
    code, stderr, out = _score(dispute_champion, rows, f"scores{suffix}", "--alias", "challenger")
    assert code == 0, stderr
    scored = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert set(scored["model_name"]) == {"riskloop-dispute-escalation"}
    assert set(scored["model_version"]) == {1}
    assert set(scored["model_alias"]) == {"challenger"}


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_an_empty_input_writes_the_columns_a_full_one_writes(
    dispute_champion: Path, rows: pd.DataFrame, suffix: str
) -> None:
    code, stderr, full = _score(dispute_champion, rows, f"full{suffix}")
    assert code == 0, stderr
    code, stderr, empty = _score(dispute_champion, rows.iloc[:0], f"empty{suffix}")
    assert code == 0, stderr
    read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
    written, expected = read(empty), read(full)
    assert len(written) == 0
    assert list(written.columns) == list(expected.columns)
    assert {"score", "risk_level", "model_version"} <= set(written.columns)
    if suffix == ".parquet":
        assert written["score"].dtype == np.float64
        assert written["as_of"].dtype == expected["as_of"].dtype


def test_an_empty_input_without_a_models_column_names_it_and_writes_the_empty_file(
    dispute_champion: Path, rows: pd.DataFrame
) -> None:
    """An absent feature column is scored as missing (as the API takes a record without it),
    with or without rows, and said on stderr."""
    code, stderr, out = _score(dispute_champion, rows.iloc[:0].drop(columns="grid_visits"), "o.csv")
    assert code == 0 and "grid_visits" in stderr and out.exists()


def test_an_input_that_is_not_parquet_is_named_so(
    dispute_champion: Path, rows: pd.DataFrame
) -> None:
    """A CSV given as input was refused with pyarrow's 'Parquet magic bytes not found in
    footer'; the line now says the input must be Parquet and how to write one."""
    source = dispute_champion / "input.csv"
    rows.to_csv(source, index=False)
    out = dispute_champion / "o.csv"
    args = ["score", "--task", TASK, "--input", str(source), "--output", str(out)]
    result = CliRunner().invoke(app, args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert "is not a Parquet file" in lines[0] and "magic" not in lines[0]
    assert not out.exists()


def test_top_k_takes_the_apis_range(dispute_champion: Path, rows: pd.DataFrame) -> None:
    from serving.schemas import MAX_TOP_K

    code, stderr, out = _score(dispute_champion, rows, "scores.csv", "--top-k", str(MAX_TOP_K))
    assert code == 0, stderr
    assert f"reason_{MAX_TOP_K}_feature" in pd.read_csv(out).columns
    for refused in ("0", str(MAX_TOP_K + 1)):
        code, stderr, _ = _score(dispute_champion, rows, "other.csv", "--top-k", refused)
        assert code == 2 and "--top-k" in stderr


def test_the_entity_id_rule_is_the_apis() -> None:
    from pydantic import TypeAdapter

    from features.frame_checks import ENTITY_ID_MAX_CHARS, ENTITY_ID_PATTERN
    from serving.schemas import EntityId

    schema = TypeAdapter(EntityId).json_schema()
    assert (schema["pattern"], schema["maxLength"], schema["minLength"]) == (
        ENTITY_ID_PATTERN,
        ENTITY_ID_MAX_CHARS,
        1,
    )


# One value per kind of input a feature can meet, with the type a frame column holding it has.
PROBES: list[object] = [None, -1, 0, 1, 2, 1.5, 1e13, float("inf"), True, "labour", "2", "x"]


@pytest.mark.parametrize("probe", PROBES, ids=repr)
def test_offline_and_api_refuse_the_same_feature_values(probe: object) -> None:
    """Each catalog feature given `probe`: the offline check refuses exactly what the API's
    record model refuses, except where a parquet column cannot hold the API's type (a count
    or flag column with missing values is float: whole floats and 0/1 stay accepted)."""
    from pydantic import ValidationError

    from features.catalog import features
    from features.frame_checks import rule_breaches
    from serving.schemas import record_model

    record = record_model("dispute_escalation")
    for feature in features(TASK):
        column = pd.Series([probe], dtype="object" if probe is None else None)
        offline_refuses = bool(
            rule_breaches([feature], pd.DataFrame({"entity_id": ["MD1"], feature.name: column}))
        )
        try:
            record.model_validate({"entity_id": "MD1", feature.name: probe})
            api_refuses = False
        except ValidationError:
            api_refuses = True
        float_holds_it = isinstance(probe, int) and not isinstance(probe, bool)
        if feature.dtype == "bool" and float_holds_it and probe in (0, 1):
            assert not offline_refuses, (feature.name, probe)
        else:
            assert offline_refuses == api_refuses, (feature.name, probe, offline_refuses)
