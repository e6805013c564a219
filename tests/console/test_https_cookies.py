"""The console's cookies are Secure wherever the deployment is reached over HTTPS.

Behind a TLS proxy that is not on the service's machine, uvicorn ignores the proxy's
`X-Forwarded-Proto` (it trusts it only from an address `FORWARDED_ALLOW_IPS` names, none by
default: serving/service.py), so the request looks like plain HTTP and the session cookie went out without
`Secure`. An https `RISKLOOP_PUBLIC_URL` or `RISKLOOP_ENV=production` now make every console
cookie Secure, whatever the last hop was: here a second real service on the same stores, asked
over plain HTTP without any forwarded header. (Plain HTTP in a test deployment stays without
`Secure`: tests/console/test_security.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.console.conftest import PASSWORD, SECOND_SERVICE_SETTINGS, Console, serve_beside
from tests.processes import LOOPBACK_TLS


@pytest.fixture(
    params=[
        {"RISKLOOP_PUBLIC_URL": "https://console.city.example"},
        {"RISKLOOP_ENV": "production"},
    ],
    ids=["https-public-url", "production"],
)
def deployed(request: pytest.FixtureRequest, console_service: Console) -> Iterator[str]:
    """A service whose deployment says it is reached over HTTPS."""
    with serve_beside(console_service, request.param) as url:
        yield url


def _set_cookies(answer: httpx.Response) -> dict[str, str]:
    """Each cookie the answer sets or clears: its name -> its attributes, lower case."""
    found = {}
    for key, value in answer.headers.multi_items():
        if key == "set-cookie":
            found[value.split("=", 1)[0]] = value.lower()
    return found


def test_every_console_cookie_is_secure_when_the_deployment_is_https(deployed: str) -> None:
    with httpx.Client(base_url=deployed, follow_redirects=False, verify=LOOPBACK_TLS) as client:
        page = client.get("/console/sign-in")  # no X-Forwarded-Proto: the proxy is not trusted
        assert page.status_code == 200
        pre = _set_cookies(page)["riskloop_console_pre"]
        assert "; secure" in pre and "httponly" in pre and "samesite=strict" in pre
        token = page.cookies["riskloop_console_pre"]
        signed = client.post(
            "/console/sign-in",
            data={"name": "lab", "password": PASSWORD, "csrf": token, "next": "/console/queue"},
            cookies={"riskloop_console_pre": token},
        )
        assert signed.status_code == 303, signed.text[:300]
        cookies = _set_cookies(signed)
        session = cookies["riskloop_console"]
        assert "; secure" in session and "httponly" in session and "samesite=strict" in session
        assert "; secure" in cookies["riskloop_console_pre"]  # cleared with the same attributes
        queue = client.get(
            "/console/queue", cookies={"riskloop_console": signed.cookies["riskloop_console"]}
        )
        assert queue.status_code == 200


def test_the_proxy_headers_are_trusted_only_from_forwarded_allow_ips(second_service: str) -> None:
    """What docs/deploy.md tells a deployment behind a proxy elsewhere: BentoML passes no
    address list of its own to uvicorn, which reads `FORWARDED_ALLOW_IPS` from the environment
    of `bentoml serve`. Set to another address, loopback's `X-Forwarded-Proto` is ignored, as
    it is when unset (tests/serving/test_forwarded_headers.py); set to 127.0.0.1, as the
    console's own service runs, it is believed (tests/console/test_security.py)."""
    assert SECOND_SERVICE_SETTINGS["FORWARDED_ALLOW_IPS"] == "192.0.2.1"
    with httpx.Client(
        base_url=second_service, follow_redirects=False, verify=LOOPBACK_TLS
    ) as client:
        page = client.get("/console/sign-in", headers={"X-Forwarded-Proto": "https"})
        pre = _set_cookies(page)["riskloop_console_pre"]
        assert "; secure" not in pre and "httponly" in pre
