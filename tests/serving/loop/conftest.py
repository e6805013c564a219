"""The loop's fixtures: a store, secrets file and settings of its own beside the session's
trained champions (tests/serving/conftest.py), and a service started on that store.

A start of the service is about 13 s of CPU. The screening modules (test_screen.py,
test_screen_after_api.py) share one store and one service for the session instead of one a
module: each writes the warnings of its own task only (whose owner departments differ, as
capacities count across a department's tasks) and reads only those, or compares the store's
totals before and after a step of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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


@contextmanager
def _settings_at(root: Path) -> Iterator[LoopEnv]:
    """The loop's settings for a store and secrets file in `root`, set in this process too."""
    from models.settings import get_settings

    env = loop_env_for(root)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        yield LoopEnv(root, env)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def loop_env(
    tmp_path_factory: pytest.TempPathFactory, trained: dict[str, int]
) -> Iterator[LoopEnv]:
    """The session's champions with a fresh store for this module, set in this process too."""
    with _settings_at(tmp_path_factory.mktemp("loop")) as env:
        yield env


@dataclass
class LoopService:
    """A service on the loop's store."""

    url: str
    key: str
    process: object

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@contextmanager
def _service_on(serving_root: Path, env: LoopEnv) -> Iterator[LoopService]:
    from serving.auth import create_key

    key = create_key(f"loop-{os.getpid()}-{free_port()}", ["score", "review", "feedback"])
    port = free_port()
    process, log = start_service(serving_root, port, extra_env=env.env)
    if process.poll() is not None:
        raise RuntimeError(f"service exited at start-up; log:\n{log.read_text()[-4000:]}")
    try:
        yield LoopService(f"http://127.0.0.1:{port}", key, process)
    finally:
        stop_process_group(process)


@pytest.fixture(scope="module")
def loop_service(serving_root: Path, loop_env: LoopEnv) -> Iterator[LoopService]:
    with _service_on(serving_root, loop_env) as service:
        yield service


@pytest.fixture(scope="session")
def screening_root(tmp_path_factory: pytest.TempPathFactory, trained: dict[str, int]) -> Path:
    """The store and secrets file the screening modules share (see the module's docstring)."""
    return tmp_path_factory.mktemp("screening")


@pytest.fixture(scope="module")
def screening_env(screening_root: Path) -> Iterator[LoopEnv]:
    """The shared screening store's settings, set in this process for the module."""
    with _settings_at(screening_root) as env:
        yield env


class _SharedService:
    """The screening store's service: started when a module first needs it, stopped after the
    last module of the session that does (it would go on polling its store while the other
    modules run), started again should one come after all."""

    def __init__(self, serving_root: Path, root: Path) -> None:
        self._serving_root, self._env = serving_root, LoopEnv(root, loop_env_for(root))
        self._running: ExitStack | None = None
        self.service: LoopService | None = None

    def start(self) -> LoopService:
        if self.service is None:
            self._running = ExitStack()
            self.service = self._running.enter_context(_service_on(self._serving_root, self._env))
        return self.service

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
        self._running = self.service = None


@pytest.fixture(scope="session")
def _screening_services(serving_root: Path, screening_root: Path) -> Iterator[_SharedService]:
    shared = _SharedService(serving_root, screening_root)
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture(scope="module")
def screening_service(
    request: pytest.FixtureRequest, _screening_services: _SharedService
) -> Iterator[LoopService]:
    """The service on the shared screening store (see the module's docstring)."""
    yield _screening_services.start()
    items = request.session.items
    mine = [n for n, item in enumerate(items) if getattr(item, "module", None) is request.module]
    later = items[mine[-1] + 1 :] if mine else []
    if not any("screening_service" in getattr(item, "fixturenames", ()) for item in later):
        _screening_services.stop()


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
