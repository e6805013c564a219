"""QA round 42 on the CLI: a raw table held twice, a capacity past the limit, a secrets "file"
that is a folder, and the note of a report rebuilt from another city."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from models.settings import get_settings
from serving.store.people import MAX_CAPACITY
from tests.cli_results import one_error_line
from training.cli import app
from training.commands.reporting import other_data_file_name

DISPUTES = "dispute-escalation"
FRAUD = "telecom-fraud"


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture()
def twice_held(small_city: Path, tmp_path: Path) -> Path:
    """A copy of the small city whose dispute_escalation/petitions table is there both as last
    month's Parquet and as a newer CSV export dropped beside it."""
    raw = tmp_path / "raw"
    shutil.copytree(small_city / "dispute_escalation", raw / "dispute_escalation")
    petitions = raw / "dispute_escalation" / "petitions.parquet"
    pd.read_parquet(petitions).to_csv(petitions.with_suffix(".csv"), index=False)
    return raw


@pytest.mark.parametrize(
    "command",
    [
        ("build-dataset", "--out", "out/disputes.parquet"),
        ("build-dataset", "--unlabelled", "--out", "out/disputes.parquet"),
        ("train", "--max-rounds", "5"),
        ("materialize",),
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_table_held_as_both_parquet_and_csv_is_refused(
    isolated_env: Path, twice_held: Path, command: tuple[str, ...]
) -> None:
    result = _run(command[0], "--task", DISPUTES, "--raw", str(twice_held), *command[1:])

    one_error_line(result, "holds both petitions.parquet and petitions.csv: keep one")
    assert not (isolated_env / "out" / "disputes.parquet").exists()


def test_a_capacity_past_the_limit_names_the_limit(isolated_env: Path) -> None:
    assert _run("store", "upgrade").exit_code == 0

    line = one_error_line(
        _run("departments", "set-capacity", "grid", "99999999999999999999"),
        f"at most {MAX_CAPACITY:,}",
    )

    assert "not a whole number" not in line
    assert "000" * 2000 in one_error_line(
        _run("departments", "set-capacity", "grid", "1" + "000" * 2000), f"at most {MAX_CAPACITY:,}"
    )
    assert _run("departments", "set-capacity", "grid", f"{MAX_CAPACITY:07d}").exit_code == 0


def test_a_secret_file_that_is_a_folder_is_named_a_folder(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_WEBHOOK_SECRETS_FILE", str(isolated_env / "webhooks.json"))
    get_settings.cache_clear()
    assert _run("store", "upgrade").exit_code == 0
    folder = isolated_env / "secrets"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)

    line = one_error_line(
        _run(
            "departments",
            "set-webhook",
            "grid",
            "http://127.0.0.1:9/hook",
            "--secret-file",
            str(folder),
        ),
        f"--secret-file {folder} is a folder, not a file",
        "no webhook was set",
    )

    assert "chmod" not in line
    assert "0 webhook(s)" in _run("departments", "webhooks").stdout
    assert list(folder.iterdir()) == []


def test_another_citys_report_names_no_official_report_that_is_not_there(
    isolated_env: Path, small_city: Path, realistic_city: Path
) -> None:
    trained = _run("train", "--task", FRAUD, "--raw", str(small_city), "--max-rounds", "20")
    assert trained.exit_code == 0, trained.output
    reports = isolated_env / "reports"

    result = _run("report", "--task", FRAUD, "--raw", str(realistic_city), "--lang", "en")

    assert result.exit_code == 0, result.output
    written = reports / other_data_file_name(FRAUD, 1, realistic_city)
    assert result.stdout.split() == [str(written)]
    assert sorted(reports.iterdir()) == [written]  # no official report was ever written
    (note,) = result.stderr.strip().splitlines()
    assert note.startswith("note: ") and "official" not in note, note
    assert note.endswith(f"written as {written.name} in {reports}"), note


def test_the_dask_engine_refuses_a_table_held_twice_as_the_pandas_one_does(
    twice_held: Path,
) -> None:
    """`--engine dask` finds its tables on its own (it reads Parquet only): it used the Parquet
    file beside a newer CSV without a word."""
    from training.engines import _table_path
    from training.errors import UserError

    with pytest.raises(UserError, match=r"holds both petitions\.parquet and petitions\.csv"):
        _table_path(twice_held, "dispute_escalation", "petitions")
    assert _table_path(twice_held, "dispute_escalation", "disputes").name == "disputes.parquet"
