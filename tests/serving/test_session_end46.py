"""A person's sessions can be ended by the person (a penetration tester's finding).

`DELETE /v1/session` was a 405 and the console's sign-out left the API token working: only an
administrator's reset or disable ended a token. Now `DELETE /v1/session` and the console's
sign-out each end every session of the person, API tokens and console sessions alike (the
password kept), audited as one `sign_out` row; a key gets a clear 403.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.processes import LOOPBACK_TLS

from .conftest import Served

PASSWORD = "a long enough password"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _person(name: str) -> None:
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        store.create_user(name, department="tax", role="officer", password=PASSWORD)


def _token(client: httpx.Client, name: str) -> dict[str, str]:
    signed = client.post("/v1/session", json={"name": name, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    return {"Authorization": f"Bearer {signed.json()['token']}"}


@contextmanager
def _console(served: Served, name: str) -> Iterator[httpx.Client]:
    """A browser's console session of `name`, through the sign-in form."""
    with httpx.Client(
        base_url=served.url, follow_redirects=False, timeout=60, verify=LOOPBACK_TLS
    ) as browser:
        pre = browser.get("/console/sign-in").cookies["riskloop_console_pre"]
        signed = browser.post(
            "/console/sign-in",
            data={"name": name, "password": PASSWORD, "csrf": pre, "next": "/console/queue"},
        )
        assert signed.status_code == 303, signed.text[:300]
        yield browser


def _sign_outs(name: str) -> list[dict[str, Any]]:
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        return [
            row for row in store.audit_rows(actor=f"user:{name}") if row["action"] == "sign_out"
        ]


def test_delete_session_ends_every_session_of_the_person(served: Served) -> None:
    _person("lin.out")
    with served.client() as client, _console(served, "lin.out") as browser:
        first, second = _token(client, "lin.out"), _token(client, "lin.out")
        assert client.get("/v1/warnings", headers=second).status_code == 200
        assert browser.get("/console/queue").status_code == 200

        ended = client.delete("/v1/session", headers=first)
        assert ended.status_code == 204, ended.text
        assert ended.content == b""

        for token in (first, second):  # the one sent and the person's other token
            refused = client.get("/v1/warnings", headers=token)
            assert refused.status_code == 401, refused.text
            assert "signed out" in refused.json()["error"], refused.json()
        assert client.delete("/v1/session", headers=first).status_code == 401
        # the console session of the same account ended with them
        page = browser.get("/console/queue")
        assert page.status_code in (302, 303) and "/console/sign-in" in page.headers["location"]
        # the password stays: signing in again works
        again = _token(client, "lin.out")
        assert client.get("/v1/warnings", headers=again).status_code == 200

    (row,) = _sign_outs("lin.out")
    assert row["detail"]["channel"] == "api"
    assert row["detail"]["sessions"].startswith("every session ended")
    assert row["detail"]["console_sessions_ended"] == 1


def test_the_consoles_sign_out_ends_the_persons_api_tokens(served: Served) -> None:
    _person("lin.console")
    with served.client() as client, _console(served, "lin.console") as browser:
        token = _token(client, "lin.console")
        csrf = _CSRF.search(browser.get("/console/queue").text)
        assert csrf is not None
        out = browser.post("/console/sign-out", data={"csrf": csrf.group(1)})
        assert out.status_code == 303 and "out=1" in out.headers["location"], out.text[:300]
        refused = client.get("/v1/warnings", headers=token)
        assert refused.status_code == 401 and "signed out" in refused.json()["error"]
        # the signed-out page says every session ended, in the person's language
        page = browser.get(out.headers["location"])
        assert "所有会话均已结束" in page.text and "API" in page.text
        english = browser.get("/console/sign-in", params={"lang": "en", "out": "1"})
        assert "Every session of your account has ended" in english.text
    (row,) = _sign_outs("lin.console")
    assert row["detail"]["channel"] == "console"


def test_a_key_cannot_end_a_session_and_none_is_unauthenticated(served: Served) -> None:
    with served.client() as client:
        by_key = client.delete("/v1/session", headers=served.headers("reviewer"))
        anonymous = client.delete("/v1/session")
    assert by_key.status_code == 403, by_key.text
    assert "API key has no session" in by_key.json()["error"]
    assert by_key.json()["rule_zh"]
    assert anonymous.status_code == 401
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:  # refused by the policy, on the record
        refused = store.audit_rows(actor="key:reviewer", actions=["access_refused"])[-1]
    assert refused["detail"]["attempted"] == "sign_out"
    assert refused["detail"]["path"] == "DELETE /v1/session"


def test_the_document_declares_the_sign_out(served: Served) -> None:
    document = httpx.get(f"{served.url}/docs.json", timeout=30, verify=LOOPBACK_TLS).json()
    sign_out = document["paths"]["/v1/session"]["delete"]
    assert sign_out["security"] == [{"bearer": []}]
    assert {"204", "401", "403"} <= set(sign_out["responses"])
    sign_in = document["paths"]["/v1/session"]["post"]
    assert sign_in["security"] == []
    assert sign_in["responses"]["429"]["headers"]["Retry-After"]["required"] is True
