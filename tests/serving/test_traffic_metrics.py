"""Request paths to metrics labels (`serving.traffic_metrics.RouteLabels`), on Starlette apps."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from serving.traffic_metrics import UNMATCHED, RouteLabels


def _ok(_request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _labels(tmp_path: object) -> RouteLabels:
    inner = Starlette(
        routes=[
            Route("/cases/{warning_id}", _ok),
            Route("/cases/{warning_id}/act", _ok, methods=["POST"]),
            Route("/queue", _ok),
            Mount("/static", app=StaticFiles(directory=str(tmp_path))),
        ]
    )
    app = Starlette(
        routes=[
            Route("/readyz", _ok),
            Route("/v1/wage-arrears/score", _ok, methods=["POST"]),
            Route("/items/{n:int}", _ok),
            Mount("/console", app=inner),
        ]
    )
    return RouteLabels(app.routes)


def test_paths_get_their_routes_template(tmp_path: object) -> None:
    labels = _labels(tmp_path)
    assert labels("/readyz") == "/readyz"
    assert labels("/v1/wage-arrears/score") == "/v1/wage-arrears/score"
    assert labels("/items/12") == "/items/{n}"
    assert labels("/console/cases/W-1") == "/console/cases/{warning_id}"
    assert labels("/console/cases/W-1/act") == "/console/cases/{warning_id}/act"
    assert labels("/console/queue") == "/console/queue"
    assert labels("/console/static/app.css") == "/console/static/{path}"


def test_paths_nobody_serves_share_one_label_per_mount(tmp_path: object) -> None:
    labels = _labels(tmp_path)
    assert labels("/console/nothing/here") == "/console/{path}"
    assert labels("/items/not-a-number") == UNMATCHED
    assert labels("/330102199001017788") == UNMATCHED
    assert labels("/readyz/extra") == UNMATCHED
    made_up = {labels(f"/made-up-{i}") for i in range(1000)}
    assert made_up == {UNMATCHED}
    assert labels.labels() == {
        "/readyz",
        "/v1/wage-arrears/score",
        "/items/{n}",
        "/console/cases/{warning_id}",
        "/console/cases/{warning_id}/act",
        "/console/queue",
        "/console/static/{path}",
        "/console/{path}",
        UNMATCHED,
    }
