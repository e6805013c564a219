"""`riskloop screen` on the small city with the session's champions, against a real store, a real
MLflow registry and a real service; plus the CLI's refusals of bad input.

The store and the service are the screening modules' (tests/serving/loop/conftest.py): this
module writes wage-arrears' warnings only (its owner's capacity counts its dispute-escalation
warnings too, which no module there writes), and dry-runs the other tasks."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from models.settings import get_settings
from models.spec import get_spec
from serving.store import WarningStore
from serving.store.models import (
    AuditEntry,
    DepartmentWebhook,
    OutboxEvent,
    RiskWarning,
    WarningEvent,
)
from tests.processes import LOOPBACK_TLS
from tests.serving.loop.conftest import LoopEnv, LoopService
from training.cli import app
from training.raw_io import load_raw_tables

TASK = "wage-arrears"
WARNED = ("red", "orange", "yellow")


def _cli(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result.stdout


def _fails(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]


def _store() -> WarningStore:
    return WarningStore.from_settings(get_settings())


def _row_counts(store: WarningStore) -> dict[str, int]:
    with store.read_session() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (RiskWarning, WarningEvent, AuditEntry, OutboxEvent, DepartmentWebhook)
        }


@pytest.fixture(scope="module")
def scored_population(
    screening_env: LoopEnv, small_city: Path, tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    """`riskloop score` on the same scoring set the screen builds (the independent count)."""
    from training.commands.service import build_scoring_set

    folder = tmp_path_factory.mktemp("score")
    build_scoring_set(TASK, small_city).to_parquet(folder / "set.parquet")
    _cli(["store", "upgrade"])  # score refuses a store that is not there (it audits into it)
    _cli(
        [
            "score",
            "--task",
            TASK,
            "--input",
            str(folder / "set.parquet"),
            "--output",
            str(folder / "scored.parquet"),
        ]
    )
    return pd.read_parquet(folder / "scored.parquet")


def test_screen_raises_one_warning_per_warned_row_then_nothing_on_a_second_run(
    screening_env: LoopEnv, small_city: Path, scored_population: pd.DataFrame
) -> None:
    with _store() as store, store.engine.begin() as connection:  # the owner's monthly capacity
        connection.execute(text("UPDATE departments SET capacity = 1 WHERE code = 'county_centre'"))
    out = _cli(["screen", "--task", TASK, "--raw", str(small_city)])
    expected = Counter(scored_population["risk_level"])
    rows = len(scored_population)
    for capacity in get_spec(TASK).capacities:  # a note exactly for each level over its share
        over = expected[capacity.level] > int(capacity.share * rows)
        assert (f"capacity: {capacity.level}: {expected[capacity.level]} warnings" in out) == over
    warned_rows = scored_population[scored_population["risk_level"].isin(WARNED)]
    assert len(warned_rows) > 0
    # the task's owner holds every new case until it is dispatched (as the dashboard counts)
    held = len(warned_rows)
    assert f"capacity: county_centre holds {held} warnings raised in" in out
    assert f"over its capacity of 1 by {held - 1}" in out
    assert f"raised {len(warned_rows)}, updated 0, unchanged 0" in out
    with _store() as store:
        frame = store.warnings_frame(task=TASK)
        assert Counter(frame["risk_level"]) == {level: expected[level] for level in WARNED}
        assert set(frame["entity_hash"]) == {
            store.pseudonymise(e) for e in warned_rows["entity_id"]
        }
        assert frame["entity_hash"].is_unique
        first = _row_counts(store)
        sample = store.get_warning(frame["id"].iloc[0])
        assert [(e["event"], e["actor"]) for e in sample["history"]] == [
            ("raised", "system:screen")
        ]
        assert sample["due_at"] is not None
        # each warning keeps its employer's district, as the raw registry has it
        with store.engine.connect() as connection:
            kept = dict(
                connection.execute(
                    select(RiskWarning.entity_hash, RiskWarning.district).where(
                        RiskWarning.task == TASK
                    )
                ).all()
            )
    employers = load_raw_tables(small_city, TASK)["employers"]
    registry = dict(zip(employers["employer_id"].astype(str), employers["district"], strict=True))
    with _store() as store:
        assert kept == {store.pseudonymise(e): registry[str(e)] for e in warned_rows["entity_id"]}
        # and each scored record, warned or not, its own (monitoring's units by district)
        records = store.scored_records(task=TASK)
        districts = {store.pseudonymise(e): d for e, d in registry.items()}
    assert len(records) > len(warned_rows)
    assert records["district"].tolist() == [districts[h] for h in records["entity_hash"]]
    again = _cli(["screen", "--task", TASK, "--raw", str(small_city)])
    assert f"raised 0, updated 0, unchanged {len(warned_rows)}" in again
    with _store() as store:
        second = _row_counts(store)
    assert second["warnings"] == first["warnings"]
    assert second["warning_history"] == first["warning_history"]  # unchanged scores: no event

    from training.tracking import configure_tracking, tracking_client

    configure_tracking()
    runs = tracking_client().search_runs(
        experiment_ids=[e.experiment_id for e in tracking_client().search_experiments()],
        filter_string="tags.`riskloop.kind` = 'screen'",
    )
    runs = [r for r in runs if r.data.tags["riskloop.task"] == TASK]
    assert len(runs) >= 2
    for run in runs[:2]:
        for level in ("red", "orange", "yellow", "green"):
            assert run.data.metrics[f"n_{level}"] == expected[level]
        assert len(run.data.tags["riskloop.input_fingerprint"]) == 64
        assert run.data.tags["riskloop.model_version"] == run.data.params["model_version"]
    assert runs[0].data.metrics["n_explained"] == len(warned_rows)


def test_the_api_shows_screened_warnings_with_the_reasons_its_own_score_gives(
    screening_env: LoopEnv, screening_service: LoopService, scored_population: pd.DataFrame
) -> None:
    client = httpx.Client(
        base_url=screening_service.url,
        headers=screening_service.headers(),
        timeout=60,
        verify=LOOPBACK_TLS,
    )
    listing = client.get("/v1/warnings", params={"task": TASK, "page_size": 500}).json()
    warned = scored_population[scored_population["risk_level"].isin(WARNED)]
    assert listing["total"] == len(warned)
    with _store() as store:
        by_hash = {store.pseudonymise(e): e for e in scored_population["entity_id"]}
    checked = 0
    for item in sorted(listing["items"], key=lambda w: -w["score"])[:5]:
        raw_id = by_hash[item["entity"]]
        response = client.post(f"/v1/{TASK}/score", json={"entity_ids": [raw_id]})
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert result["warning_id"] == item["id"]
        assert result["risk_level"] == item["risk_level"]
        assert result["score"] == pytest.approx(item["score"], abs=1e-12)
        assert [r["feature"] for r in result["reasons"]] == [r["feature"] for r in item["reasons"]]
        assert [r["sentence"] for r in result["reasons"]] == [
            r["sentence"] for r in item["reasons"]
        ]
        for mine, theirs in zip(result["reasons"], item["reasons"], strict=True):
            assert mine["contribution"] == pytest.approx(theirs["contribution"], abs=1e-12)
        assert result["actions"] == item["actions"]
        checked += 1
    assert checked == 5


def test_dry_run_lists_what_it_would_raise_and_writes_nothing(
    screening_env: LoopEnv, small_city: Path
) -> None:
    with _store() as store:
        before = _row_counts(store)
    # dispute-escalation: a task no module sharing the store screens, so some would be raised
    out = _cli(["screen", "--task", "dispute-escalation", "--raw", str(small_city), "--dry-run"])
    with _store() as store:
        assert _row_counts(store) == before
    assert "dry run: would raise" in out and "nothing was written" in out
    would = int(out.split("dry run: would raise ")[1].split()[0])
    assert would > 0
    # each one it would raise is listed, or counted: the highest 20, then how many more
    listed = [line for line in out.splitlines() if re.match(r"  [a-z]+ +[01]\.\d{3} ", line)]
    assert len(listed) == min(would, 20)
    if would > 20:
        assert f"... and {would - 20} more" in out


def test_an_earlier_month_than_the_newest_screened_needs_backfill(
    screening_env: LoopEnv, small_city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A screening of an earlier month would open its warnings as new cases beside the newer
    month's: refused (in one line, before anything is written) unless asked for by --backfill,
    a dry run too; the same month again and a later month are not backfills."""
    monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{tmp_path / 'backfill.db'}")
    get_settings.cache_clear()
    task = "telecom-fraud"
    try:
        _cli(["store", "upgrade"])  # screen refuses a store that is not there
        _cli(["screen", "--task", task, "--raw", str(small_city)])
        with _store() as store:
            newest = store.warnings_frame(task=task)["as_of"].max().date()
        earlier = (newest.replace(day=1) - timedelta(days=1)).replace(day=1)
        args = ["screen", "--task", task, "--raw", str(small_city), "--as-of", str(earlier)]
        with _store() as store:
            before = _row_counts(store)
        _fails(
            args,
            f"{task} was already screened for {newest:%Y-%m}, after {earlier:%Y-%m}",
        )
        _fails([*args, "--dry-run"], "add --backfill to do so")
        _cli([*args, "--dry-run", "--backfill"])
        with _store() as store:
            assert _row_counts(store) == before
        assert "raised 0," in _cli(["screen", "--task", task, "--raw", str(small_city)])
        backfilled = _cli([*args, "--backfill"])
        assert int(re.search(r"raised (\d+),", backfilled).group(1)) > 0
        with _store() as store:
            months = set(store.warnings_frame(task=task)["as_of"].dt.strftime("%Y-%m"))
        assert months == {f"{earlier:%Y-%m}", f"{newest:%Y-%m}"}
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["screen", "--task", TASK, "--as-of", "2019-01-01"], "outside the tables"),
        (["screen", "--task", TASK, "--as-of", "2031-05-01"], "outside the tables"),
        (["screen", "--task", TASK, "--as-of", "first of May"], "not a date"),
        (["screen", "--task", TASK, "--as-of", "2025-12"], "not a date"),  # a month: which day?
        (["screen", "--task", "parking-fines"], "unknown task"),
        (["screen", "--task", TASK, "--raw", __file__], "is a file, not a folder"),
        (
            [
                "departments",
                "set-webhook",
                "ministry_of_magic",
                "https://x.example/h",
                "--secret-file",
                "s.txt",
            ],
            "unknown department",
        ),
        (["departments", "ping", "tax"], "department tax has no webhook"),
        (
            ["departments", "set-webhook", "tax", "ftp://x.example/h", "--secret-file", "s.txt"],
            "not an http(s) URL",
        ),
        (["notify", "--once", "--dead"], "exactly one of"),
        (["overdue", "--department", "ministry_of_magic"], "unknown department"),
        (["overdue", "--task", "parking-fines"], "unknown task"),
        (["notify", "--requeue", "--event", "E-missing"], "no notification E-missing"),
        (["departments", "set-capacity", "tax", "-5"], "'-5' is not a whole number"),
        (["notify", "--dead", "--event", "E-missing"], "--event goes with --requeue"),
    ],
)
def test_bad_input_gives_one_line_and_writes_nothing(
    screening_env: LoopEnv,
    small_city: Path,
    args: list[str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    if args[0] == "screen" and "--raw" not in args:
        args = [*args, "--raw", str(small_city)]
    with _store() as store:
        before = _row_counts(store)
    _fails(args, expected)
    with _store() as store:
        assert _row_counts(store) == before
    assert not (tmp_path / "s.txt").exists()


def test_screening_a_task_without_a_champion_is_refused(
    screening_env: LoopEnv,
    small_city: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    empty_mlflow_store: Path,
) -> None:
    registry = tmp_path / "registry" / "empty-mlruns.db"
    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", f"sqlite:///{registry}")
    get_settings.cache_clear()
    try:
        with _store() as store:
            before = _row_counts(store)
        # a registry that is not there (a typo in the setting) is named, and not created
        _fails(["screen", "--task", TASK, "--raw", str(small_city)], "no MLflow registry at")
        assert not registry.parent.exists()
        registry.parent.mkdir()
        shutil.copyfile(empty_mlflow_store, registry)
        _fails(["screen", "--task", TASK, "--raw", str(small_city)], "no 'champion' model")
        with _store() as store:
            assert _row_counts(store) == before
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_production_requires_https_webhooks_and_never_prints_the_secret(
    screening_env: LoopEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_ENV", "production")
    monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", "a-private-production-secret-for-tests")
    get_settings.cache_clear()
    secret_file = tmp_path / "tax.secret"
    try:
        _fails(
            [
                "departments",
                "set-webhook",
                "tax",
                "http://tax.example.gov/hook",
                "--secret-file",
                str(secret_file),
            ],
            "requires an https:// webhook URL",
        )
        assert not secret_file.exists()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    out = _cli(
        [
            "departments",
            "set-webhook",
            "tax",
            "https://tax.example.gov/hook",
            "--secret-file",
            str(secret_file),
        ]
    )
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32 and secret not in out
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secrets_path = Path(screening_env.env["RISKLOOP_WEBHOOK_SECRETS_FILE"])
    assert secrets_path.stat().st_mode & 0o777 == 0o600
    listing = _cli(["departments", "webhooks"])
    assert "tax\thttps://tax.example.gov/hook" in listing and secret not in listing


def test_the_dask_engine_screens_the_same_population(
    screening_env: LoopEnv, small_city: Path
) -> None:
    def summary(extra: list[str]) -> str:
        out = _cli(
            [
                "screen",
                "--task",
                "dispute-escalation",
                "--raw",
                str(small_city),
                "--dry-run",
                *extra,
            ]
        )
        return next(line for line in out.splitlines() if line.startswith("dry run:"))

    assert summary(["--engine", "dask"]) == summary([])


def test_set_webhook_with_a_secrets_file_it_cannot_write_sets_nothing(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_env / "a-file").write_text("in the way")
    monkeypatch.setenv("RISKLOOP_WEBHOOK_SECRETS_FILE", str(isolated_env / "a-file" / "w.json"))
    get_settings.cache_clear()
    _cli(["store", "upgrade"])  # set-webhook changes a store, creates none
    secret = isolated_env / "tax.secret"
    result = CliRunner().invoke(
        app,
        ["departments", "set-webhook", "tax", "https://x.example/h", "--secret-file", str(secret)],
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot write the webhook secrets file" in lines[0], result.stderr
    listed = CliRunner().invoke(app, ["departments", "webhooks"])
    assert listed.exit_code == 0 and "0 webhook(s)" in listed.output
