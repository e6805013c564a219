"""The loop's fixtures: a store, secrets file and settings of its own beside the session's
trained champions (tests/serving/conftest.py), and a service started on that store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.processes import free_port, stop_process_group
from tests.serving.conftest import start_service


@dataclass
class LoopEnv:
    """Where this module's store and secrets live, and the environment that points at them."""

    root: Path
    env: dict[str, str]

    @property
    def store_url(self) -> str:
        return self.env["RISKLOOP_STORE_URL"]


def loop_env_for(root: Path) -> dict[str, str]:
    return {
        "RISKLOOP_STORE_URL": f"sqlite:///{root / 'loop.db'}",
        "RISKLOOP_WEBHOOK_SECRETS_FILE": str(root / "webhook-secrets.json"),
        "RISKLOOP_PUBLIC_URL": "https://riskloop.example.gov",
        "RISKLOOP_NOTIFY_INTERVAL_S": "0.2",
        "RISKLOOP_NOTIFY_BACKOFF_S": "0.05",
        "RISKLOOP_NOTIFY_BACKOFF_MAX_S": "0.5",
        "RISKLOOP_NOTIFY_LEASE_S": "2",
    }


@pytest.fixture(scope="module")
def loop_env(
    tmp_path_factory: pytest.TempPathFactory, trained: dict[str, int]
) -> Iterator[LoopEnv]:
    """The session's champions with a fresh store for this module, set in this process too."""
    from models.settings import get_settings

    root = tmp_path_factory.mktemp("loop")
    env = loop_env_for(root)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        yield LoopEnv(root, env)
    get_settings.cache_clear()


@dataclass
class LoopService:
    """A service on the loop's store."""

    url: str
    key: str
    process: object

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture(scope="module")
def loop_service(serving_root: Path, loop_env: LoopEnv) -> Iterator[LoopService]:
    from serving.auth import create_key

    key = create_key(f"loop-{os.getpid()}-{free_port()}", ["score", "review", "feedback"])
    port = free_port()
    process, log = start_service(serving_root, port, extra_env=loop_env.env)
    if process.poll() is not None:
        raise RuntimeError(f"service exited at start-up; log:\n{log.read_text()[-4000:]}")
    yield LoopService(f"http://127.0.0.1:{port}", key, process)
    stop_process_group(process)


@pytest.fixture()
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A store (upgraded), keys and webhook secrets files of the test's own for CLI runs in
    this process, notification retries a few milliseconds apart."""
    from models.settings import get_settings

    monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("RISKLOOP_WEBHOOK_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("RISKLOOP_PUBLIC_URL", "https://riskloop.example.gov")
    monkeypatch.setenv("RISKLOOP_NOTIFY_BACKOFF_S", "0.01")
    monkeypatch.setenv("RISKLOOP_NOTIFY_BACKOFF_MAX_S", "0.05")
    get_settings.cache_clear()
    assert run_cli(["store", "upgrade"]).exit_code == 0
    yield tmp_path
    get_settings.cache_clear()


def run_cli(args: list[str]) -> Result:
    """`riskloop ARGS` in this process (Typer's runner)."""
    from training.cli import app

    return CliRunner().invoke(app, args)
