"""A registry whose server answers only errors (an MLflow tracking server with its database
down) is reported in one line within seconds, not after MLflow's four minutes of retries.

The stand-in server answers every request as `mlflow server` does when its backend store
fails (500 with MLflow's error body); riskloop's processes bound MLflow's HTTP retries and
time-out unless the environment sets them (`models.settings.REGISTRY_HTTP_DEFAULTS`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

RISKLOOP = str(Path(sys.executable).with_name("riskloop"))


@pytest.fixture()
def failing_registry() -> Iterator[tuple[str, list[str]]]:
    """The URL of a server answering 500 to everything, and the paths it was asked for."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _fail(self) -> None:
            asked.append(self.path)
            body = b'{"error_code": "INTERNAL_ERROR", "message": "the backend store is down"}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _fail

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_screen_against_a_registry_answering_errors_fails_in_one_line_within_seconds(
    failing_registry: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from models.settings import get_settings
    from training.cli import app

    url, asked = failing_registry
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLFLOW_HTTP_", "RISKLOOP_"))
    }
    env.update(
        RISKLOOP_MLFLOW_URI=url,
        RISKLOOP_STORE_URL=f"sqlite:///{tmp_path / 'riskloop.db'}",
        RISKLOOP_KEYS_FILE=str(tmp_path / "keys.json"),
    )
    # a store to screen into (screen refuses a missing one before asking the registry), made
    # in this process with the same settings: the screen below is the process under test
    for name in [name for name in os.environ if name not in env]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        upgraded = CliRunner().invoke(app, ["store", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert upgraded.exit_code == 0, upgraded.output
    started = time.monotonic()
    result = subprocess.run(
        [RISKLOOP, "screen", "--task", "wage-arrears", "--raw", str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,  # MLflow's own defaults took about four minutes
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and url in line, line
    assert elapsed < 30, elapsed
    assert 1 <= len(asked) <= 3, asked  # one request, tried three times at most


def test_the_registry_defaults_leave_a_variable_the_environment_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from models.settings import REGISTRY_HTTP_DEFAULTS, apply_offline_defaults

    for name in REGISTRY_HTTP_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "45")
    apply_offline_defaults()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "45"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"
