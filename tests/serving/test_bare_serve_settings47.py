"""A bare `bentoml serve` (not through `riskloop serve`) with an invalid `RISKLOOP_*` setting
refuses to start in one line naming it, as `riskloop serve` does (a registry URI that is no
database's, MLflow's file store, too).

It started: its workers answered every request with a 500 and a traceback in the log (the
guard reads the settings to build itself), and BentoML kept them up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.environment import service_env
from tests.processes import LOOPBACK_TLS, free_port, stop_process_group

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("RISKLOOP_NOTIFY_INTERVAL_S", "every minute", "number"),
        # MLflow's file store: every worker said "no champion model ... train one"
        ("RISKLOOP_MLFLOW_URI", "mlruns", "must be a database URI"),
    ],
)
def test_a_bare_bentoml_serve_refuses_an_invalid_setting_in_one_line(
    tmp_path: Path, name: str, value: str, said: str
) -> None:
    port = free_port()
    env = {**os.environ, **service_env(tmp_path), name: value}
    bentoml = Path(sys.executable).with_name("bentoml")
    command = [str(bentoml), "serve", "serving.service:RiskloopService"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while process.poll() is None and time.monotonic() < deadline:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/readyz", timeout=2, verify=LOOPBACK_TLS
                )
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            pytest.fail(
                f"it started with the invalid setting: /readyz answered {answer.status_code}"
            )
        out, err = process.communicate(timeout=10)
    finally:
        stop_process_group(process)
    shown = (out + err).decode()
    assert process.returncode == 2, shown
    assert "Traceback" not in shown
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith(f"error: invalid setting {name}: "), shown
    assert said in last
