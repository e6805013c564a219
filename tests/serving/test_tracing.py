"""BentoML's tracing middleware: left out while no exporter is configured, kept when one is
(`serving.tracing`), on Starlette apps and on the real server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware

from serving.tracing import without_idle_tracing
from tests.processes import LOOPBACK_TLS, descendants, free_port, stop_process_group

from .conftest import Served, start_service
from .test_service import as_records, materialized

TASK = "wage-arrears"
REQUEST_ID = "x-bentoml-request-id"


def _app() -> Starlette:
    return Starlette(middleware=[Middleware(GZipMiddleware), Middleware(OpenTelemetryMiddleware)])


def test_the_tracing_middleware_goes_only_without_an_exporter() -> None:
    idle = without_idle_tracing(_app(), exporter=None)
    assert [m.cls for m in idle.user_middleware] == [GZipMiddleware]

    for exporter in ("otlp", "in_memory"):
        traced = without_idle_tracing(_app(), exporter=exporter)
        assert [m.cls for m in traced.user_middleware] == [GZipMiddleware, OpenTelemetryMiddleware]


def _score(url: str, served: Served) -> httpx.Response:
    body = {"records": as_records(TASK, materialized(served, TASK).head(1))}
    answer = httpx.post(
        f"{url}/v1/{TASK}/score",
        json=body,
        headers=served.headers(),
        timeout=60,
        verify=LOOPBACK_TLS,
    )
    assert answer.status_code == 200, answer.text
    return answer


def test_the_server_makes_no_spans_without_an_exporter(served: Served) -> None:
    """BentoML's span-id answer header shows whether a request went through a span: the
    session's service is started without any tracing configuration."""
    assert REQUEST_ID not in _score(served.url, served).headers


def test_the_server_traces_requests_when_an_exporter_is_configured(served: Served) -> None:
    """The documented way to switch tracing on reaches the worker: BentoML's own middleware
    wraps every request again. (This test's own server then ends as a crash would end it: a
    SIGKILL of the arbiter alone, which cannot pass it on, still ends the worker.)"""
    options = "services.riskloop.tracing.exporter_type=in_memory"
    port = free_port()
    process, log = start_service(served.root, port, {"BENTOML_CONFIG_OPTIONS": options})
    try:
        assert process.poll() is None, log.read_text()[-4000:]
        answer = _score(f"http://127.0.0.1:{port}", served)
        assert len(answer.headers[REQUEST_ID]) == 16, answer.headers  # a span id, in hex
        workers = descendants(process.pid)
        assert workers, "the service has no worker process"
        os.kill(process.pid, signal.SIGKILL)  # the arbiter only: its workers run in their own group
        process.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers), "a worker outlived its killed arbiter"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/livez", timeout=5, verify=LOOPBACK_TLS)
    finally:
        stop_process_group(process)


def _alive(pid: int) -> bool:
    """Still running (a zombie waiting for its reaper counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
