"""The service while its PostgreSQL warnings store is down: 503 with `Retry-After`, never 500;
`/readyz` says so; and it serves again by itself once the store is back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.processes import LOOPBACK_TLS, PrivatePostgres, free_port, stop_process_group

from .conftest import Served, start_service
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


def test_a_store_outage_answers_503_with_retry_after_and_the_service_recovers_by_itself(
    served: Served, serving_root: Path
) -> None:
    server = PrivatePostgres()
    process = None
    try:
        store_url = _database(server)
        port = free_port()
        # notification rounds every 0.2 s: some meet the outage, and must say so in one line
        process, log = start_service(
            serving_root,
            port,
            extra_env={"RISKLOOP_STORE_URL": store_url, "RISKLOOP_NOTIFY_INTERVAL_S": "0.2"},
        )
        assert process.poll() is None, log.read_text()[-4000:]
        url = f"http://127.0.0.1:{port}"
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
    finally:
        if process is not None:
            stop_process_group(process)
        server.remove()
