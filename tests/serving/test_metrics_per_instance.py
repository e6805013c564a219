"""Two services on one host (the session's and a `riskloop serve`): each `/metrics` counts
its own traffic, not the other's.

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
from tests.serving.conftest import Served

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
        time.sleep(0.1)
    raise RuntimeError(f"riskloop serve did not become ready; log:\n{log.read_text()[-4000:]}")


@pytest.fixture()
def second_service(serving_root: Path, served: Served) -> Iterator[str]:
    """`riskloop serve` beside the session's service, in the same environment: BentoML's home
    is the session service's (as the default `~/bentoml` is shared by every service of a
    host)."""
    riskloop = Path(sys.executable).with_name("riskloop")
    env = {**os.environ, **service_env(serving_root)}
    assert env["BENTOML_HOME"] == str(serving_root / "bentoml")  # the session service's home
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
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log)
        yield url
    finally:
        stop_process_group(process)


@pytest.fixture()
def first_service(served: Served) -> tuple[str, float]:
    """The session's service, with five requests of its own before the second one starts."""
    for _ in range(5):
        httpx.get(f"{served.url}/livez", timeout=10, verify=LOOPBACK_TLS)
    return served.url, _livez_requests(served.url)


def test_each_service_publishes_its_own_requests(
    serving_root: Path, first_service: tuple[str, float], second_service: str
) -> None:
    first, counted = first_service
    assert counted >= 5
    for _ in range(2):
        httpx.get(f"{second_service}/livez", timeout=10, verify=LOOPBACK_TLS)
    assert _livez_requests(first) == counted  # its own counters survived the second's start
    assert _livez_requests(second_service) == 2
    port = second_service.rsplit(":", 1)[1]
    home = serving_root / "data" / "serve" / f"127.0.0.1-{port}"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
