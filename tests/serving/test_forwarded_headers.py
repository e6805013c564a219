"""No client is taken for a proxy unless the deployment says so (QA, 2026-12-07).

uvicorn, the server BentoML runs, believes `X-Forwarded-For` and `X-Forwarded-Proto` from the
addresses in `FORWARDED_ALLOW_IPS`, by default 127.0.0.1: any client on the machine could send
each failed sign-in under a new address (past the sign-in throttle, each a `sign_in_failed`
row) or claim HTTPS. The service now trusts no address unless that variable names one
(serving/service.py); a deployment behind a proxy on the same machine sets it to 127.0.0.1
(the second service's and the console's tests do, as such a deployment)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.processes import LOOPBACK_TLS
from tests.serving.conftest import Served


def test_the_service_believes_no_forwarded_header_from_a_client_on_the_machine(
    served: Served,
) -> None:
    # the session's service runs without FORWARDED_ALLOW_IPS (or with the empty default)
    assert os.environ.get("FORWARDED_ALLOW_IPS", "") == ""
    claimed = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with httpx.Client(base_url=served.url, follow_redirects=False, verify=LOOPBACK_TLS) as client:
        page = client.get("/console/sign-in", headers=claimed)
        assert page.status_code == 200
        # HTTPS claimed by a client, not a proxy: the cookie is the plain-HTTP one
        cookie = page.headers["set-cookie"].lower()
        assert cookie.startswith("riskloop_console_pre=") and "secure" not in cookie


def test_the_server_a_worker_builds_trusts_no_proxy_by_default() -> None:
    """What uvicorn reads once a worker has imported the service: no trusted address (one the
    deployment sets is kept: the second service's throttle tests tell clients apart by it)."""
    script = (
        "import serving.service, uvicorn\n"
        "from uvicorn.middleware.proxy_headers import _TrustedHosts\n"
        "hosts = _TrustedHosts(uvicorn.Config(app=None).forwarded_allow_ips)\n"
        "print('127.0.0.1' in hosts, '::1' in hosts)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"}
    answer = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert answer.stdout.strip().splitlines()[-1] == "False False", answer.stderr[-2000:]
