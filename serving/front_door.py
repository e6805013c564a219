"""The service's address itself: `/` leads to the console, BentoML's own pages are not served.

BentoML mounts an index page at `/` (its Swagger UI, which loads Google Tag Manager from
googletagmanager.com) and that page's assets under `/static_content`. riskloop downloads
nothing at run time and its pages load nothing from elsewhere, so neither is served: `/`
redirects to the review console (which asks for a sign-in), `/static_content/...` is a 404.
The OpenAPI document stays at `/docs.json`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from serving.guard import send_json

#: Where `/` leads: the console's own entry (its sign-in page when no one is signed in).
HOME = "/console/"
_BENTOML_ASSETS = "/static_content"


class FrontDoor:
    """ASGI middleware answering `/` and BentoML's asset paths before BentoML does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/":
            if scope["method"] in ("GET", "HEAD"):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 307,
                        "headers": [
                            (b"location", HOME.encode()),
                            (b"content-length", b"0"),
                            (b"cache-control", b"no-store"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
            await send_json(
                send, 405, {"error": "the service's address takes GET only"}, {"allow": "GET"}
            )
            return
        if path == _BENTOML_ASSETS or path.startswith(_BENTOML_ASSETS + "/"):
            await send_json(send, 404, {"error": f"no such page: {path[:80]}"})
            return
        await self.app(scope, receive, send)
