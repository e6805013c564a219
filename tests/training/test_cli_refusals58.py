"""Commands a QA pass caught writing where they should not, or answering bad input with a
stack trace or silence: each is now refused in one `error:` line (exit 2) before any work, and
Ctrl-C is said in a line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from training.cli import app


def _fails(args: list[str], *expected: str) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(part in lines[0] for part in expected), lines[0]
    return lines[0]


def test_generate_never_writes_into_a_folder_holding_other_files(isolated_env: Path) -> None:
    """A department's export (tables, no manifest) and the folder the command runs in are not
    a city: generating there replaced the export's tables or scattered a city among the
    deployment's files."""
    export = isolated_env / "dept" / "wage_arrears"
    export.mkdir(parents=True)
    table = export / "employers.parquet"
    pd.DataFrame({"employer_id": ["E1"]}).to_parquet(table)
    before = table.read_bytes()
    _fails(
        ["generate", "--size", "small", "--out", str(isolated_env / "dept")],
        "holds no city",
        "wage_arrears",
        "--force",
    )
    assert table.read_bytes() == before and sorted(p.name for p in export.iterdir()) == [
        "employers.parquet"
    ]
    (isolated_env / "keys.json").write_text("{}")
    _fails(["generate", "--size", "small", "--out", ""], "holds no city", "keys.json")
    assert not (isolated_env / "manifest.json").exists()


def test_run_checks_its_city_options_and_the_manifest_it_finds(isolated_env: Path) -> None:
    """Options refused whether or not a city is there to use (they were ignored when one
    was), and a damaged manifest named with the way out, not a stack trace."""
    city = isolated_env / "data" / "city"
    city.mkdir(parents=True)
    manifest = city / "manifest.json"
    manifest.write_text('{"size": "small", "seed": 3}')
    for option, value, said in (
        ("--size", "tiny", "unknown size 'tiny'"),
        ("--seed", "-1", "--seed must be 0 or more"),
        ("--profile", "weird", "unknown profile 'weird'"),
        ("--rate-multiplier", "-3", "--rate-multiplier must be above 0"),
    ):
        _fails(["run", "--no-serve", option, value], said)
    for damaged in ("[1]", "{bad"):
        manifest.write_text(damaged)
        _fails(["run", "--no-serve"], f"{manifest} is no city manifest", "delete the folder")
    assert manifest.read_text() == "{bad"


def test_outputs_never_go_into_the_online_features_or_name_no_file(isolated_env: Path) -> None:
    """The online features are keyed by pseudonyms (only `materialize` writes there): a score
    or a dataset written there put raw ids where the service reads; a report there, or in
    the dashboard's monitoring, is refused as well. An empty --out names no file."""
    online = isolated_env / "data" / "online"
    rows = isolated_env / "rows.parquet"
    pd.DataFrame({"entity_id": ["a"]}).to_parquet(rows)
    target = online / "dispute_escalation.parquet"
    score = ["score", "--task", "dispute-escalation", "--input", str(rows)]
    _fails([*score, "--output", str(target)], "the online features", "materialize")
    build = ["build-dataset", "--task", "wage-arrears", "--raw", str(isolated_env / "none")]
    _fails([*build, "--out", str(online / "wage_arrears.parquet")], "the online features")
    _fails([*build, "--out", ""], "names no file")
    report = ["report", "--task", "dispute-escalation", "--lang", "en"]
    _fails([*report, "--out", str(online)], "the online features")
    _fails([*report, "--out", str(isolated_env / "reports" / "monitor")], "monitoring reports")
    assert not online.exists()


def test_train_refuses_a_seed_lightgbm_cannot_take_before_fitting(isolated_env: Path) -> None:
    """It was found after the fit (a failed MLflow run and a stack trace)."""
    riskloop = str(Path(sys.executable).with_name("riskloop"))
    for seed in ("-5", str(2**32)):
        done = subprocess.run(
            [riskloop, "train", "--task", "wage-arrears", "--seed", seed],
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert lines[0].startswith("error: Invalid value for '--seed'"), lines[0]


def test_ctrl_c_is_said_in_a_line(tmp_path: Path) -> None:
    """Typer answers Ctrl-C with exit code 130 and nothing said: the person saw a command end
    in silence."""
    riskloop = str(Path(sys.executable).with_name("riskloop"))
    env = {**os.environ, "RISKLOOP_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [riskloop, "generate", "--size", "default", "--out", str(tmp_path / "city")],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
        # as a terminal's Ctrl-C finds it: a shell starts a background job with SIGINT ignored
        # (a suite run in the background would pass that on, and the command never hear it)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "city").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # started: the folder is made before the work
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("interrupted:"), err
    assert "Traceback" not in err
