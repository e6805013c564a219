"""BentoML's tracing middleware: left out while no exporter is configured, kept when one is
(`serving.tracing`), on Starlette apps and on the real server (the server with an exporter is
the second service of tests/serving/test_second_service.py)."""

from __future__ import annotations

import httpx
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware

from serving.tracing import without_idle_tracing
from tests.processes import LOOPBACK_TLS

from .conftest import Served
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
