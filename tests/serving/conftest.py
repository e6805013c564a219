"""A real riskloop service on a free localhost port, with three small registered models.

One session fixture trains the three tasks' models on the small simulated city (few boosting
rounds), registers them in a temporary MLflow store, materializes the online features, creates
API keys and starts `bentoml serve` in a subprocess; every service test talks to it over HTTP.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from features.tasks import TASK_NAMES
from tests.environment import service_env, settings_env, stores_root
from tests.processes import LOOPBACK_TLS, free_port, stop_process_group

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TASKS = TASK_NAMES
TRAIN_ROUNDS = 25
KEY_SCOPES = {
    "scorer": ("score",),
    "reviewer": ("review",),
    "caseworker": ("feedback",),
    "operator": ("admin",),
    "all": ("score", "review", "feedback", "admin"),
    "every": ("score", "review", "feedback", "reveal", "audit", "admin"),
}


@dataclass
class Served:
    """A running service and what the tests need to check it."""

    url: str
    root: Path
    keys: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    city: Path

    def headers(self, key: str = "all") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[key]}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, verify=LOOPBACK_TLS)

    def post_bytes(self, path: str, content: bytes) -> httpx.Response:
        """`content` POSTed as it is, as JSON, with the key holding every scope."""
        headers = {**self.headers("every"), "Content-Type": "application/json"}
        with self.client() as client:
            return client.post(path, content=content, headers=headers)

    def healthy(self) -> bool:
        try:
            return (
                httpx.get(f"{self.url}/readyz", timeout=5, verify=LOOPBACK_TLS).status_code == 200
            )
        except httpx.HTTPError:
            return False


def start_service(
    root: Path, port: int, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """`bentoml serve serving.service:RiskloopService` on 127.0.0.1:`port`; waits for /readyz.

    A service with settings of its own (`extra_env`) gets a BentoML home of its own unless
    they name one: a bare `bentoml serve` empties its home's Prometheus folder as it starts,
    which would wipe the session service's counters (test_second_service reads them)."""
    log = root / f"serve-{port}.log"
    env = {**os.environ, **service_env(root), **(extra_env or {})}
    if extra_env is not None and "BENTOML_HOME" not in extra_env:
        env["BENTOML_HOME"] = str(root / f"bentoml-{port}")
    bentoml = Path(sys.executable).with_name("bentoml")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(bentoml),
                "serve",
                "serving.service:RiskloopService",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return process, log
        try:
            if (
                httpx.get(
                    f"http://127.0.0.1:{port}/readyz", timeout=2, verify=LOOPBACK_TLS
                ).status_code
                == 200
            ):
                return process, log
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_process_group(process)
    raise RuntimeError(f"service did not become ready; log:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def serving_root(tmp_path_factory: pytest.TempPathFactory, empty_mlflow_store: Path) -> Path:
    """A temp folder holding the session's MLflow store, warnings store, keys and features."""
    return stores_root(tmp_path_factory, "serving", empty_mlflow_store)


@pytest.fixture(scope="module", autouse=True)
def serving_settings(serving_root: Path) -> Iterator[None]:
    """This process's settings pointed at the session's stores for each module of this folder
    (and only while it runs: see tests/environment.py)."""
    with settings_env(service_env(serving_root)):
        yield


@pytest.fixture(scope="session")
def trained(serving_root: Path, small_city: Path) -> dict[str, int]:
    """Train and register each task once on the small city (few rounds); version per task."""
    from models.spec import get_spec
    from serving.online_store import materialize
    from training.commands.service import build_scoring_set
    from training.datasets import build_from_raw
    from training.train import train_task

    versions = {}
    with settings_env(service_env(serving_root)):
        for task in TASKS:
            spec = get_spec(task)
            spec = dataclasses.replace(spec, params=dataclasses.replace(spec.params, num_threads=1))
            outcome = train_task(spec, build_from_raw(spec, small_city), max_rounds=TRAIN_ROUNDS)
            versions[task] = outcome.version
            materialize(task, build_scoring_set(task, small_city))
    return versions


@pytest.fixture(scope="session")
def served(serving_root: Path, trained: dict[str, int], small_city: Path) -> Iterator[Served]:
    """The running service (started once per session) with one key per scope and one with all."""
    from serving.auth import create_key

    with settings_env(service_env(serving_root)):
        keys = {name: create_key(name, scopes) for name, scopes in KEY_SCOPES.items()}
    port = free_port()
    process, log = start_service(serving_root, port)
    if process.poll() is not None:
        raise RuntimeError(f"service exited at start-up; log:\n{log.read_text()[-4000:]}")
    yield Served(f"http://127.0.0.1:{port}", serving_root, keys, process, log, small_city)
    stop_process_group(process)


@pytest.fixture()
def served_store_in_cwd(
    serving_root: Path, trained: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The session's stores seen through relative settings from their own folder as cwd
    (what `cd DIR && riskloop run` leaves behind)."""
    from models.settings import get_settings

    monkeypatch.chdir(serving_root)
    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", "sqlite:///mlruns.db")
    monkeypatch.setenv("RISKLOOP_STORE_URL", "sqlite:///riskloop.db")
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", "keys.json")
    monkeypatch.setenv("RISKLOOP_DATA_DIR", "data")
    monkeypatch.setenv("RISKLOOP_REPORTS_DIR", "reports")
    get_settings.cache_clear()
    yield serving_root
    get_settings.cache_clear()
