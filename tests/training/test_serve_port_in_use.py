"""`riskloop serve` on a port another process listens on: one error line, and nothing touched.

BentoML, started on a busy port, empties `$BENTOML_HOME/prometheus_multiproc_dir` (the metrics
files of the service already running there) before its bind fails with a long traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def test_serve_on_a_port_in_use_says_so_in_one_line_and_touches_nothing(
    isolated_env: Path,
) -> None:
    bentoml_home = isolated_env / "bentoml"
    metrics = bentoml_home / "prometheus_multiproc_dir" / "histogram_4242.db"
    metrics.parent.mkdir(parents=True)
    metrics.write_bytes(b"the running service's metrics")
    env = {
        **os.environ,
        "BENTOML_HOME": str(bentoml_home),
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    riskloop = str(Path(sys.executable).with_name("riskloop"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other_service:
        other_service.bind(("127.0.0.1", 0))
        other_service.listen()
        port = other_service.getsockname()[1]
        done = subprocess.run(
            [riskloop, "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            cwd=isolated_env,
            timeout=120,
        )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.splitlines() == [
        f"error: 127.0.0.1:{port} is already in use; stop the other service or choose --port"
    ]
    assert metrics.read_bytes() == b"the running service's metrics"
    # refused before anything else: not even the secrets file a first start would make
    assert not (isolated_env / "riskloop-secrets.json").exists()
