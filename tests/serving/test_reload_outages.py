"""An admin reload while the model registry is frozen and the warnings store is down.

A real `mlflow server` on the session's registry is stopped with SIGSTOP (it accepts
connections and never answers) and a private PostgreSQL warnings store is stopped. The reload
used to hold the request and the reload lock for minutes, and a failure met while the store
was down was marked known before its audit row was written: it was never audited. Now the
request answers 504 within `RISKLOOP_RELOAD_TIMEOUT_S`, a second one 503 while the first goes
on, every task's failure is audited once the store answers, and an admin reload that changes
nothing is audited too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.processes import (
    LOOPBACK_TLS,
    PrivatePostgres,
    free_port,
    kill_now,
    stop_process_group,
)

from .conftest import TASKS, Served, start_service
from .test_store_outage import _database


def _mlflow_server(root: Path, port: int) -> subprocess.Popen[bytes]:
    """`mlflow server` on `root`'s registry, launched: `_answering` waits for it."""
    mlflow = Path(sys.executable).with_name("mlflow")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlruns.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _answering(process: subprocess.Popen[bytes], port: int) -> None:
    """Wait for the launched registry's /health."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("mlflow server did not start")


def test_a_frozen_registry_and_a_stopped_store_bound_the_reload_and_lose_no_audit_row(
    served: Served,
) -> None:
    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from serving.store import WarningStore

    # the registry boots (seconds of imports) while the private PostgreSQL is made
    registry_port = free_port()
    registry = _mlflow_server(served.root, registry_port)
    pg = service = None
    try:
        pg = PrivatePostgres()
        store_url = _database(pg)
        _answering(registry, registry_port)
        port = free_port()
        service, log = start_service(
            served.root,
            port,
            {
                "RISKLOOP_STORE_URL": store_url,
                "RISKLOOP_MLFLOW_URI": f"http://127.0.0.1:{registry_port}",
                "RISKLOOP_RELOAD_TIMEOUT_S": "1",
                # each task's registry call waits 2 s: the background reload (3 x 2 s) is still
                # running when the 504 comes back at 1 s, however slow a busy machine answers it
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                "BENTOML_HOME": str(served.root / "bentoml-reload-outages"),
            },
        )
        assert service.poll() is None, log.read_text()[-4000:]
        headers = served.headers("operator")
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=60, verify=LOOPBACK_TLS
        ) as client:
            first = client.post("/v1/admin/reload", headers=headers)
            assert first.status_code == 200, first.text
            assert {r["status"] for r in first.json()["results"]} == {"unchanged"}

            os.killpg(registry.pid, signal.SIGSTOP)
            pg.stop()
            started = time.monotonic()
            hung = client.post("/v1/admin/reload", headers=headers)
            assert hung.status_code == 504, hung.text
            assert time.monotonic() - started < 5
            assert "model registry did not answer within 1 s" in hung.json()["error"]
            busy = client.post("/v1/admin/reload", headers=headers)
            assert busy.status_code == 503, busy.text
            assert "another model reload" in busy.json()["error"]
            assert busy.headers["retry-after"] == "1"
            # the background reload meets each task's time-out (2 s), then the stopped store
            deadline = time.monotonic() + 60
            while True:
                models = client.get("/v1/models", headers=served.headers("scorer"))
                assert models.status_code == 200, models.text
                if all(m["last_reload_error"] for m in models.json()["models"]):
                    break
                assert time.monotonic() < deadline, models.json()
                time.sleep(0.25)
            time.sleep(2)  # and its audit rows meet the stopped store (refused at once)

            os.killpg(registry.pid, signal.SIGCONT)
            pg.start()
            again = client.post("/v1/admin/reload", headers=headers)
            assert again.status_code == 200, again.text
            assert {r["status"] for r in again.json()["results"]} == {"unchanged"}
        text = log.read_text()
        assert "Traceback" not in text, text[-4000:]
    finally:
        if registry.poll() is None:  # frozen or not: nothing of it is checked after this
            kill_now(registry)
        if service is not None:
            stop_process_group(service)
        settings = get_settings()
        if pg is not None:
            try:
                with WarningStore(store_url, load_secrets(settings).pseudonym_secret) as store:
                    rows = [r for r in store.audit_rows() if r["action"] == "model_reload"]
            finally:
                pg.remove()
    statuses = [(r["task"], r["detail"]["status"]) for r in rows]
    for task in TASKS:  # the first reload, the failure met while the store was down, the last
        assert [s for t, s in statuses if t == task] == ["unchanged", "failed", "unchanged"]
    failed = [r for r in rows if r["detail"]["status"] == "failed"]
    # models.registry words any MLflow error as "no 'champion' model", a time-out included
    assert all(f"127.0.0.1:{registry_port}" in r["detail"]["error"] for r in failed), failed
