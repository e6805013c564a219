"""`riskloop monitor` after `riskloop store purge`: the records whose features retention emptied
are left out of the feature drift, so the monthly job does not alarm on every feature after the
first purge, and a real shift still raises the alarm."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import Result
from typer.testing import CliRunner

from models.spec import get_spec
from tests.training.test_monitor import DRIVER, TASK, _population, _record
from training.cli import app

UNITS = 400


def _riskloop(*args: str) -> Result:
    """`riskloop ARGS` in the test's environment and folder (in this process: a fresh one
    took seconds of imports per command, four times)."""
    return CliRunner().invoke(app, list(args))


def _monitor(folder: Path, reference: Path, name: str) -> tuple[int, dict[str, Any], str]:
    """Exit code, JSON report and printed output of one `riskloop monitor` run."""
    out = folder / f"{name}.json"
    done = _riskloop("monitor", "--task", TASK, "--reference", str(reference), "--out", str(out))
    assert done.exit_code in (0, 3), done.stdout + done.stderr + str(done.exception)
    return done.exit_code, json.loads(out.read_text()), done.stdout + done.stderr


def test_monitor_leaves_purged_records_out_of_feature_drift(isolated_env: Path) -> None:
    rng = np.random.default_rng(11)
    reference = isolated_env / "reference.parquet"
    _population(rng, 2000, arrears_rate=0.1).to_parquet(reference)
    features = list(get_spec(TASK).feature_names)
    _record(_population(rng, UNITS, arrears_rate=0.1), "P", n_closed=0, as_of=date(2026, 9, 1))
    purged = _riskloop("store", "purge", "--before", "now")
    assert purged.exit_code == 0, purged.stderr + str(purged.exception)
    assert purged.stdout.startswith(f"removed: features of {UNITS} scored records")

    # every unit purged: no features to compare (null, "n/a"), and no alarm from their absence
    code, report, output = _monitor(isolated_env, reference, "all-purged")
    assert code == 0, output
    assert report["psi"]["features"] == dict.fromkeys(features)
    assert report["current"]["feature_units"] == 0
    assert report["current"]["features_purged"] == UNITS

    # next month's screening, the same population: stable (every feature PSI was 4.6 before)
    _record(_population(rng, UNITS, arrears_rate=0.1), "Q", n_closed=0, as_of=date(2026, 10, 1))
    code, report, output = _monitor(isolated_env, reference, "after-purge")
    assert code == 0, output
    assert set(report["psi"]["features"]) == set(features)
    assert max(report["psi"]["features"].values()) < 0.1, report["psi"]
    assert report["drifted"] == []
    current = report["current"]
    assert (current["rows"], current["units"]) == (2 * UNITS, 2 * UNITS)  # scores kept count
    assert (current["feature_units"], current["features_purged"]) == (UNITS, UNITS)
    assert f"features of {UNITS} of {2 * UNITS} units purged by retention" in output

    # a real shift among the records still holding features still raises the alarm
    _record(_population(rng, UNITS, arrears_rate=0.6), "S", n_closed=0, as_of=date(2026, 11, 1))
    code, report, output = _monitor(isolated_env, reference, "shifted")
    assert code == 3, output
    assert report["drifted"] == [DRIVER, "score"]
    assert report["current"]["feature_units"] == 2 * UNITS
