"""BentoML's OpenTelemetry middleware: kept when tracing is configured, left out otherwise.

BentoML wraps every request in an OpenTelemetry span whether or not anything collects it: with
no `tracing.exporter_type` in the BentoML configuration (its default) the spans are made,
filled with the request's attributes and dropped. That was a fifth to a third of the worker's
CPU per single-record score request (paired `wrk` runs, 16 connections: 2.7-3.2 ms of CPU per
request with it, 1.9-2.2 ms without). So the middleware stays only when an exporter is
configured, and then BentoML traces exactly as it would by itself. The service's configuration
is where BentoML reads it: `BENTOML_CONFIG_OPTIONS="services.riskloop.tracing.exporter_type=otlp
..."` (docs/deploy.md).

Without it BentoML's `X-BentoML-Request-ID` answer header, the span id of a request, is not
sent; riskloop's answers and logs never used it.
"""

from __future__ import annotations

from starlette.applications import Starlette


def configured_exporter() -> str | None:
    """The tracing exporter BentoML's configuration names (None: no spans leave the process)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    exporter = BentoMLContainer.config.tracing.exporter_type.get()
    return str(exporter) if exporter else None


def without_idle_tracing(app: Starlette, exporter: str | None) -> Starlette:
    """`app` (BentoML's, not yet started) without its tracing middleware when `exporter` is
    None; unchanged when an exporter is configured."""
    if exporter is None:
        # the class BentoML installs (imported here, as BentoML does, when the app is built)
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        app.user_middleware = [
            m for m in app.user_middleware if m.cls is not OpenTelemetryMiddleware
        ]
    return app
