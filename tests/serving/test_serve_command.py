"""`riskloop serve` keeps the caller's working directory and its relative settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import app
from training.commands.service import absolute_sqlite_url


class _Exec(Exception):
    """Stands in for the process image `os.execve` would replace."""


def test_serve_runs_in_the_callers_directory_with_its_relative_settings(
    served_store_in_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        seen.update(path=path, argv=argv, env=env, cwd=Path.cwd())
        raise _Exec

    monkeypatch.setattr(os, "execve", execve)
    result = CliRunner().invoke(app, ["serve", "--port", "3999"])
    assert isinstance(result.exception, _Exec), result.output
    root = served_store_in_cwd.resolve()
    assert seen["cwd"] == root
    env = seen["env"]
    assert isinstance(env, dict)
    assert env["RISKLOOP_MLFLOW_URI"] == f"sqlite:///{root / 'mlruns.db'}"
    assert env["RISKLOOP_STORE_URL"] == f"sqlite:///{root / 'riskloop.db'}"
    assert env["RISKLOOP_KEYS_FILE"] == str(root / "keys.json")
    assert env["RISKLOOP_DATA_DIR"] == str(root / "data")
    assert env["BENTOML_DO_NOT_TRACK"] == "true"
    assert env["RISKLOOP_PUBLIC_URL"] == "http://127.0.0.1:3999"  # links go where it listens
    assert seen["argv"] == [
        seen["path"],
        "serve",
        "serving.service:RiskloopService",
        "--host",
        "127.0.0.1",
        "--port",
        "3999",
    ]


def test_absolute_sqlite_url_anchors_only_relative_paths(tmp_path: Path) -> None:
    assert absolute_sqlite_url("sqlite:///a/b.db", tmp_path) == f"sqlite:///{tmp_path / 'a/b.db'}"
    assert absolute_sqlite_url("sqlite:////srv/x.db", tmp_path) == "sqlite:////srv/x.db"
    assert absolute_sqlite_url("sqlite:///:memory:", tmp_path) == "sqlite:///:memory:"
    url = "postgresql+psycopg://u@h/db"
    assert absolute_sqlite_url(url, tmp_path) == url


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("RISKLOOP_STORE_URL", "cannot open the warnings store"),
        ("RISKLOOP_MLFLOW_URI", "cannot open the MLflow registry"),
    ],
)
def test_serve_refuses_a_store_it_cannot_open_in_one_line_before_starting(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, variable: str, expected: str
) -> None:
    from models.settings import get_settings

    (isolated_env / "notes.txt").write_text("not a database")
    monkeypatch.setenv(variable, f"sqlite:///{isolated_env / 'notes.txt'}")
    get_settings.cache_clear()
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("the service was started"))
    result = CliRunner().invoke(app, ["serve", "--port", "3999"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines


def test_the_service_module_leaves_mlflow_to_the_registry_loads() -> None:
    """BentoML's main process imports the service only to read its configuration, and a bento
    replica loads its packaged champions: neither imports MLflow (about a second of a start)."""
    script = (
        "import sys, serving.service, serving.champions\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow')[:3])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_notification_links_default_to_the_address_served_unless_set(tmp_path: Path) -> None:
    from models.settings import Settings
    from training.commands.service import default_public_url, serve_environment

    assert default_public_url("10.0.0.7", 8080) == "http://10.0.0.7:8080"
    assert default_public_url("0.0.0.0", 3001) == "http://127.0.0.1:3001"
    assert default_public_url("::", 3002) == "http://[::1]:3002"
    assert default_public_url("::1", 3003) == "http://[::1]:3003"
    settings = Settings(keys_file=tmp_path / "keys.json", secrets_file=tmp_path / "s.json")
    env = serve_environment(settings, {}, tmp_path, "127.0.0.1", 3004)
    assert env["RISKLOOP_PUBLIC_URL"] == "http://127.0.0.1:3004"
    chosen = {"RISKLOOP_PUBLIC_URL": "https://riskloop.city.example"}
    env = serve_environment(settings, chosen, tmp_path, "127.0.0.1", 3004)
    assert env["RISKLOOP_PUBLIC_URL"] == "https://riskloop.city.example"


def test_run_refuses_a_busy_port_in_one_line_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from models.settings import get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISKLOOP_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["run", "--size", "small", "--port", str(port)])
    get_settings.cache_clear()
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: 127.0.0.1:{port} is already in use; stop the other service or choose --port"
    )
    assert not (tmp_path / "data").exists()  # no city generated, nothing trained
