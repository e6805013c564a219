"""`riskloop monitor --out` and `--since`, as a model reviewer found them: --out wrote over the
warnings store, the keys file, a raw table or the reference it read; a run with --out left the
console's dashboard showing an older run; a refused `--since` time was named by its date only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from features.tasks import TASK_NAMES
from models.secret_keys import secrets_path
from models.settings import get_settings
from serving.console.dashboard import _monitor
from tests.cli_results import one_error_line
from tests.training.test_monitor import TASK, _population, _record
from training.cli import app
from training.dev_key import dev_key_path


def test_out_never_writes_over_what_riskloop_reads(isolated_env: Path) -> None:
    """The store, the keys file, a raw table and the --reference stay byte for byte, refused in
    one line (a run that could finish: the store holds records, the reference is given)."""
    rng = np.random.default_rng(31)
    reference = isolated_env / "reference.parquet"
    _population(rng, 300, arrears_rate=0.1).to_parquet(reference)
    _record(_population(rng, 60, arrears_rate=0.1), "O", n_closed=0)
    keys = isolated_env / "keys.json"
    keys.write_text('{"keys": []}\n')
    raw_table = isolated_env / "data" / "city" / "wage_arrears" / "tax.parquet"
    raw_table.parent.mkdir(parents=True)
    raw_table.write_bytes(b"PAR1 a department's table")
    store = isolated_env / "riskloop.db"
    cases = {
        store: "is the warnings store",
        keys: "is the API keys file",
        raw_table: "is inside the raw data folder",
        reference: "is the --reference file",
    }
    before = {path: path.read_bytes() for path in cases}
    runner = CliRunner()
    for path, expected in cases.items():
        args = ["monitor", "--task", TASK, "--reference", str(reference), "--out", str(path)]
        line = one_error_line(runner.invoke(app, args))
        assert line.startswith(f"error: --out {path} ") and expected in line, line
    assert {path: path.read_bytes() for path in cases} == before
    assert not (get_settings().reports_dir / "monitor").exists()  # refused before any work


def test_a_run_with_out_is_the_one_the_dashboard_shows(isolated_env: Path) -> None:
    """The default file (what the console's dashboard reads) holds the latest run, --out or not."""
    rng = np.random.default_rng(37)
    reference = isolated_env / "reference.parquet"
    _population(rng, 1000, arrears_rate=0.1).to_parquet(reference)
    _record(_population(rng, 300, arrears_rate=0.1), "D", n_closed=0)
    runner = CliRunner()
    base = ["monitor", "--task", TASK, "--reference", str(reference)]
    first = runner.invoke(app, base)
    assert first.exit_code == 0, first.output
    shown = get_settings().reports_dir / "monitor" / f"{TASK}.json"
    first_run = json.loads(shown.read_text())["mlflow_run_id"]
    _record(_population(rng, 300, arrears_rate=0.5), "S", n_closed=0)  # a shift since
    other = isolated_env / "elsewhere" / "other.json"
    second = runner.invoke(app, [*base, "--out", str(other)])
    assert second.exit_code == 3, second.output
    written = json.loads(other.read_text())
    assert written["mlflow_run_id"] != first_run and written["drift"]
    assert json.loads(shown.read_text()) == written
    assert f"report: {other}" in second.stdout and f"report: {shown}" in second.stdout


def test_a_refused_since_names_the_moment_as_read(isolated_env: Path) -> None:
    """A time keeps its time and offset in the refusal; a date stays a date."""
    runner = CliRunner()
    assert runner.invoke(app, ["store", "upgrade"]).exit_code == 0  # an empty store
    said = {
        "2099-12-06T01:40:00+08:00": "2099-12-06T01:40:00+08:00",
        "2099-12-05T17:40:00Z": "2099-12-06T01:40:00+08:00",  # the city's time, as audit prints
        "2099-12-06": "2099-12-06",
        "2099-12-06T00:00:00+08:00": "2099-12-06",  # the city's midnight: what the date means
    }
    for given, expected in said.items():
        line = one_error_line(runner.invoke(app, ["monitor", "--task", TASK, "--since", given]))
        assert line == (
            f"error: no scored records of {TASK} since {expected} in the warnings store"
            " (the service's score calls and `riskloop screen` record them)"
        )


def _placeholders(paths: list[Path]) -> dict[Path, bytes]:
    """Each path as a file (a placeholder where riskloop has not made it yet) and its bytes."""
    for path in paths:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"riskloop state kept in {path.name}".encode())
    return {path: path.read_bytes() for path in paths}


def _state_files(root: Path) -> dict[Path, str]:
    """Each SQLite database's -wal, -shm and -journal files and each keys or secrets file's
    lock (the development key's secret and its lock too), by how a refusal names them."""
    settings = get_settings()
    files: dict[Path, str] = {}
    for database, name in (
        (root / "riskloop.db", "the warnings store"),
        (root / "mlruns.db", "the MLflow registry"),
        (root / "optuna.db", "the Optuna studies database"),
    ):
        for ending in ("-wal", "-shm", "-journal"):
            files[database.with_name(database.name + ending)] = f"is {name}'s {ending} file"
    for secret, name in (
        (settings.keys_file, "the API keys file"),
        (secrets_path(settings), "the secrets file"),
        (settings.webhook_secrets_file, "the webhook secrets file"),
        (dev_key_path(settings), "the development key's secret"),
    ):
        files[secret.absolute()] = f"is {name} "
        files[secret.absolute().with_name(secret.name + ".lock")] = f"is {name}'s lock file"
    return files


def test_out_never_writes_over_a_database_s_companions_keys_or_locks(isolated_env: Path) -> None:
    """A SQLite database's -wal/-shm/-journal (written over, the store lost every change since
    the last checkpoint), the development key's secret and the lock files beside the keys and
    secrets files: refused in one line by what they are, byte for byte kept."""
    rng = np.random.default_rng(41)
    reference = isolated_env / "reference.parquet"
    _population(rng, 300, arrears_rate=0.1).to_parquet(reference)
    _record(_population(rng, 60, arrears_rate=0.1), "W", n_closed=0)
    cases = _state_files(isolated_env)
    before = _placeholders(list(cases))
    runner = CliRunner()
    for path, expected in cases.items():
        args = ["monitor", "--task", TASK, "--reference", str(reference), "--out", str(path)]
        line = one_error_line(runner.invoke(app, args))
        assert line.startswith(f"error: --out {path} {expected}"), line
    assert {path: path.read_bytes() for path in cases} == before
    assert not (get_settings().reports_dir / "monitor").exists()


def test_out_is_a_json_file_and_never_another_task_s(isolated_env: Path) -> None:
    """The files the service and the loop read (online features, a model's HTML report, a
    dataset) are refused as not `.json`; another task's monitor file, which the dashboard shows
    for that task, is refused by name."""
    rng = np.random.default_rng(43)
    reference = isolated_env / "reference.parquet"
    _population(rng, 300, arrears_rate=0.1).to_parquet(reference)
    _record(_population(rng, 60, arrears_rate=0.1), "J", n_closed=0)
    settings = get_settings()
    read_by_the_loop = [
        settings.data_dir / "online" / "wage_arrears.parquet",
        settings.reports_dir / "wage-arrears-v1.html",
        settings.data_dir / "datasets" / "wage_arrears.parquet",
    ]
    others = [name for name in TASK_NAMES if name != TASK]
    monitor_files = [settings.reports_dir / "monitor" / f"{name}.json" for name in others]
    before = _placeholders([*read_by_the_loop, *monitor_files])
    runner = CliRunner()
    base = ["monitor", "--task", TASK, "--reference", str(reference), "--out"]
    for path in read_by_the_loop:
        line = one_error_line(runner.invoke(app, [*base, str(path)]))
        if path.parent == settings.data_dir / "online":  # no output of any command goes there
            assert line.startswith(f"error: --out {path} is inside"), line
            assert "the online features" in line, line
        else:
            assert line == f"error: --out {path}: the report is JSON; give a .json file path"
    for name, path in zip(others, monitor_files, strict=True):
        for given in (path, path.relative_to(isolated_env)):
            line = one_error_line(runner.invoke(app, [*base, str(given)]))
            assert line.startswith(f"error: --out {given} is the monitor file of {name}"), line
    assert {path: path.read_bytes() for path in before} == before
    assert not (settings.reports_dir / "monitor" / f"{TASK}.json").exists()


def test_the_dashboard_shows_only_its_own_task_s_report(isolated_env: Path) -> None:
    """A monitor file holding another task's report (written there by an older version or by
    hand), a report without a task or no report at all is no monitoring result of the task."""
    rng = np.random.default_rng(47)
    reference = isolated_env / "reference.parquet"
    _population(rng, 300, arrears_rate=0.1).to_parquet(reference)
    _record(_population(rng, 60, arrears_rate=0.1), "B", n_closed=0)
    result = CliRunner().invoke(app, ["monitor", "--task", TASK, "--reference", str(reference)])
    assert result.exit_code in (0, 3), result.output
    own = get_settings().reports_dir / "monitor" / f"{TASK}.json"
    assert _monitor(own, TASK, "en") is not None
    other = next(name for name in TASK_NAMES if name != TASK)
    misplaced = own.with_name(f"{other}.json")
    misplaced.write_bytes(own.read_bytes())
    assert _monitor(misplaced, other, "en") is None
    report = json.loads(own.read_text())
    for written in ({k: v for k, v in report.items() if k != "task"}, [report], "drift"):
        own.write_text(json.dumps(written))
        assert _monitor(own, TASK, "en") is None, written


def test_score_and_build_dataset_refuse_the_store_s_wal(isolated_env: Path) -> None:
    """score --output and build-dataset --out (and its sidecar) share the check: the warnings
    store's -wal file is refused in one line, kept byte for byte."""
    _record(_population(np.random.default_rng(53), 20, arrears_rate=0.1), "S", n_closed=0)
    wal = isolated_env / "riskloop.db-wal"
    journal = isolated_env / "mlruns.db-journal"
    before = _placeholders([wal, journal])
    scoring_input = isolated_env / "input.parquet"
    scoring_input.write_bytes(b"PAR1")
    raw = isolated_env / "city"
    raw.mkdir()
    runner = CliRunner()
    for path in (wal, journal):
        build = ["build-dataset", "--task", TASK, "--raw", str(raw), "--out", str(path)]
        line = one_error_line(runner.invoke(app, build))
        assert line.startswith(f"error: --out {path} is the "), line
        assert "-wal file" in line or "-journal file" in line, line
        score = ["score", "--task", TASK, "--input", str(scoring_input), "--output", str(path)]
        line = one_error_line(runner.invoke(app, score))
        assert line.startswith("error: ") and str(path) in line, line
    assert {path: path.read_bytes() for path in before} == before


def test_a_dataset_or_scores_never_land_among_the_monitoring_reports(
    isolated_env: Path, small_city: Path
) -> None:
    """`build-dataset --out reports/monitor/<task>.parquet` wrote its JSON sidecar over the
    monitor report, and the dashboard showed it as the latest monitoring: refused, for the
    scores' output too."""
    from models.settings import get_settings

    monitor = get_settings().reports_dir / "monitor"
    monitor.mkdir(parents=True)
    report = monitor / "wage-arrears.json"
    report.write_text('{"task": "wage-arrears", "drift": true}')
    runner = CliRunner()
    built = runner.invoke(
        app,
        [
            "build-dataset", "--task", "wage-arrears", "--raw", str(small_city),
            "--out", str(monitor / "wage-arrears.parquet"),
        ],
    )  # fmt: skip
    assert built.exit_code == 2, built.output
    (line,) = built.stderr.strip().splitlines()
    assert "the monitoring reports the console's dashboard reads" in line, line
    assert report.read_text() == '{"task": "wage-arrears", "drift": true}'
    assert not (monitor / "wage-arrears.parquet").exists()


def test_out_is_never_a_dataset_s_sidecar(isolated_env: Path) -> None:
    """`--out data/datasets/<task>.json` wrote the monitoring report over the dataset's
    sidecar (its columns, cut-offs and sources, which train reads beside the Parquet)."""
    rng = np.random.default_rng(47)
    reference = isolated_env / "reference.parquet"
    _population(rng, 300, arrears_rate=0.1).to_parquet(reference)
    _record(_population(rng, 60, arrears_rate=0.1), "J", n_closed=0)
    datasets = get_settings().data_dir / "datasets"
    sidecars = [datasets / "wage_arrears.json", isolated_env / "elsewhere" / "mine.json"]
    before = _placeholders([*sidecars, *(sidecar.with_suffix(".parquet") for sidecar in sidecars)])
    base = ["monitor", "--task", TASK, "--reference", str(reference), "--out"]
    for sidecar in sidecars:
        line = one_error_line(CliRunner().invoke(app, [*base, str(sidecar)]))
        assert line.startswith(f"error: --out {sidecar} is the sidecar of the dataset"), line
    assert {path: path.read_bytes() for path in before} == before
