"""`riskloop monitor --out` and `--since`, as a model reviewer found them: --out wrote over the
warnings store, the keys file, a raw table or the reference it read; a run with --out left the
console's dashboard showing an older run; a refused `--since` time was named by its date only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner, Result

from models.settings import get_settings
from tests.training.test_monitor import TASK, _population, _record
from training.cli import app


def _one_error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, (result.exit_code, result.output)
    assert lines[0].startswith("error: "), lines
    return lines[0]


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
        line = _one_error_line(runner.invoke(app, args))
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
        line = _one_error_line(runner.invoke(app, ["monitor", "--task", TASK, "--since", given]))
        assert line == f"error: no scored records of {TASK} since {expected} in the warnings store"
