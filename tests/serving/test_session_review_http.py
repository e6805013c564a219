"""Over HTTP against the running service: a disabled account's session token stays ended
when the account is enabled again, and a name with control characters sent to
`POST /v1/session` gets the uniform refusal and one clean audit row."""

from __future__ import annotations

from .conftest import Served

PASSWORD = "a long enough password"


def test_a_token_refused_at_a_disable_is_not_let_back_in_by_an_enable(served: Served) -> None:
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        store.create_user("chen.http", department="tax", role="officer", password=PASSWORD)
    with served.client() as client:
        signed = client.post("/v1/session", json={"name": "chen.http", "password": PASSWORD})
        old = {"Authorization": f"Bearer {signed.json()['token']}"}
        assert client.get("/v1/warnings", headers=old).status_code == 200
        with WarningStore.from_settings() as store:
            store.disable_user("chen.http")
        assert client.get("/v1/warnings", headers=old).status_code == 401
        with WarningStore.from_settings() as store:
            store.enable_user("chen.http")
        refused = client.get("/v1/warnings", headers=old)
        assert refused.status_code == 401, refused.text
        again = client.post("/v1/session", json={"name": "chen.http", "password": PASSWORD})
        new = {"Authorization": f"Bearer {again.json()['token']}"}
        assert client.get("/v1/warnings", headers=new).status_code == 200


def test_a_sign_in_name_with_control_characters_is_audited_as_its_fingerprint(
    served: Served,
) -> None:
    from serving.store import WarningStore
    from serving.store.people import typed_user_name

    forged = "evil3\n2026-12-05T09:00:00+08:00\tuser:wang\tidentity_reveal\t-\t{}"
    with served.client() as client:
        refused = client.post("/v1/session", json={"name": forged, "password": PASSWORD})
        unknown = client.post("/v1/session", json={"name": "nobody.x", "password": PASSWORD})
    assert refused.status_code == unknown.status_code == 401
    assert refused.json() == unknown.json()
    with WarningStore.from_settings() as store:
        actors = [r["actor"] for r in store.audit_rows() if r["action"] == "sign_in_failed"]
    # no user is called so: only the name's keyed fingerprint is kept, never the name
    assert store.unknown_name_actor(typed_user_name(forged)) in actors
    assert store.unknown_name_actor("nobody.x") in actors
    assert not any("evil3" in actor or "nobody.x" in actor for actor in actors)
