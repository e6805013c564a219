"""`POST /v1/admin/reload` takes no body: one that asks for something is refused, not ignored.

A QA run sent `{"task": "wage-arrears"}` (and `[1,2,3]`): each answered 200 and reloaded all
three tasks, as if the body had been read. Now such a body is a 400 in the API's error shape
saying the route takes none; nothing is reloaded (no `model_reload` row). No body, or `{}`
(what some clients send on every POST), reloads as before.
"""

from __future__ import annotations

import httpx

from serving.store import WarningStore

from .conftest import Served

RELOAD = "/v1/admin/reload"


def _reload_rows() -> int:
    """The reloads the operator's key asked for (the service's own alias check audits too)."""
    with WarningStore.from_settings() as store:
        return sum(
            1 for row in store.audit_rows(actor="key:operator") if row["action"] == "model_reload"
        )


def test_a_body_sent_to_the_reload_is_refused_and_nothing_reloads(served: Served) -> None:
    headers = served.headers("operator")
    before = _reload_rows()
    with served.client() as client:
        refused = [
            client.post(
                RELOAD, content=body, headers={**headers, "Content-Type": "application/json"}
            )
            for body in (b'{"task": "wage-arrears"}', b"[1, 2, 3]", b"null", b'"all"', b"0")
        ]
        assert _reload_rows() == before
        bodiless = client.post(RELOAD, headers=headers)
        empty_object = client.post(RELOAD, json={}, headers=headers)
    for answer in refused:
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert "takes no body" in answer.json()["error"], answer.text
    assert bodiless.status_code == empty_object.status_code == 200
    assert _reload_rows() == before + 2 * len(bodiless.json()["results"])


def test_the_document_says_the_reload_refuses_a_body(served: Served) -> None:
    document = httpx.get(f"{served.url}/docs.json", timeout=30).json()
    operation = document["paths"][RELOAD]["post"]
    assert "requestBody" not in operation
    assert "takes none" in operation["responses"]["400"]["description"]
