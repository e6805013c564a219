"""The service's own address leads to the console; BentoML's index page (Swagger UI, which
loads Google Tag Manager from googletagmanager.com) and its assets are not served."""

from __future__ import annotations

import httpx

from tests.processes import LOOPBACK_TLS

from .conftest import Served


def test_the_address_leads_to_the_console_and_loads_nothing_from_elsewhere(
    served: Served,
) -> None:
    with httpx.Client(base_url=served.url, verify=LOOPBACK_TLS) as client:
        home = client.get("/")
        assert home.status_code == 307 and home.headers["location"] == "/console/"
        assert b"googletagmanager" not in home.content and home.content == b""
        assert client.head("/").status_code == 307
        refused = client.post("/", json={})
        assert refused.status_code == 405 and refused.headers["allow"] == "GET"
        assert refused.json() == {"error": "the service's address takes GET only"}
        for asset in (
            "/static_content/swagger-ui-bundle.js",
            "/static_content",
            "/static_content/",
        ):
            answer = client.get(asset)
            assert answer.status_code == 404, asset
            assert "error" in answer.json()
        # followed, the address is the console's sign-in page, in riskloop's own pages
        page = client.get("/", follow_redirects=True)
        assert page.status_code == 200 and "/console/" in str(page.url)
        assert "googletagmanager" not in page.text and "swagger" not in page.text.lower()
        # the OpenAPI document is still served
        assert client.get("/docs.json").status_code == 200
