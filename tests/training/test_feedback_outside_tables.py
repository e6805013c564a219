"""A closed warning the tables cannot rebuild (scored from raw records, after the tables' last
date) is left out of `--with-feedback`, with one line saying so, instead of stopping the build.

The service scores raw `records` with today's date as the as-of date, later than any date a
city's tables can score: such a warning's features cannot be rebuilt from the tables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from serving.store import WarningStore

TASK = "wage-arrears"
SECRET = "feedback-secret"
AFTER_THE_TABLES = date(2026, 12, 4)  # the small city's wage-arrears tables end on 2026-01-01
LEFT_OUT_LINE = (
    "feedback: left out 2 closed warnings whose features cannot be rebuilt from these tables "
    f"({AFTER_THE_TABLES} is outside the tables: {TASK} can be scored from 2024-01-01 to "
    "2026-01-01)"
)


def _record(entity_id: str, as_of: date) -> dict[str, object]:
    return {
        "entity_id": entity_id,
        "score": 0.6,
        "risk_level": "orange",
        "reasons": [],
        "actions": [],
        "features": {"x": 1},
        "as_of": as_of,
    }


def _close_warnings(url: str, secret: str, plan: list[tuple[str, date, str]]) -> None:
    """Raise one warning per (entity, as-of, outcome) in the real store and close it so."""
    with WarningStore(url, secret) as store:
        ids = store.record_scores(
            actor="scorer",
            task=TASK,
            model_name="m",
            model_version="1",
            results=[_record(entity, as_of) for entity, as_of, _ in plan],
        )
        for warning_id, (_, _, outcome) in zip(ids, plan, strict=True):
            assert warning_id is not None
            store.add_feedback(
                warning_id,
                actor="clerk",
                status="closed",
                department=None,
                outcome=outcome,
                note=None,
            )


def _plan(small_city: Path) -> list[tuple[str, date, str]]:
    """Two warnings scored after the tables (a city employer and an id the city lacks, as in
    the QA run's `EMP-1`) and one on the tables' last date, which can be rebuilt. All close as
    false alarms, the outcome a warning may take without being dispatched first."""
    from features.dataset import build_dataset
    from training.raw_io import load_raw_tables

    scoring = build_dataset(TASK, load_raw_tables(small_city, TASK), unlabelled=True)
    late, fresh = (str(v) for v in scoring["entity_id"].iloc[:2])
    return [
        (late, AFTER_THE_TABLES, "false_alarm"),
        ("EMP-1", AFTER_THE_TABLES, "false_alarm"),
        (fresh, date(2026, 1, 1), "false_alarm"),
    ]


def test_apply_feedback_leaves_out_warnings_after_the_tables_and_says_so(
    tmp_path: Path, small_city: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from features.dataset import build_dataset
    from training.feedback import apply_feedback
    from training.raw_io import load_raw_tables

    tables = load_raw_tables(small_city, TASK)
    dataset = build_dataset(TASK, tables)
    plan = _plan(small_city)
    a_month_later = (str(dataset["entity_id"].iloc[0]), date(2027, 1, 4), "false_alarm")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _close_warnings(url, SECRET, [*plan, a_month_later])
    capsys.readouterr()

    merged, summary = apply_feedback(TASK, dataset, tables, url, SECRET)

    assert (summary.closed_warnings, summary.matched, summary.added) == (4, 0, 1)
    added = merged.iloc[len(dataset) :]
    assert added["entity_id"].tolist() == [plan[2][0]]
    assert added["as_of"].tolist() == [pd.Timestamp("2026-01-01")]
    feedback_columns = ["audit_feedback_outcome", "label_before_feedback"]
    assert merged.iloc[: len(dataset)].drop(columns=feedback_columns).equals(dataset)
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "feedback: left out 3 closed warnings whose features cannot be rebuilt from these "
        f"tables ({AFTER_THE_TABLES} is outside the tables: {TASK} can be scored from "
        "2024-01-01 to 2026-01-01; so is 1 other as-of date)"
    ]


def test_train_with_feedback_after_an_api_scored_warning(
    isolated_env: Path, small_city: Path
) -> None:
    """The QA run's steps, as a user runs them: `riskloop build-dataset --with-feedback` and
    `riskloop train --with-feedback` in a process of their own, on the real store and MLflow."""
    from models.secret_keys import load_secrets
    from models.settings import get_settings

    settings = get_settings()
    _close_warnings(settings.store_url, load_secrets(settings).pseudonym_secret, _plan(small_city))
    env = {
        **os.environ,
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    riskloop = str(Path(sys.executable).with_name("riskloop"))
    out = isolated_env / "wage.parquet"
    common = ["--task", TASK, "--raw", str(small_city), "--with-feedback"]
    built = subprocess.run(
        [riskloop, "build-dataset", *common, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=isolated_env,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    assert "Traceback" not in built.stderr
    assert LEFT_OUT_LINE in built.stderr.splitlines()
    assert "feedback: 3 closed warnings -> 1 labels (0 changed, 1 rows added)" in built.stdout
    assert (pd.read_parquet(out)["audit_feedback_outcome"] != "").sum() == 1

    trained = subprocess.run(
        [riskloop, "train", *common, "--max-rounds", "20"],
        capture_output=True,
        text=True,
        env=env,
        cwd=isolated_env,
        timeout=900,
    )
    assert trained.returncode == 0, trained.stderr
    assert "Traceback" not in trained.stderr
    assert LEFT_OUT_LINE in trained.stderr.splitlines()
    assert "feedback: 1 labels from closed warnings (0 changed, 1 added)" in trained.stdout
