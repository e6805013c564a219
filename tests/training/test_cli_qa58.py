"""QA round 58: inputs that ended in a traceback (or wrote where they must not) now get one
`error:` line on stderr, exit 2, and change nothing.

- `tune --storage` on the warnings store or the MLflow registry wrote Optuna's tables into
  it, then crashed on Optuna's schema check; a storage of another Optuna version crashed too.
- Dates outside what the store holds (`0001-01-01`, `9999-12-31`) overflowed.
- A keys or secrets file that is a folder raised `IsADirectoryError`; an empty keys file was
  read as "no keys" and written over by `keys create`.
- `bundle --version` that BentoML refuses, or one already built, raised BentoML's exceptions.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.settings import get_settings
from training.cli import app
from training.datasets import TrainingData

TASK = "dispute-escalation"


def _refused(args: list[str], *expected: str) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _dataset(isolated_env: Path, city_data: dict[str, TrainingData]) -> str:
    path = isolated_env / "disputes.parquet"
    city_data[TASK].frame.to_parquet(path)
    return str(path)


def _tune(storage: str, dataset: str = "none.parquet") -> list[str]:
    return [
        "tune",
        "--task",
        TASK,
        "--storage",
        storage,
        "--study",
        "s3",
        "--trials",
        "1",
        "--dataset",
        dataset,
        "--max-rounds",
        "3",
    ]


# --- tune --storage ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "named"),
    [
        ("mlruns.db", "the MLflow registry"),
        ("riskloop.db", "the warnings store"),
        ("riskloop.db-wal", "the warnings store's -wal file"),
        ("keys.json", "the API keys file"),
    ],
)
def test_tune_refuses_a_storage_that_is_riskloops_own_state(
    place: str, named: str, isolated_env: Path
) -> None:
    """Refused before the data is read (the dataset named does not even exist) and before
    Optuna touches the file: the registry keeps its tables, no store or keys file appears."""
    registry = isolated_env / "mlruns.db"
    before = (_tables(registry), registry.read_bytes())
    target = isolated_env / place
    _refused(_tune(f"sqlite:///{target}"), f"is {named}", "give another path")
    assert (_tables(registry), registry.read_bytes()) == before
    if place != "mlruns.db":
        assert not target.exists()


def test_tune_still_takes_the_configured_optuna_database_and_any_other_file(
    isolated_env: Path,
) -> None:
    from training.commands.scale import check_storage_place

    check_storage_place(get_settings().resolved_optuna_storage)
    check_storage_place(f"sqlite:///{isolated_env / 'studies' / 'mine.db'}")
    check_storage_place("sqlite://")  # in memory


def test_tune_refuses_a_database_holding_another_applications_tables(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    other = isolated_env / "other-app.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    _refused(
        _tune(f"sqlite:///{other}", _dataset(isolated_env, city_data)),
        "holds another application's tables (invoices)",
        "a database of its own",
    )
    assert _tables(other) == {"invoices"}


def test_tune_refuses_a_storage_of_another_optuna_schema_in_one_line(
    isolated_env: Path, city_data: dict[str, TrainingData]
) -> None:
    import optuna

    storage = f"sqlite:///{isolated_env / 'old-optuna.db'}"
    optuna.storages.RDBStorage(storage).engine.dispose()
    with sqlite3.connect(isolated_env / "old-optuna.db") as db:
        db.execute("UPDATE alembic_version SET version_num = 'v0.0.0.unknown'")
    _refused(
        _tune(storage, _dataset(isolated_env, city_data)),
        f"cannot use the Optuna storage {storage}",
        "no longer compatible with the table schema",
    )


# --- dates the store cannot hold ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["audit", "--actor", "root", "--since", "0001-01-01"], "--since"),
        (["audit", "--actor", "root", "--until", "9999-12-31"], "--until"),
        (["audit", "--actor", "root", "--since", "0001-01-01T00:00:00+08:00"], "--since"),
        (["audit", "--actor", "root", "--until", "9999-12-31T20:00:00-08:00"], "--until"),
        (["audit", "--actor", "root", "--since", "1969-12-31"], "--since"),
        (["monitor", "--task", "wage-arrears", "--since", "0001-01-01"], "--since"),
        (["store", "purge", "--before", "0001-01-01", "--dry-run"], "--before"),
        (["store", "purge", "--before", "0001-01-02", "--dry-run"], "--before"),
        (["store", "purge", "--before", "1900-01-01T00:00:00+00:00", "--dry-run"], "--before"),
    ],
)
def test_a_date_out_of_the_stores_range_is_one_line_naming_the_option_and_range(
    args: list[str], option: str, isolated_env: Path
) -> None:
    line = _refused(args, f"error: {option} ", "is out of range", "from 1970-01-01 to 9998-12-31")
    assert "+08:05" not in line
    assert not (isolated_env / "riskloop.db").exists()


def test_the_ends_of_the_range_are_read_with_the_citys_offset() -> None:
    from training.commands.people import city_time, parse_day

    first = parse_day("1970-01-01", "--since")
    last = parse_day("9998-12-31T23:59:59+08:00", "--until")
    assert first == datetime(1969, 12, 31, 16, tzinfo=UTC)
    assert city_time(first) == "1970-01-01T00:00:00+08:00"
    assert last is not None and city_time(last) == "9998-12-31T23:59:59+08:00"


def test_purge_before_the_first_day_still_runs(isolated_env: Path) -> None:
    assert CliRunner().invoke(app, ["store", "upgrade"]).exit_code == 0
    result = CliRunner().invoke(app, ["store", "purge", "--before", "1970-01-01", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "closed before 1970-01-01T00:00:00+08:00" in result.stdout


# --- keys and secrets files ----------------------------------------------------------------


def test_a_keys_file_that_is_a_folder_is_one_line(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = isolated_env / "kf" / "dir.json"
    folder.mkdir(parents=True)
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(folder))
    get_settings.cache_clear()
    said = f"keys file {folder} is a directory, not a keys file"
    _refused(["keys", "list"], said)
    _refused(["keys", "create", "ops", "--scopes", "score"], said)
    _refused(["keys", "revoke", "ops"], said)
    assert not (folder.parent / "dir.json.lock").exists()  # refused before the lock is taken


def test_an_empty_keys_file_is_damaged_not_empty(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = isolated_env / "keys.json"
    keys.write_bytes(b"")
    _refused(["keys", "list"], f"keys file {keys} is malformed (it is empty)", "backup")
    _refused(["keys", "create", "ops", "--scopes", "score"], "is malformed (it is empty)")
    assert keys.read_bytes() == b""
    # refused before the store is opened: none made on a fresh folder for a command refused
    assert not (isolated_env / "riskloop.db").exists()
    keys.write_text("  \n")
    _refused(["keys", "list"], "is malformed (it is empty)")


def test_keys_create_on_a_fresh_deployment_still_writes_the_file(isolated_env: Path) -> None:
    keys = isolated_env / "keys.json"
    assert not keys.exists()
    created = CliRunner().invoke(app, ["keys", "create", "ops", "--scopes", "score"])
    assert created.exit_code == 0, created.output
    listed = CliRunner().invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and listed.stdout.startswith("ops\t"), listed.output


def test_a_secrets_file_that_is_a_folder_is_one_line(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CliRunner().invoke(app, ["store", "upgrade"]).exit_code == 0
    folder = isolated_env / "sf" / "dir.json"
    folder.mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("RISKLOOP_SECRETS_FILE", str(folder))
    get_settings.cache_clear()
    _refused(["secrets", "rotate"], f"secrets file {folder} is a directory, not a secrets file")
    assert list(folder.iterdir()) == []

    from models.secret_keys import SecretsFileError, load_secrets

    with pytest.raises(SecretsFileError, match="is a directory"):
        load_secrets()  # what materialize and score read the file through


# --- bundle --version ----------------------------------------------------------------------


@pytest.fixture()
def bentoml_home(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = isolated_env / "bentoml"
    monkeypatch.setenv("BENTOML_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    return home


def _stored(home: Path, kind: str) -> list[str]:
    folder = home / kind
    return sorted(str(p.relative_to(folder)) for p in folder.glob("*/*")) if folder.exists() else []


@pytest.mark.parametrize("version", ["bad version!", "", "QA1", "-qa1", "q" * 64])
def test_bundle_refuses_a_version_bentoml_refuses(version: str, bentoml_home: Path) -> None:
    _refused(
        ["bundle", "--task", TASK, "--version", version],
        f"--version {version!r} is not a bento version",
    )
    assert _stored(bentoml_home, "models") == []


def test_bundle_refuses_a_version_already_built(bentoml_home: Path, isolated_env: Path) -> None:
    """A bento `riskloop:qa1` in BentoML's store (a tiny service built here with BentoML):
    refused before any champion is copied into the store, naming how to go on. Both run as
    their own processes: BentoML keeps the first BENTOML_HOME a process uses."""
    project = isolated_env / "tiny"
    project.mkdir()
    (project / "tiny_service.py").write_text(
        "import bentoml\n\n\n@bentoml.service\nclass Tiny:\n"
        "    @bentoml.api\n    def ping(self) -> str:\n        return 'pong'\n"
    )
    build = (
        "import bentoml; bentoml.bentos.build('tiny_service:Tiny', name='riskloop', "
        "version='qa1', include=['tiny_service.py'], "
        "python={'packages': [], 'lock_packages': False}, build_ctx='.')"
    )
    env = {**os.environ, "BENTOML_HOME": str(bentoml_home)}
    subprocess.run([sys.executable, "-c", build], cwd=project, env=env, check=True)
    bentos = bentoml_home / "bentos" / "riskloop"
    assert (bentos / "qa1" / "bento.yaml").is_file()
    before = sorted(bentos.iterdir())
    done = subprocess.run(
        [sys.executable, "-m", "training.cli", "bundle", "--task", TASK, "--version", "qa1"],
        cwd=isolated_env,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0] == (
        "error: a bento riskloop:qa1 already exists in BentoML's store: give another "
        "--version, or leave it out for a generated one, or delete the old one first "
        "(bentoml delete riskloop:qa1)"
    )
    assert not (bentoml_home / "models").exists() or not any((bentoml_home / "models").iterdir())
    assert sorted(bentos.iterdir()) == before
