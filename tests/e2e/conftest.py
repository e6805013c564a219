"""A real `bentoml serve` process for end-to-end tests, on a free localhost port.

The service inherits this process's environment, so it sees the stores `isolated_env` points
at. (tests/serving/conftest.py has its own session-wide service; the port and stop helpers both
use come from `tests/processes.py`, since a conftest is not importable under
`--import-mode=importlib`.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes import LOOPBACK_TLS, free_port, stop_process_group

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90


@dataclass
class Service:
    """A running service: its base URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, key: str) -> httpx.Client:
        """An HTTP client sending `key` as its bearer token."""
        return httpx.Client(
            base_url=self.url,
            timeout=60,
            headers={"Authorization": f"Bearer {key}"},
            verify=LOOPBACK_TLS,
        )

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture()
def start_service(tmp_path: Path) -> Iterator[Callable[[], Service]]:
    """Start `bentoml serve serving.service:RiskloopService` (waits for /readyz); stopped after."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> Service:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        env = {
            **os.environ,
            "RISKLOOP_ENV": "test",
            "RISKLOOP_RELOAD_INTERVAL_S": "3600",  # reloads happen when the test asks
            "BENTOML_HOME": str(tmp_path / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        bentoml = Path(sys.executable).with_name("bentoml")
        command = [str(bentoml), "serve", "serving.service:RiskloopService"]
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(port)],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        service = Service(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if (
                    httpx.get(f"{service.url}/readyz", timeout=2, verify=LOOPBACK_TLS).status_code
                    == 200
                ):
                    return service
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"service did not become ready; log:\n{service.log_tail()}")

    yield start
    for process in started:
        stop_process_group(process)
