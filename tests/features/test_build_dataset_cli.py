"""`riskloop build-dataset`: a dataset and sidecar on good input; one clear error and no file on bad."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.catalog import AUDIT_COLUMNS, CATALOG_VERSION, feature_names
from training.cli import app

TASK = "dispute-escalation"
SLUG = "dispute_escalation"


@pytest.fixture()
def raw_copy(small_city: Path, tmp_path: Path) -> Path:
    """A writable copy of the small city's dispute tables (the fastest task)."""
    out = tmp_path / "raw"
    shutil.copytree(small_city / SLUG, out / SLUG)
    return out


def _run(*args: str):
    return CliRunner().invoke(app, ["build-dataset", *args])


def test_builds_a_labelled_dataset_and_sidecar(small_city: Path, tmp_path: Path) -> None:
    out = tmp_path / "data" / "disputes.parquet"
    result = _run("--task", TASK, "--raw", str(small_city), "--out", str(out))
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert list(frame.columns) == [
        "entity_id",
        "as_of",
        "label",
        *feature_names(SLUG),
        *AUDIT_COLUMNS[SLUG],
    ]
    assert frame["as_of"].dtype == "datetime64[ns]" and frame["label"].dtype == "int8"
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["rows"] == len(frame)
    assert sidecar["positive_rate"] == pytest.approx(frame["label"].mean())
    assert sidecar["catalog_version"] == CATALOG_VERSION
    assert sidecar["as_of_min"] == frame["as_of"].min().isoformat()
    assert len(sidecar["input_fingerprint"]) == 64
    assert sorted(p.name for p in out.parent.iterdir()) == ["disputes.json", "disputes.parquet"]
    # each row holds a unit's raw id: owner-only, as `riskloop score`'s output
    assert out.stat().st_mode & 0o777 == out.with_suffix(".json").stat().st_mode & 0o777 == 0o600


def test_the_fingerprint_follows_the_inputs(raw_copy: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert _run("--task", TASK, "--raw", str(raw_copy), "--out", str(first)).exit_code == 0
    path = raw_copy / SLUG / "grid_visits.parquet"
    visits = pd.read_parquet(path)
    visits.assign(visit_duration_min=visits["visit_duration_min"] + 1).to_parquet(path)
    assert _run("--task", TASK, "--raw", str(raw_copy), "--out", str(second)).exit_code == 0
    fingerprint = [
        json.loads(p.with_suffix(".json").read_text())["input_fingerprint"] for p in (first, second)
    ]
    assert fingerprint[0] != fingerprint[1]


def test_unlabelled_scoring_set_at_a_given_date(small_city: Path, tmp_path: Path) -> None:
    out = tmp_path / "score.parquet"
    result = _run(
        "--task",
        TASK,
        "--raw",
        str(small_city),
        "--out",
        str(out),
        "--unlabelled",
        "--as-of",
        "2025-06-01",
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert "label" not in frame.columns and len(frame) > 0
    assert (frame["as_of"] == pd.Timestamp("2025-06-01")).all()


def _drop_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["outcome"])


def _wrong_dtype(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(outcome=range(len(frame)))


def _duplicate_key(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[3]]], ignore_index=True)


def _available_before_event(frame: pd.DataFrame) -> pd.DataFrame:
    available = frame["available_at"].copy()
    available.iloc[5] = frame["event_time"].iloc[5] - pd.Timedelta(days=2)
    return frame.assign(available_at=available)


BREAKAGES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], str, str]] = {
    "missing column": (_drop_column, "outcome", "missing column"),
    "wrong dtype": (_wrong_dtype, "outcome", "wrong dtype"),
    "duplicate key": (_duplicate_key, "session_id", "duplicate key"),
    "available_at before event_time": (
        _available_before_event,
        "available_at",
        "before event_time",
    ),
}


@pytest.mark.parametrize("case", list(BREAKAGES))
def test_bad_parquet_input_fails_cleanly(raw_copy: Path, tmp_path: Path, case: str) -> None:
    breakage, column, problem = BREAKAGES[case]
    path = raw_copy / SLUG / "mediation_sessions.parquet"
    breakage(pd.read_parquet(path)).to_parquet(path)
    out = tmp_path / "out" / "d.parquet"
    result = _run("--task", TASK, "--raw", str(raw_copy), "--out", str(out))
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
    assert "dispute_escalation/mediation_sessions" in result.output
    assert column in result.output and problem in result.output
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_unparseable_date_in_a_csv_export_fails_cleanly(raw_copy: Path, tmp_path: Path) -> None:
    path = raw_copy / SLUG / "grid_visits.parquet"
    visits = pd.read_parquet(path)
    text = visits["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object)
    text[7] = "2025-13-45 25:00"
    visits.assign(event_time=text).to_csv(path.with_suffix(".csv"), index=False)
    path.unlink()
    out = tmp_path / "d.parquet"
    result = _run("--task", TASK, "--raw", str(raw_copy), "--out", str(out))
    assert result.exit_code == 2
    assert "grid_visits" in result.output and "event_time" in result.output
    assert "(row 7; counted from 0)" in result.output
    assert "2025-13-45" not in result.output
    assert not out.exists()


def test_a_valid_csv_export_builds(raw_copy: Path, tmp_path: Path) -> None:
    path = raw_copy / SLUG / "petitions.parquet"
    pd.read_parquet(path).to_csv(path.with_suffix(".csv"), index=False)
    path.unlink()
    out = tmp_path / "d.parquet"
    result = _run("--task", TASK, "--raw", str(raw_copy), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.exists()


@pytest.mark.parametrize("problem", ["no folder", "no task folder", "no table", "unreadable"])
def test_missing_or_unreadable_input_fails_cleanly(
    raw_copy: Path, tmp_path: Path, problem: str
) -> None:
    raw = raw_copy
    if problem == "no folder":
        raw = tmp_path / "nowhere"
    elif problem == "no task folder":
        shutil.rmtree(raw_copy / SLUG)
    elif problem == "no table":
        (raw_copy / SLUG / "petitions.parquet").unlink()
    else:
        (raw_copy / SLUG / "petitions.parquet").write_bytes(b"not parquet")
    out = tmp_path / "d.parquet"
    result = _run("--task", TASK, "--raw", str(raw), "--out", str(out))
    assert result.exit_code == 2
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert not out.exists()


def test_as_of_needs_unlabelled(small_city: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.parquet"
    result = _run(
        "--task", TASK, "--raw", str(small_city), "--out", str(out), "--as-of", "2025-06-01"
    )
    assert result.exit_code == 2 and "--unlabelled" in result.output
    assert not out.exists()


def test_unknown_task_is_refused(small_city: Path, tmp_path: Path) -> None:
    result = _run(
        "--task", "tax-evasion", "--raw", str(small_city), "--out", str(tmp_path / "d.parquet")
    )
    assert result.exit_code != 0


@pytest.mark.parametrize(
    "text", ["yesterday", "", "2025-12", "2026-01-01T00:00", "20260101", "2026-W01-1", "2026-02-30"]
)
def test_a_bad_as_of_date_is_refused(small_city: Path, tmp_path: Path, text: str) -> None:
    out = tmp_path / "d.parquet"
    result = _run(
        "--task", TASK, "--raw", str(small_city), "--out", str(out), "--unlabelled", "--as-of", text
    )
    assert result.exit_code == 2 and "not a date" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "needle"),
    [("d.json", "sidecar would overwrite it"), ("d.csv", "datasets are written as Parquet")],
)
def test_an_out_path_its_own_sidecar_would_overwrite_or_of_another_format_is_refused(
    small_city: Path, tmp_path: Path, name: str, needle: str
) -> None:
    out = tmp_path / name
    result = _run("--task", TASK, "--raw", str(small_city), "--out", str(out))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert not out.exists()


@pytest.mark.parametrize("text", ["1990-01-01", "2099-01-01"])
def test_an_as_of_date_outside_the_tables_is_refused(
    small_city: Path, tmp_path: Path, text: str
) -> None:
    """Not an empty file (1990) or features of a date the tables never reach (2099)."""
    out = tmp_path / "d.parquet"
    result = _run(
        "--task", TASK, "--raw", str(small_city), "--out", str(out), "--unlabelled", "--as-of", text
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is outside the tables" in lines[0], result.stderr
    assert f"{TASK} can be scored from" in lines[0]
    assert not out.exists()


def test_tables_that_give_no_rows_leave_an_earlier_dataset_alone(
    small_city: Path, tmp_path: Path
) -> None:
    """An export whose employer registry came empty builds nothing and keeps the old file."""
    raw = tmp_path / "raw"
    shutil.copytree(small_city / "wage_arrears", raw / "wage_arrears")
    out = tmp_path / "d.parquet"
    task = ("--task", "wage-arrears", "--raw", str(raw), "--out", str(out))
    assert _run(*task).exit_code == 0
    before = out.read_bytes()
    employers = raw / "wage_arrears" / "employers.parquet"
    pd.read_parquet(employers).head(0).to_parquet(employers)
    result = _run(*task)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "gives no wage-arrears rows" in lines[0], result.stderr
    assert out.read_bytes() == before


@pytest.mark.parametrize("unlabelled", [False, True])
def test_an_empty_dispute_registry_is_one_line_not_a_crash(
    raw_copy: Path, tmp_path: Path, unlabelled: bool
) -> None:
    """Visits of disputes the registry lacks (here: all of them) are looked up safely."""
    disputes = raw_copy / SLUG / "disputes.parquet"
    pd.read_parquet(disputes).head(0).to_parquet(disputes)
    out = tmp_path / "d.parquet"
    args = ["--task", TASK, "--raw", str(raw_copy), "--out", str(out)]
    result = _run(*args, *(["--unlabelled"] if unlabelled else []))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "gives no dispute-escalation rows" in lines[0], result.stderr
    assert not out.exists()
