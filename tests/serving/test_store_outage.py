"""The service while its PostgreSQL warnings store is down, and an admin reload while the model
registry is frozen too.

One service for the module's two tests (a start is seconds): the session's champions read
through a real `mlflow server` on the session's registry, a private PostgreSQL warnings store,
notification rounds every 0.2 s and reloads bounded at 1 s. The reload test stops the service
to read what it audited, so it comes last.

While the store is down: 503 with `Retry-After`, never 500; `/readyz` says so; and it serves
again by itself once the store is back.

An admin reload while the registry is stopped with SIGSTOP (it accepts connections and never
answers) and the store is stopped: the reload used to hold the request and the reload lock for
minutes, and a failure met while the store was down was marked known before its audit row was
written: it was never audited. Now the request answers 504 within `RISKLOOP_RELOAD_TIMEOUT_S`,
a second one 503 while the first goes on, every task's failure is audited once the store
answers, and an admin reload that changes nothing is audited too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.processes import (
    LOOPBACK_TLS,
    PrivatePostgres,
    free_port,
    kill_now,
    stop_process_group,
)

from .conftest import TASKS, Served, start_service
from .test_service import as_records, materialized

TASK = "telecom-fraud"


def _database(server: PrivatePostgres) -> str:
    admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('CREATE DATABASE "riskloop"'))
    admin.dispose()
    return make_url(server.admin_url).set(database="riskloop").render_as_string(False)


def _ready(url: str) -> int:
    return httpx.get(f"{url}/readyz", timeout=5, verify=LOOPBACK_TLS).status_code


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
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2, verify=LOOPBACK_TLS)
            if health.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # a booting registry answers with an error first: no busy loop
    raise RuntimeError("mlflow server did not start")


@dataclass
class Outages:
    """The module's service and the two servers whose outages it meets."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    store: PrivatePostgres
    store_url: str
    registry: subprocess.Popen[bytes]
    registry_port: int


@pytest.fixture(scope="module")
def outages(served: Served) -> Iterator[Outages]:
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
                # notification rounds every 0.2 s: some meet the outage, and must say so in one line
                "RISKLOOP_NOTIFY_INTERVAL_S": "0.2",
                "RISKLOOP_RELOAD_TIMEOUT_S": "1",
                # each task's registry call waits 2 s: the background reload (3 x 2 s) is still
                # running when the 504 comes back at 1 s, however slow a busy machine answers it
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                "BENTOML_HOME": str(served.root / "bentoml-outages"),
            },
        )
        assert service.poll() is None, log.read_text()[-4000:]
        yield Outages(
            f"http://127.0.0.1:{port}", service, log, pg, store_url, registry, registry_port
        )
    finally:
        if registry.poll() is None:  # frozen or not: nothing of it is checked after this
            kill_now(registry)
        if service is not None:
            stop_process_group(service)
        if pg is not None:
            pg.remove()


def test_a_store_outage_answers_503_with_retry_after_and_the_service_recovers_by_itself(
    served: Served, outages: Outages
) -> None:
    server, url, log = outages.store, outages.url, outages.log
    records = as_records(TASK, materialized(served, TASK).head(3))
    body = {"records": records, "explain": True}
    with httpx.Client(base_url=url, timeout=60, verify=LOOPBACK_TLS) as client:
        before = client.post(f"/v1/{TASK}/score", json=body, headers=served.headers())
        assert before.status_code == 200, before.text

        server.stop()
        answers = {
            "score": client.post(f"/v1/{TASK}/score", json=body, headers=served.headers()),
            "list": client.get("/v1/warnings", headers=served.headers()),
            # a refusal at the route is audited first: the audit write meets the outage
            "refused": client.get("/v1/audit", headers=served.headers("scorer")),
        }
        for name, answer in answers.items():
            assert answer.status_code == 503, (name, answer.status_code, answer.text)
            assert answer.headers["retry-after"] == "5", name
            assert "warnings store is not answering" in answer.json()["error"], name
        assert _ready(url) == 503
        # the console keeps its sessions in the store: any signed-in page meets the outage
        page = client.get("/console/queue", cookies={"riskloop_console": "a-session"})
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert "预警库暂时无法访问" in page.text and "not answering" in page.text

        deadline = time.monotonic() + 15
        while "notification round skipped" not in log.read_text():
            assert time.monotonic() < deadline, "no notification round met the outage"
            time.sleep(0.2)

        server.start()
        deadline = time.monotonic() + 30
        while _ready(url) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _ready(url) == 200
        after = client.post(f"/v1/{TASK}/score", json=body, headers=served.headers())
        assert after.status_code == 200, after.text
        listed = client.get("/v1/warnings", headers=served.headers())
        assert listed.status_code == 200, listed.text
    text_log = log.read_text()
    assert "Traceback" not in text_log
    assert "warnings store is not answering" in text_log  # each refusal is logged, one line


def test_a_frozen_registry_and_a_stopped_store_bound_the_reload_and_lose_no_audit_row(
    served: Served, outages: Outages
) -> None:
    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from serving.store import WarningStore

    registry, pg = outages.registry, outages.store
    headers = served.headers("operator")
    with httpx.Client(base_url=outages.url, timeout=60, verify=LOOPBACK_TLS) as client:
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
    text = outages.log.read_text()
    assert "Traceback" not in text, text[-4000:]
    stop_process_group(outages.process)  # what it audited is all written
    settings = get_settings()
    with WarningStore(outages.store_url, load_secrets(settings).pseudonym_secret) as store:
        rows = [r for r in store.audit_rows() if r["action"] == "model_reload"]
    statuses = [(r["task"], r["detail"]["status"]) for r in rows]
    for task in TASKS:  # the first reload, the failure met while the store was down, the last
        assert [s for t, s in statuses if t == task] == ["unchanged", "failed", "unchanged"]
    failed = [r for r in rows if r["detail"]["status"] == "failed"]
    # models.registry words any MLflow error as "no 'champion' model", a time-out included
    assert all(f"127.0.0.1:{outages.registry_port}" in r["detail"]["error"] for r in failed), failed
