"""Failed sign-ins are throttled per client address (a penetration tester's finding).

Anyone could fill the append-only audit log, and keep the service hashing passwords, with
sign-ins under made-up names: 40 in 6.6 s, each a `sign_in_failed` row and an Argon2 hash.
Now, past `RISKLOOP_SIGN_IN_THROTTLE_FAILURES` failures within the window from one client
address, its sign-ins (API and console alike) are answered 429 with `Retry-After`, without a
password check or a `sign_in_failed` row, and one `access_refused` row a window.

Its own service (a small limit and window) on the session's stores; clients told apart by
`X-Forwarded-For`, which the server takes from 127.0.0.1 (uvicorn's `FORWARDED_ALLOW_IPS`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.processes import LOOPBACK_TLS, free_port, stop_process_group

from .conftest import start_service

PASSWORD = "a long enough password"
FAILURES = 3
WINDOW_S = 4


@pytest.fixture(scope="module")
def throttled_url(serving_root: Any, trained: dict[str, int]) -> Iterator[str]:
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        store.create_user("tang.throttle", department="tax", role="officer", password=PASSWORD)
    port = free_port()
    process, log = start_service(
        serving_root,
        port,
        {
            "RISKLOOP_SIGN_IN_THROTTLE_FAILURES": str(FAILURES),
            "RISKLOOP_SIGN_IN_THROTTLE_WINDOW_S": str(WINDOW_S),
        },
    )
    if process.poll() is not None:
        raise RuntimeError(f"service exited at start-up; log:\n{log.read_text()[-4000:]}")
    yield f"http://127.0.0.1:{port}"
    stop_process_group(process)


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def _audit(actions: set[str]) -> list[dict[str, Any]]:
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        return [row for row in store.audit_rows() if row["action"] in actions]


def test_failed_sign_ins_from_one_client_are_held_back(throttled_url: str) -> None:
    client_a, client_b = "203.0.113.10", "203.0.113.20"
    failed_before = len(_audit({"sign_in_failed"}))
    with httpx.Client(base_url=throttled_url, timeout=60, verify=LOOPBACK_TLS) as http:
        for n in range(FAILURES):
            wrong = http.post(
                "/v1/session",
                json={"name": f"made.up.{n}", "password": PASSWORD},
                headers=_from(client_a),
            )
            assert wrong.status_code == 401, wrong.text
        # the right password too: no password is checked while the client is held back
        held = [
            http.post(
                "/v1/session",
                json={"name": "tang.throttle", "password": PASSWORD},
                headers=_from(client_a),
            )
            for _ in range(3)
        ]
        # another client is not held back
        other = http.post(
            "/v1/session",
            json={"name": "tang.throttle", "password": PASSWORD},
            headers=_from(client_b),
        )
        assert other.status_code == 200, other.text
        for answer in held:
            assert answer.status_code == 429, answer.text
            assert 1 <= int(answer.headers["Retry-After"]) <= WINDOW_S
            assert "too many failed sign-ins" in answer.json()["error"]
            assert answer.json()["rule_zh"]
        # one row a window, not one an attempt; no failure recorded for the held-back ones
        refused = [r for r in _audit({"access_refused"}) if r["actor"] == f"client:{client_a}"]
        assert len(refused) == 1, refused
        assert refused[0]["detail"]["rule"] == "too many failed sign-ins from this client"
        assert refused[0]["detail"]["path"] == "POST /v1/session"
        assert len(_audit({"sign_in_failed"})) - failed_before == FAILURES

        time.sleep(int(held[-1].headers["Retry-After"]) + 0.2)
        again = http.post(
            "/v1/session",
            json={"name": "tang.throttle", "password": PASSWORD},
            headers=_from(client_a),
        )
        assert again.status_code == 200, again.text


def test_the_console_holds_back_a_client_in_the_persons_language(throttled_url: str) -> None:
    client = "203.0.113.30"
    with httpx.Client(
        base_url=throttled_url, timeout=60, verify=LOOPBACK_TLS, follow_redirects=False
    ) as browser:
        pre = browser.get("/console/sign-in").cookies["riskloop_console_pre"]

        def sign_in(password: str, lang: str = "zh") -> httpx.Response:
            form = {"name": "tang.throttle", "password": password, "csrf": pre, "lang": lang}
            return browser.post("/console/sign-in", data=form, headers=_from(client))

        for _ in range(FAILURES):
            assert sign_in("not the password at all").status_code == 401
        held = sign_in(PASSWORD)
        english = sign_in(PASSWORD, "en")
    assert held.status_code == english.status_code == 429, held.text[:300]
    assert 1 <= int(held.headers["Retry-After"]) <= WINDOW_S
    assert "登录失败次数过多" in held.text
    assert "Too many failed sign-ins from this network address" in english.text
    refused = [r for r in _audit({"access_refused"}) if r["actor"] == f"client:{client}"]
    assert [r["detail"]["path"] for r in refused] == ["POST /console/sign-in"]
    assert refused[0]["detail"]["channel"] == "console"
