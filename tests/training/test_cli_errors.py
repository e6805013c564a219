"""Bad input to the modelling commands: one clear `error:` line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli import app
from training.datasets import TrainingData


def _fails(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0]


@pytest.mark.parametrize("command", ["train", "promote", "score"])
def test_unknown_task(command: str, isolated_env: Path) -> None:
    extra = ["--input", "x.parquet", "--output", "y.csv"] if command == "score" else []
    _fails([command, "--task", "parking-fines", *extra], "unknown task 'parking-fines'")


def test_missing_dataset(isolated_env: Path) -> None:
    _fails(
        ["train", "--task", "wage-arrears", "--dataset", str(isolated_env / "none.parquet")],
        "does not exist",
    )
    _fails(["train", "--task", "wage-arrears"], "give the data")
    # score's input: missing, or a folder named where the file goes
    score = ["score", "--task", "wage-arrears", "--output", str(isolated_env / "o.csv")]
    _fails([*score, "--input", str(isolated_env / "none.parquet")], "does not exist")
    _fails([*score, "--input", str(isolated_env)], "is a folder, not a .parquet file")


def test_dataset_whose_columns_do_not_match_the_spec(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    path = isolated_env / "bad.parquet"
    city_data["telecom-fraud"].frame.drop(columns=["screen_sharing_alerts_30d"]).to_parquet(path)
    _fails(
        ["train", "--task", "telecom-fraud", "--dataset", str(path)], "screen_sharing_alerts_30d"
    )
    wrong_task = isolated_env / "disputes.parquet"
    city_data["dispute-escalation"].frame.to_parquet(wrong_task)
    _fails(["train", "--task", "wage-arrears", "--dataset", str(wrong_task)], "missing column")


def test_scoring_without_a_champion(isolated_env: Path) -> None:
    path = isolated_env / "rows.parquet"
    pd.DataFrame({"entity_id": ["a"]}).to_parquet(path)
    _fails(
        ["score", "--task", "telecom-fraud", "--input", str(path), "--output", "out.csv"],
        "no 'champion' model for task telecom-fraud",
    )


@pytest.mark.parametrize(
    "command",
    [
        ["models"],
        ["promote", "--task", "wage-arrears"],
        ["report", "--task", "wage-arrears"],
        ["score", "--task", "telecom-fraud", "--input", "rows.parquet", "--output", "out.csv"],
    ],
)
def test_a_command_that_reads_the_registry_refuses_one_that_is_not_there(
    command: list[str], isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in RISKLOOP_MLFLOW_URI is named in one line; MLflow is not left to create an
    empty registry (and its folder), which `models` then listed as "no model registered"."""
    from models.settings import get_settings

    pd.DataFrame({"entity_id": ["a"]}).to_parquet(isolated_env / "rows.parquet")
    typo = isolated_env / "mlrun" / "mlruns.db"
    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", f"sqlite:///{typo}")
    get_settings.cache_clear()
    _fails(command, f"no MLflow registry at sqlite:///{typo} (RISKLOOP_MLFLOW_URI)")
    assert not typo.parent.exists()
    typo.mkdir(parents=True)  # a folder where the file should be: named so, not "missing"
    _fails(command, f"{typo} is a folder, not a database file")


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--task", "wage-arrears", "--raw"],
        ["materialize", "--task", "wage-arrears", "--raw"],
        ["report", "--task", "wage-arrears", "--raw"],
        ["build-dataset", "--task", "wage-arrears", "--out", "x.parquet", "--raw"],
    ],
)
def test_a_raw_folder_that_is_missing_or_a_file_is_named_as_such(
    command: list[str], isolated_env: Path
) -> None:
    _fails([*command, str(isolated_env / "none")], "does not exist")
    a_file = isolated_env / "city.txt"
    a_file.write_text("not a folder")
    _fails([*command, str(a_file)], "is a file, not a folder")


def test_raw_folder_that_breaks_a_schema(isolated_env: Path, small_city: Path) -> None:
    import shutil

    broken = isolated_env / "city"
    shutil.copytree(small_city / "dispute_escalation", broken / "dispute_escalation")
    disputes = pd.read_parquet(broken / "dispute_escalation" / "disputes.parquet")
    disputes.drop(columns=["n_parties"]).to_parquet(
        broken / "dispute_escalation" / "disputes.parquet"
    )
    _fails(["train", "--task", "dispute-escalation", "--raw", str(broken)], "n_parties")


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:  # bound, never listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "url", ["not-a-url", "postgresql+psycopg://u:pw@127.0.0.1:{port}/x", "file"]
)
@pytest.mark.parametrize(
    "args",
    [
        ["overdue"],
        ["audit", "--actor", "system:cli"],
        ["users", "list"],
        ["store", "upgrade"],
        ["monitor", "--task", "wage-arrears"],
        ["notify", "--once"],
        ["departments", "webhooks"],
    ],
)
def test_a_warnings_store_that_cannot_be_opened_is_one_line(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, url: str, args: list[str]
) -> None:
    from models.settings import get_settings

    if url == "file":  # an existing file that is not a database, left as it was
        (isolated_env / "notes.txt").write_text("not a database")
        url = f"sqlite:///{isolated_env / 'notes.txt'}"
    monkeypatch.setenv("RISKLOOP_STORE_URL", url.format(port=_closed_port()))
    get_settings.cache_clear()
    _fails(args, "cannot open the warnings store")
    result = CliRunner().invoke(app, args)
    assert "pw@" not in result.stderr  # the password is hidden
    if "notes.txt" in url:
        assert (isolated_env / "notes.txt").read_text() == "not a database"


def test_score_refuses_an_output_it_cannot_write_before_scoring(isolated_env: Path) -> None:
    path = isolated_env / "rows.parquet"
    pd.DataFrame({"entity_id": ["a"]}).to_parquet(path)
    (isolated_env / "a-file").write_text("in the way")
    base = ["score", "--task", "telecom-fraud", "--input", str(path), "--output"]
    _fails([*base, str(isolated_env / "a-file" / "out.csv")], "cannot write")
    (isolated_env / "folder.csv").mkdir()
    _fails([*base, str(isolated_env / "folder.csv")], "is a folder")


def test_a_refused_command_leaves_no_output_folder_behind(isolated_env: Path) -> None:
    """The output's missing folders are made by the write, not by the check before the work:
    a score or monitor run refused later (here: no such input, no champion) made them empty."""
    base = ["score", "--task", "telecom-fraud", "--input", str(isolated_env / "none.parquet")]
    _fails([*base, "--output", str(isolated_env / "new" / "deeper" / "out.csv")], "none.parquet")
    monitor = ["monitor", "--task", "telecom-fraud", "--out"]
    _fails([*monitor, str(isolated_env / "fresh" / "m.json")], "no warnings store")
    assert not (isolated_env / "new").exists() and not (isolated_env / "fresh").exists()


def test_a_truth_folder_without_the_tasks_truth_is_refused(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    path = isolated_env / "wage.parquet"
    city_data["wage-arrears"].frame.to_parquet(path)
    (isolated_env / "truth").mkdir()
    for truth in (isolated_env / "nowhere", isolated_env / "truth"):
        _fails(
            ["train", "--task", "wage-arrears", "--dataset", str(path), "--truth", str(truth)],
            "holds no wage_arrears_units.parquet",
        )


@pytest.mark.parametrize("url", ["not-a-scheme://x", "file"])
@pytest.mark.parametrize(
    "args",
    [
        ["models"],
        ["promote", "--task", "wage-arrears"],
        ["score", "--task", "wage-arrears", "--input", "rows.parquet", "--output", "o.csv"],
        ["report", "--task", "wage-arrears", "--raw", "."],
        ["monitor", "--task", "wage-arrears"],
    ],
)
def test_an_mlflow_store_that_cannot_be_opened_is_one_line(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, url: str, args: list[str]
) -> None:
    from models.settings import get_settings

    pd.DataFrame({"entity_id": ["a"]}).to_parquet(isolated_env / "rows.parquet")
    if url == "file":  # an existing file that is not a database, left as it was
        (isolated_env / "notes.txt").write_text("not a database")
        url = f"sqlite:///{isolated_env / 'notes.txt'}"
    if args[0] == "monitor":  # a scored record to monitor, so the reference is looked up
        from tests.training.test_registry_uri_qa60 import scored_record

        scored_record()
    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", url)
    get_settings.cache_clear()
    if url.startswith("not-a-scheme"):  # refused with the other settings, before any command
        _fails(args, "invalid setting RISKLOOP_MLFLOW_URI: the MLflow registry must be a database")
        return
    _fails(args, "cannot open the MLflow")
    if url.endswith("notes.txt"):
        assert (isolated_env / "notes.txt").read_text() == "not a database"


def test_labels_other_than_0_and_1_are_named_plainly(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    frame = city_data["wage-arrears"].frame
    path = isolated_env / "labels.parquet"
    frame.assign(label=frame["label"] * 2).to_parquet(path)
    _fails(["train", "--task", "wage-arrears", "--dataset", str(path)], "found 0, 2")
    frame.assign(label=np.int8(0)).to_parquet(path)
    _fails(["train", "--task", "wage-arrears", "--dataset", str(path)], "0 and 1, found 0")


@pytest.mark.parametrize("storage", ["file", "mysql://u@127.0.0.1/optuna"])
def test_tune_on_a_storage_that_is_not_a_database_is_one_line(
    isolated_env: Path, city_data: dict[str, TrainingData], storage: str
) -> None:
    dataset = isolated_env / "wage.parquet"
    city_data["wage-arrears"].frame.to_parquet(dataset)
    if storage == "file":
        (isolated_env / "notes.txt").write_text("not a database")
        storage = f"sqlite:///{isolated_env / 'notes.txt'}"
    study = ["--storage", storage, "--study", "s", "--trials", "1", "--dataset", str(dataset)]
    _fails(["tune", "--task", "wage-arrears", *study], "cannot open the Optuna storage")


@pytest.mark.parametrize("name", ["", "   "])
@pytest.mark.parametrize("command", ["tune", "train"])
def test_an_empty_study_name_is_refused_before_any_work(
    isolated_env: Path, name: str, command: str
) -> None:
    """`riskloop tune --study ""` ran 20 trials in a study named "" and registered a version
    (a second worker meaning another study would join that one); `train` took "" as no name and
    "   " as one. Refused in one line before the data is read or the storage is opened."""
    storage = isolated_env / "optuna.db"
    source = ["--dataset", str(isolated_env / "none.parquet"), "--study", name]
    shared = ["--storage", f"sqlite:///{storage}"] if command == "tune" else []
    _fails([command, "--task", "wage-arrears", *shared, *source], "--study needs a name")
    assert not storage.exists()


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--profile", "messy", "unknown profile 'messy': choose one of realistic, clean"),
        ("--size", "huge", "unknown size 'huge': choose one of small, default, large"),
        ("--seed", "-1", "--seed must be 0 or more, got -1"),
        ("--rate-multiplier", "0", "--rate-multiplier must be above 0 and at most 1000, got 0"),
    ],
)
def test_the_main_job_refuses_a_city_it_cannot_generate_before_any_work(
    option: str, value: str, expected: str, isolated_env: Path
) -> None:
    """`riskloop run` with no city yet: a city option `riskloop generate` would refuse is the
    same one line and exit 2, before anything is written."""
    _fails(["run", option, value, "--no-serve"], expected)
    assert not (isolated_env / "data" / "city").exists()
    assert not list(isolated_env.rglob("manifest.json"))


def test_a_bad_setting_is_named_in_one_line_before_any_command_runs(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_ENV", "prod")
    monkeypatch.setenv("RISKLOOP_REVEAL_LIMIT_PER_HOUR", "0")
    for args in (["keys", "list"], ["overdue"], ["models"]):
        _fails(args, "invalid setting RISKLOOP_ENV: Input should be")
        _fails(args, "RISKLOOP_REVEAL_LIMIT_PER_HOUR: Input should be greater than or equal to 1")
    assert not (isolated_env / "riskloop.db").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["nosuch"],
            "No such command 'nosuch'. ('riskloop --help' lists the commands and options)",
        ),
        (["score", "--in", "x.parquet"], "No such option: --in"),
        (["train", "--task"], "Option '--task' requires an argument."),
        (["generate", "--seed", "many"], "Invalid value for '--seed'"),
    ],
)
def test_a_usage_error_of_the_installed_command_is_one_line(
    args: list[str], expected: str, isolated_env: Path
) -> None:
    """The `riskloop` executable (the console script `make install` writes): a misspelt command
    or option, or a missing or malformed value, is one `error:` line and exit 2, not a framed
    box."""
    import subprocess
    import sys

    riskloop = str(Path(sys.executable).with_name("riskloop"))
    done = subprocess.run([riskloop, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert expected in lines[0]
    assert done.stdout == ""


def test_python_dash_m_runs_the_same_command(isolated_env: Path) -> None:
    """`python -m training.cli` is `riskloop` (it exited 0 doing nothing: no `__main__` block)."""
    import subprocess
    import sys

    module = [sys.executable, "-m", "training.cli"]
    done = subprocess.run([*module, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "build-dataset" in done.stdout, done.stderr
    done = subprocess.run([*module, "tarin"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: No such command 'tarin'"), done.stderr
