"""Two `riskloop serve` on one host: each `/metrics` counts its own traffic, not the other's.

BentoML keeps the counters in `$BENTOML_HOME/prometheus_multiproc_dir` and empties it at
start; both services shared that folder, so the second start wiped the first's counters and
from then on both published the second's traffic.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.environment import service_env
from tests.processes import LOOPBACK_TLS, free_port, stop_process_group

LIVEZ = re.compile(r'^\S*request_total\{[^}]*endpoint="/livez"[^}]*\} (\S+)$', re.MULTILINE)


def _livez_requests(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=10, verify=LOOPBACK_TLS).text
    return sum(float(count) for count in LIVEZ.findall(metrics))


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2, verify=LOOPBACK_TLS).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"riskloop serve did not become ready; log:\n{log.read_text()[-4000:]}")


@pytest.fixture()
def two_services(serving_root: Path, trained: dict[str, int]) -> Iterator[list[str]]:
    """`riskloop serve` twice on one host and one set of stores (BentoML's home shared in the
    environment, as the default `~/bentoml` is), the second started after the first."""
    riskloop = Path(sys.executable).with_name("riskloop")
    env = {**os.environ, **service_env(serving_root)}
    started: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(2):
            port = free_port()
            log = serving_root / f"riskloop-serve-{port}.log"
            with open(log, "wb") as out:
                process = subprocess.Popen(
                    [str(riskloop), "serve", "--port", str(port)],
                    cwd=serving_root,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(process)
            urls.append(f"http://127.0.0.1:{port}")
            _wait_ready(urls[-1], process, log)
            if len(urls) == 1:  # traffic the first one had before the second started
                for _ in range(5):
                    httpx.get(f"{urls[0]}/livez", timeout=10, verify=LOOPBACK_TLS)
        yield urls
    finally:
        for process in started:
            stop_process_group(process)


def test_each_service_publishes_its_own_requests(
    serving_root: Path, two_services: list[str]
) -> None:
    first, second = two_services
    for _ in range(2):
        httpx.get(f"{second}/livez", timeout=10, verify=LOOPBACK_TLS)
    assert _livez_requests(first) == 5
    assert _livez_requests(second) == 2
    for url in two_services:
        port = url.rsplit(":", 1)[1]
        home = serving_root / "data" / "serve" / f"127.0.0.1-{port}"
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
