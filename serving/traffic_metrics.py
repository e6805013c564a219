"""BentoML's request metrics at `/metrics`, labelled by route rather than by the path sent.

BentoML's traffic middleware, the outermost of the server's, labels every request's counters
by the raw path: `/v1/warnings/W-1` and `/v1/warnings/W-2` each made series of their own, and so
did every path nobody serves. `/metrics` is open (a scraper has no credentials), and it runs
before the request guard: anyone who could reach the port could grow the worker's memory
without end by asking for made-up paths, and whatever they wrote in a path (an identity-card
number sent by mistake in place of a warning id) was published there.

`TemplatedTrafficMetrics` is BentoML's middleware, fed the route's template in place of the
path (`/v1/warnings/{warning_id}`; `/console/{path}` for a path under a mount that no route
of it serves; `unmatched` for the rest), and the path restored for the app inside. The labels
are therefore bounded by the routing table, and a path's values never reach them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

#: The label of a path that no route serves.
UNMATCHED = "unmatched"
#: Where the real path waits in the scope while BentoML's middleware sees the label.
_SENT_PATH = "riskloop.sent_path"


class RouteLabels:
    """Maps a request path to the template of the route that serves it: a path without
    parameters by itself, the others in the router's order (a mount's own routes before the
    mount's catch-all). The method is not part of the label, as in BentoML's."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._exact: dict[str, str] = {}
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        self._add(routes, "")

    def _add(self, routes: Sequence[BaseRoute], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                mounted = prefix + route.path
                self._add(route.routes, mounted)
                # a path under the mount that none of its routes serves (and a static file)
                self._patterns.append(
                    (re.compile(f"^{re.escape(mounted)}/.*$"), f"{mounted}/{{path}}")
                )
                continue
            regex: re.Pattern[str] | None = getattr(route, "path_regex", None)
            template: str | None = getattr(route, "path_format", None)
            if regex is None or template is None:
                continue  # a host route or another kind without a path: its requests stay unmatched
            label = prefix + template
            if not getattr(route, "param_convertors", None):
                self._exact.setdefault(label, label)
            else:
                body = regex.pattern.removeprefix("^")
                self._patterns.append((re.compile(f"^{re.escape(prefix)}{body}"), label))

    def __call__(self, path: str) -> str:
        label = self._exact.get(path)
        if label is not None:
            return label
        for pattern, label in self._patterns:
            if pattern.match(path):
                return label
        return UNMATCHED

    def labels(self) -> set[str]:
        """Every label a request can get (bounded by the routes)."""
        return {*self._exact.values(), *(label for _, label in self._patterns), UNMATCHED}


class TemplatedTrafficMetrics(RunnerTrafficMetricsMiddleware):  # type: ignore[misc]
    """BentoML's traffic metrics middleware, counting each request under its route's label."""

    def __init__(self, app: ASGIApp, /, *, route_labels: RouteLabels, **options: Any) -> None:
        super().__init__(_with_sent_path(app), **options)
        self._route_labels = route_labels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            scope = {**scope, "path": self._route_labels(path), _SENT_PATH: path}
        await super().__call__(scope, receive, send)


def _with_sent_path(app: ASGIApp) -> ASGIApp:
    """The app, called with the path that was sent (the label was only for the metrics)."""

    async def restore(scope: Scope, receive: Receive, send: Send) -> None:
        if _SENT_PATH in scope:
            scope = {**scope, "path": scope[_SENT_PATH]}
            del scope[_SENT_PATH]
        await app(scope, receive, send)

    return restore


def label_metrics_by_route(app: Starlette) -> Starlette:
    """`app` (BentoML's, not yet started) with its traffic metrics labelled by route."""
    labels = RouteLabels(app.routes)
    app.user_middleware = [
        Middleware(TemplatedTrafficMetrics, *m.args, route_labels=labels, **m.kwargs)
        if m.cls is RunnerTrafficMetricsMiddleware
        else m
        for m in app.user_middleware
    ]
    return app
