"""What a QA re-check of the CLI found:

- `score --task wage-arrears --input <the disputes dataset>` said 29 feature columns were
  absent, then scored every row green (exit 0, a `score_offline` row): an input holding fewer
  than half of the task's feature columns is now refused in one line, naming the task whose
  columns it holds; a file lacking a few is still scored (8ed8cb8).
- `departments set-capacity` / `set-webhook` run outside the install folder reported success
  on a new empty store they created there; `keys list` there said "no keys". All three now
  refuse in one line and create nothing.
- `audit --warning W-6481df4c`, the short id the console shows, found no rows: a start of an
  id naming one warning (8+ hex digits, any case, `W-` optional) now reads as its full id.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from serving.store import WarningStore
from tests.serving.test_people_cli import _one_error_line, _run
from training.commands import cli_actor
from training.datasets import TrainingData

TASK = "dispute-escalation"


def _score(folder: Path, frame: pd.DataFrame) -> tuple[int, str, Path]:
    source = folder / "rows.parquet"
    frame.to_parquet(source)
    out = folder / "scores.parquet"
    code, _, err = _run("score", "--task", TASK, "--input", str(source), "--output", str(out))
    return code, err, out


def _offline_scorings() -> list[dict[str, object]]:
    with WarningStore.from_settings() as store:
        rows = store.audit_rows(actor=cli_actor())
    return [row for row in rows if row["action"] == "score_offline"]


def test_another_tasks_dataset_is_refused_naming_its_task(
    dispute_champion: Path, city_data: dict[str, TrainingData]
) -> None:
    wage_rows = city_data["wage-arrears"].frame.head(30)

    code, err, out = _score(dispute_champion, wage_rows)

    _one_error_line(
        code,
        err,
        "holds 0 of dispute-escalation's 18 feature columns, fewer than half",
        "(it holds 29 of wage-arrears's 29: --task wage-arrears?)",
        "nothing scored or written",
    )
    assert code == 2 and not out.exists()
    assert _offline_scorings() == []


def test_fewer_than_half_the_columns_is_refused_half_is_scored(
    dispute_champion: Path, city_data: dict[str, TrainingData]
) -> None:
    from models.spec import get_spec

    rows = city_data[TASK].frame.head(20).reset_index(drop=True)
    names = list(get_spec(TASK).feature_names)

    code, err, out = _score(dispute_champion, rows.drop(columns=names[:10]))
    _one_error_line(code, err, "holds 8 of dispute-escalation's 18 feature columns")
    assert "--task" not in err and not out.exists()

    code, err, out = _score(dispute_champion, rows.drop(columns=names[:9]))
    assert code == 0, err
    assert err.startswith("note: ") and "lacks 9 feature column(s)" in err
    assert len(pd.read_parquet(out)) == len(rows)
    assert len(_offline_scorings()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("departments", "set-capacity", "labour_inspection", "5"),
        ("departments", "set-webhook", "labour_inspection", "http://127.0.0.1:9/hook"),
    ],
    ids=lambda args: args[1],
)
def test_setting_a_department_refuses_a_missing_store(
    isolated_env: Path, args: tuple[str, ...]
) -> None:
    before = sorted(p.name for p in isolated_env.iterdir())
    secret_file = isolated_env / "hook-secret"
    extra = ("--secret-file", str(secret_file)) if args[1] == "set-webhook" else ()

    code, _, err = _run(*args, *extra)

    _one_error_line(code, err, "no warnings store at", str(isolated_env / "riskloop.db"))
    assert code == 2
    assert sorted(p.name for p in isolated_env.iterdir()) == before  # no store, no secrets


def test_keys_list_refuses_a_missing_keys_file_and_create_still_makes_it(
    isolated_env: Path,
) -> None:
    keys = isolated_env / "keys.json"

    code, out, err = _run("keys", "list")

    _one_error_line(code, err, f"no keys file at {keys}", "RISKLOOP_KEYS_FILE", "keys create")
    assert code == 2 and out == "" and not keys.exists()
    assert _run("keys", "create", "scorer", "--scopes", "score")[0] == 0
    code, out, _ = _run("keys", "list")
    assert code == 0 and out.startswith("scorer\t"), out


def _raise_warning(store: WarningStore, entity: str) -> str:
    (warning_id,) = store.record_scores(
        actor="system:screen",
        task="wage-arrears",
        model_name="riskloop-wage-arrears",
        model_version="1",
        results=[
            {
                "entity_id": entity,
                "score": 0.9,
                "risk_level": "red",
                "reasons": [],
                "actions": [],
                "features": {"x": 1},
            }
        ],
    )
    assert warning_id is not None
    return warning_id


def test_audit_reads_a_warning_by_the_start_of_its_id(isolated_env: Path) -> None:
    with WarningStore.from_settings() as store:
        warning_id = _raise_warning(store, "employer-1")
        other = _raise_warning(store, "employer-2")
    short = warning_id[:10]
    code, whole, _ = _run("audit", "--warning", warning_id)
    assert code == 0 and whole

    for named in (short, short.upper(), warning_id[2:10], warning_id.upper()):
        code, out, err = _run("audit", "--warning", named)
        assert code == 0, err
        assert err.strip() == f"{named} is warning {warning_id}", err
        lines = out.splitlines()
        assert lines[: len(whole.splitlines())] == whole.splitlines()
        assert warning_id in lines[0] and other not in out

    # a start shared by two warnings is refused: a copy of the first in a month long past,
    # its id sharing the first's 8 digits
    twin = short + "0" * 24
    with sqlite3.connect(isolated_env / "riskloop.db") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(warnings)")]
        chosen = {"id": "?", "period": "'1990-01-01'"}
        db.execute(
            f"INSERT INTO warnings ({', '.join(columns)}) "
            f"SELECT {', '.join(chosen.get(c, c) for c in columns)} FROM warnings WHERE id = ?",
            (twin, warning_id),
        )
    code, _, err = _run("audit", "--warning", short)
    _one_error_line(code, err, f"more than one warning's id begins with {short}", "32 hex")
    # a start naming none says what a full id is; one too short to name one says so (e1cebca)
    code, _, err = _run("audit", "--warning", "W-00000000")
    _one_error_line(code, err, "no audit rows mention W-00000000", "'W-' and 32 hex digits")
    code, _, err = _run("audit", "--warning", warning_id[:9])
    _one_error_line(code, err, "too short", "'W-' and 32 hex digits")
