"""The authorisation policy against the running service: role x department x endpoint.

People sign in over HTTP (`POST /v1/session`) and keys use their bearer secret; every cell of
the matrix is one real request, and the expected answers are written out here, independently of
`serving.policy`. The matrix is printed in the test output. Reveal has its own walk: the right
officer gets the id, others 403, a short purpose 422, the 31st reveal in an hour 429, and every
reveal is in `riskloop audit` with its purpose.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

from .conftest import Served
from .test_service import materialized

PASSWORD = "a long enough password"
TASK = "wage-arrears"
PEOPLE = {
    "off_labour": ("labour_inspection", "officer"),
    "off_tax": ("tax", "officer"),
    "sup_county": ("county_centre", "supervisor"),
    "sup_fraud": ("anti_fraud", "supervisor"),
    "auditor": ("data_office", "auditor"),
    "admin": ("data_office", "admin"),
    "off_reveal": ("labour_inspection", "officer"),
}
EXTRA_KEYS = {
    "labour-desk": (("review", "feedback", "reveal"), "labour_inspection"),
    "audit-desk": (("audit",), None),
    # a scoring key bound to a department scores only the tasks that department handles
    "labour-scorer": (("score",), "labour_inspection"),
    "fraud-scorer": (("score",), "anti_fraud"),
}
ENDPOINTS = ("score", "list", "read", "page", "feedback", "reveal", "reload", "audit")
# 409 on feedback: the policy let the step through and the store refused the stale version
EXPECTED: dict[str, tuple[int, ...]] = {
    "user:off_labour (officer, labour_inspection)": (403, 200, 200, 200, 409, 200, 403, 403),
    "user:off_tax (officer, tax)": (403, 200, 403, 403, 403, 403, 403, 403),
    "user:sup_county (supervisor, county_centre)": (403, 200, 200, 200, 403, 200, 403, 403),
    "user:sup_fraud (supervisor, anti_fraud)": (403, 200, 403, 403, 403, 403, 403, 403),
    "user:auditor (auditor, data_office)": (403, 200, 200, 200, 403, 403, 403, 200),
    "user:admin (admin, data_office)": (403, 403, 403, 403, 403, 403, 200, 403),
    "key:scorer (score)": (200, 403, 403, 403, 403, 403, 403, 403),
    "key:reviewer (review)": (403, 200, 200, 200, 403, 403, 403, 403),
    "key:caseworker (feedback)": (403, 403, 403, 403, 409, 403, 403, 403),
    "key:operator (admin)": (403, 403, 403, 403, 403, 403, 200, 403),
    "key:labour-desk (review,feedback,reveal; labour_inspection)": (
        403, 200, 200, 200, 409, 200, 403, 403,
    ),
    "key:audit-desk (audit)": (403, 403, 403, 403, 403, 403, 403, 200),
    "key:labour-scorer (score; labour_inspection)": (200, 403, 403, 403, 403, 403, 403, 403),
    "key:fraud-scorer (score; anti_fraud)": (403, 403, 403, 403, 403, 403, 403, 403),
    # bound before `keys create` refused binding an audit key: the log spans every department
    "key:labour-audit (review,audit; labour_inspection)": (
        403, 200, 200, 200, 403, 403, 403, 403,
    ),
}  # fmt: skip


@dataclass
class World:
    """The served service with people, extra keys and one warning dispatched to labour."""

    served: Served
    headers: dict[str, dict[str, str]]
    warning_id: str
    entity_id: str

    def client(self) -> httpx.Client:
        return self.served.client()


def _sign_in(client: httpx.Client, name: str) -> dict[str, str]:
    answer = client.post("/v1/session", json={"name": name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["role"] == PEOPLE[name][1]
    return {"Authorization": f"Bearer {answer.json()['token']}"}


@pytest.fixture(scope="module")
def world(served: Served) -> Iterator[World]:
    from models.settings import get_settings
    from serving.auth import create_key
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        for name, (department, role) in PEOPLE.items():
            store.create_user(name, department=department, role=role, password=PASSWORD)
    keys = {
        name: create_key(name, scopes, department=department)
        for name, (scopes, department) in EXTRA_KEYS.items()
    }
    # a key file written before the audit scope and a department were refused together
    keys["labour-audit"] = create_key("labour-audit", ("review", "audit"))
    keys_file = get_settings().keys_file
    payload = json.loads(keys_file.read_text("utf-8"))
    for record in payload["keys"]:
        if record["name"] == "labour-audit":
            record["department"] = "labour_inspection"
    keys_file.write_text(json.dumps(payload), "utf-8")
    ids = materialized(served, TASK)["entity_id"].astype(str).tolist()[:80]
    with served.client() as client:
        scored = client.post(
            f"/v1/{TASK}/score", json={"entity_ids": ids}, headers=served.headers("scorer")
        )
        assert scored.status_code == 200, scored.text
        warned = next(r for r in scored.json()["results"] if r["warning_id"])
        headers = {name: _sign_in(client, name) for name in PEOPLE}
        dispatched = client.post(
            f"/v1/warnings/{warned['warning_id']}/feedback",
            json={"status": "dispatched", "department": "labour_inspection"},
            headers=headers["sup_county"],
        )
        assert dispatched.status_code == 200, dispatched.text
        assert dispatched.json()["department"] == "labour_inspection"
    for name, key in {**served.keys, **keys}.items():
        headers[f"key:{name}"] = {"Authorization": f"Bearer {key}"}
    yield World(served, headers, warned["warning_id"], warned["entity_id"])


def _call(client: httpx.Client, endpoint: str, world: World, headers: dict[str, str]) -> int:
    warning = f"/v1/warnings/{world.warning_id}"
    requests = {
        "score": ("POST", f"/v1/{TASK}/score", {"entity_ids": [world.entity_id]}),
        "list": ("GET", f"/v1/warnings?task={TASK}", None),
        "read": ("GET", warning, None),
        "page": ("GET", f"{warning}/explanation", None),
        "feedback": (
            "POST",
            f"{warning}/feedback",
            {"status": "in_progress", "expected_version": 99},
        ),
        "reveal": ("POST", f"{warning}/reveal", {"purpose": "policy matrix check"}),
        "reload": ("POST", "/v1/admin/reload", None),
        "audit": ("GET", f"/v1/audit?warning_id={world.warning_id}", None),
    }
    method, path, body = requests[endpoint]
    answer = client.request(method, path, json=body, headers=headers)
    if answer.status_code == 403:
        assert answer.json()["error"] and answer.json()["rule_zh"]  # the rule, in both languages
    return answer.status_code


def _actor_header(world: World, label: str) -> dict[str, str]:
    name = label.split(" ")[0]
    return (
        world.headers[name.removeprefix("user:")]
        if name.startswith("user:")
        else world.headers[name]
    )


def test_role_department_endpoint_matrix(world: World, request: pytest.FixtureRequest) -> None:
    with world.client() as client:
        answers = {
            label: tuple(
                _call(client, endpoint, world, _actor_header(world, label))
                for endpoint in ENDPOINTS
            )
            for label in EXPECTED
        }
    width = max(len(label) for label in EXPECTED)
    lines = [f"{'actor':<{width}}  " + " ".join(f"{e:>8}" for e in ENDPOINTS)]
    for label, codes in answers.items():
        marks = [
            f"{code:>7}{' ' if code == want else '!'}"
            for code, want in zip(codes, EXPECTED[label], strict=True)
        ]
        lines.append(f"{label:<{width}}  " + " ".join(marks))
    # printed at the end of the run, from whichever worker process ran it (tests/conftest.py)
    request.node.user_properties.append(
        (
            "printed",
            "policy matrix (HTTP status per endpoint; '!' marks a difference):\n"
            + "\n".join(lines),
        )
    )
    assert answers == EXPECTED


def test_listings_show_only_what_the_policy_lets_each_actor_see(world: World) -> None:
    def listed(name: str) -> set[str]:
        with world.client() as client:
            answer = client.get(
                "/v1/warnings", params={"page_size": 500}, headers=world.headers[name]
            )
        assert answer.status_code == 200, answer.text
        return {item["id"] for item in answer.json()["items"]}

    assert world.warning_id in listed("off_labour")
    assert world.warning_id not in listed("off_tax")
    assert world.warning_id in listed("sup_county")  # the task's owner sees all of it
    assert world.warning_id not in listed("sup_fraud")
    with world.client() as client:
        everything = client.get(
            "/v1/warnings", params={"page_size": 500}, headers=world.headers["auditor"]
        ).json()
    assert everything["total"] >= len(listed("sup_county"))


def test_reveal_walk(world: World, served: Served) -> None:
    from training.cli import app

    reveal = f"/v1/warnings/{world.warning_id}/reveal"
    purpose = "visit the employer about unpaid wages"
    with world.client() as client:
        allowed = client.post(
            reveal, json={"purpose": purpose}, headers=world.headers["off_labour"]
        )
        assert allowed.status_code == 200, allowed.text
        assert allowed.json() == {"warning_id": world.warning_id, "entity_id": world.entity_id}
        for name in ("off_tax", "auditor", "key:reviewer", "key:caseworker"):
            refused = client.post(reveal, json={"purpose": purpose}, headers=world.headers[name])
            assert refused.status_code == 403, (name, refused.text)
        for body in ({}, {"purpose": "too short"}, {"purpose": 12345678901}):
            invalid = client.post(reveal, json=body, headers=world.headers["off_labour"])
            assert invalid.status_code == 422, (body, invalid.text)
        limited_purpose = "checking the hourly reveal limit"
        for attempt in range(30):
            ok = client.post(
                reveal, json={"purpose": limited_purpose}, headers=world.headers["off_reveal"]
            )
            assert ok.status_code == 200, (attempt, ok.text)
        over = client.post(
            reveal, json={"purpose": limited_purpose}, headers=world.headers["off_reveal"]
        )
        assert over.status_code == 429 and 0 < int(over.headers["Retry-After"]) <= 3600
    story = CliRunner().invoke(app, ["audit", "--warning", world.warning_id])
    assert story.exit_code == 0, story.output
    reveals = [line for line in story.output.splitlines() if "\tidentity_reveal\t" in line]
    assert sum(purpose in line for line in reveals) == 1
    assert sum(limited_purpose in line for line in reveals) == 30
    assert all(world.entity_id not in line for line in story.output.splitlines())
    by_actor = CliRunner().invoke(app, ["audit", "--actor", "off_reveal"])
    assert by_actor.exit_code == 0 and by_actor.output.count("identity_reveal") == 30


def test_disabled_people_lose_their_session_at_once(world: World) -> None:
    from serving.store import WarningStore

    with WarningStore.from_settings() as store:
        store.create_user("leaver", department="tax", role="officer", password=PASSWORD)
    with world.client() as client:
        signed = client.post("/v1/session", json={"name": "leaver", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {signed.json()['token']}"}
        assert client.get("/v1/warnings", headers=headers).status_code == 200
        with WarningStore.from_settings() as store:
            store.disable_user("leaver")
        assert client.get("/v1/warnings", headers=headers).status_code == 401
        wrong = client.post("/v1/session", json={"name": "leaver", "password": "nope nope nope"})
        assert wrong.status_code == 401
        forged = {"Authorization": "Bearer rs_eyJ1IjoiYWRtaW4iLCJleHAiOjk5OTk5OTk5OTl9.AAAA"}
        assert client.get("/v1/warnings", headers=forged).status_code == 401


def test_a_password_reset_ends_the_sessions_signed_in_before_it(world: World) -> None:
    """Whoever held the old password is signed out: the API token issued before the reset is
    refused, a sign-in with the new password works, and the reset is audited with the count
    of console sessions it ended."""
    from serving.store import WarningStore

    new_password = "another long enough password"
    with WarningStore.from_settings() as store:
        store.create_user("resetter", department="tax", role="officer", password=PASSWORD)
    with world.client() as client:
        signed = client.post("/v1/session", json={"name": "resetter", "password": PASSWORD})
        old = {"Authorization": f"Bearer {signed.json()['token']}"}
        assert client.get("/v1/warnings", headers=old).status_code == 200
        with WarningStore.from_settings() as store:
            store.reset_password("resetter", new_password)
            (row,) = [r for r in store.audit_rows() if r["action"] == "user_password_reset"][-1:]
        refused = client.get("/v1/warnings", headers=old)
        assert refused.status_code == 401 and "password changed" in refused.json()["error"]
        again = client.post("/v1/session", json={"name": "resetter", "password": new_password})
        new = {"Authorization": f"Bearer {again.json()['token']}"}
        assert client.get("/v1/warnings", headers=new).status_code == 200
    assert row["detail"] == {"user": "resetter", "sessions_ended": 0}


def test_refusals_say_what_is_allowed(world: World) -> None:
    with world.client() as client:
        wrong_method = client.get(f"/v1/{TASK}/score", headers=world.headers["key:scorer"])
        assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
        refused = client.get("/v1/warnings", headers=world.headers["admin"])
        assert refused.status_code == 403
        assert refused.json()["error"] == (
            "administrators manage users, keys and models and see no case content"
        )
        assert refused.json()["rule_zh"] == "管理员只管理用户、密钥和模型，不查看案件内容"


def test_audit_reads_every_look(world: World) -> None:
    with world.client() as client:
        client.get(f"/v1/warnings/{world.warning_id}", headers=world.headers["auditor"])
        story = client.get(
            "/v1/audit", params={"warning_id": world.warning_id}, headers=world.headers["auditor"]
        ).json()["items"]
    looks = {(row["actor"], row["action"]) for row in story}
    assert ("user:auditor", "warning_read") in looks
    assert ("user:off_labour", "warning_page") in looks
    assert ("user:sup_county", "disposition") in looks
    listed = [row for row in story if row["action"] == "warning_list"]
    assert listed and all("filter" in row["detail"] for row in listed)


def test_a_refused_look_at_a_case_is_in_the_audit_log_with_the_rule_that_refused_it(
    world: World,
) -> None:
    """Every look at a case is recorded, the refused ones too: an officer of another
    department trying to read, open, reveal or work the labour department's case, and a
    request the role may not make at all (the audit log), each leave a row naming who tried
    what, on which case, and the rule."""
    warning = f"/v1/warnings/{world.warning_id}"
    tax = world.headers["off_tax"]
    with world.client() as client:
        before = client.get(
            "/v1/audit",
            params={"actor": "off_tax", "limit": 5000},
            headers=world.headers["auditor"],
        ).json()["items"]
        since = max((row["id"] for row in before), default=0)
        tries = [
            client.get(warning, headers=tax),
            client.get(f"{warning}/explanation", headers=tax),
            client.post(f"{warning}/reveal", json={"purpose": "curious about it"}, headers=tax),
            client.post(f"{warning}/feedback", json={"status": "in_progress"}, headers=tax),
            client.get("/v1/audit", headers=tax),
        ]
        assert [answer.status_code for answer in tries] == [403] * 5
        story = client.get(
            "/v1/audit",
            params={"actor": "off_tax", "limit": 5000},
            headers=world.headers["auditor"],
        ).json()["items"]
    refused = [row for row in story if row["id"] > since and row["action"] == "access_refused"]
    attempted = [row["detail"]["attempted"] for row in refused]
    assert attempted == ["warning_read", "warning_page", "reveal", "feedback", "audit_read"]
    on_case = [row for row in refused if row["detail"]["attempted"] != "audit_read"]
    assert all(row["detail"]["warning_id"] == world.warning_id for row in on_case)
    assert all(row["task"] == TASK and row["actor"] == "user:off_tax" for row in on_case)
    assert refused[-1]["detail"]["path"] == "GET /v1/audit"
    rules = {answer.json()["error"] for answer in tries}
    assert {row["detail"]["rule"] for row in refused} == rules


def test_a_request_the_role_or_scope_refuses_names_its_case_in_the_audit_log(
    world: World,
) -> None:
    """Refused before any case is read (the key lacks the scope, the role may not reveal):
    the row still names the warning of the path, so the case's own story shows the attempt."""
    warning = f"/v1/warnings/{world.warning_id}"
    purpose = {"purpose": "policy check of refusals"}
    with world.client() as client:
        tries = [
            client.post(f"{warning}/reveal", json=purpose, headers=world.headers["key:scorer"]),
            client.post(f"{warning}/reveal", json=purpose, headers=world.headers["auditor"]),
            client.get(warning, headers=world.headers["admin"]),
            client.get("/v1/warnings/W-not-an-id", headers=world.headers["admin"]),
        ]
        assert [answer.status_code for answer in tries] == [403] * 4
        story = client.get(
            "/v1/audit", params={"warning_id": world.warning_id}, headers=world.headers["auditor"]
        ).json()["items"]
    refused = [row for row in story if row["action"] == "access_refused"]
    assert [(row["actor"], row["detail"]["attempted"]) for row in refused[-3:]] == [
        ("key:scorer", "reveal"),
        ("user:auditor", "reveal"),
        ("user:admin", "warning_read"),
    ]
    assert all(row["detail"]["path"].startswith(("POST", "GET")) for row in refused[-3:])


RACES = 30
REVEAL_RACES = 25  # within the 30 reveals an hour an actor may make


def test_a_case_re_routed_while_an_officer_acts_is_not_worked_by_the_old_department(
    world: World, served: Served
) -> None:
    """The policy was decided on the warning as read, and the step written to it as it was
    then: a supervisor's re-route to tax landing in between let the labour officer start the
    tax department's case (about one race in four here). The step is written only to the
    version the policy decided on; otherwise a 409 says who changed it."""
    from .test_service import as_records

    records = as_records(TASK, materialized(served, TASK))
    for i, record in enumerate(records):
        record["entity_id"] = f"race-{i}"
    supervisor, officer = world.headers["sup_county"], world.headers["off_labour"]
    with world.client() as client:
        scored = client.post(
            f"/v1/{TASK}/score", json={"records": records}, headers=world.headers["key:scorer"]
        )
        warned = [r["warning_id"] for r in scored.json()["results"] if r["warning_id"]]
    assert len(warned) >= RACES

    def step(warning_id: str, body: dict[str, str], headers: dict[str, str]) -> int:
        with world.client() as client:
            barrier.wait()
            return client.post(
                f"/v1/warnings/{warning_id}/feedback", json=body, headers=headers
            ).status_code

    outcomes = []
    for warning_id in warned[:RACES]:
        with world.client() as client:
            dispatched = client.post(
                f"/v1/warnings/{warning_id}/feedback",
                json={"status": "dispatched", "department": "labour_inspection"},
                headers=supervisor,
            )
            assert dispatched.status_code == 200, dispatched.text
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            start = pool.submit(step, warning_id, {"status": "in_progress"}, officer)
            reroute = pool.submit(
                step, warning_id, {"status": "dispatched", "department": "tax"}, supervisor
            )
            codes = (start.result(), reroute.result())
        with world.client() as client:
            final = client.get(
                f"/v1/warnings/{warning_id}", headers=world.headers["auditor"]
            ).json()
        outcomes.append((codes, final["status"], final["department"]))
    assert all(codes[0] in (200, 403, 409) and codes[1] in (200, 409) for codes, _, _ in outcomes)
    worked_elsewhere = [
        o for o in outcomes if o[1] == "in_progress" and o[2] != "labour_inspection"
    ]
    assert not worked_elsewhere, worked_elsewhere
    assert {status for _, status, _ in outcomes} <= {"in_progress", "dispatched"}


def test_an_identity_is_revealed_only_while_the_case_is_the_revealers(
    world: World, served: Served
) -> None:
    """Like a disposition, a reveal was authorised on the warning as read and decrypted as it
    then was: a re-route to tax landing in between gave the labour officer the id of the tax
    department's case. A reveal that answers 200 is in the audit log before the re-route."""
    from serving.store import WarningStore

    from .test_service import as_records

    officers = ("off_race_1", "off_race_2")  # their own: each may reveal 30 ids an hour
    with WarningStore.from_settings() as store:
        for name in officers:
            store.create_user(
                name, department="labour_inspection", role="officer", password=PASSWORD
            )
    records = as_records(TASK, materialized(served, TASK))
    for i, record in enumerate(records):
        record["entity_id"] = f"reveal-race-{i}"
    supervisor = world.headers["sup_county"]
    with world.client() as client:
        tokens = [
            client.post("/v1/session", json={"name": name, "password": PASSWORD}).json()["token"]
            for name in officers
        ]
        scored = client.post(
            f"/v1/{TASK}/score", json={"records": records}, headers=world.headers["key:scorer"]
        )
        warned = [r["warning_id"] for r in scored.json()["results"] if r["warning_id"]]
    assert len(warned) >= REVEAL_RACES * len(officers)

    def call(path: str, body: dict[str, str], headers: dict[str, str]) -> int:
        with world.client() as client:
            barrier.wait()
            return client.post(path, json=body, headers=headers).status_code

    late = []
    for n, warning_id in enumerate(warned[: REVEAL_RACES * len(officers)]):
        officer = {"Authorization": f"Bearer {tokens[n // REVEAL_RACES]}"}
        path = f"/v1/warnings/{warning_id}"
        with world.client() as client:
            dispatched = client.post(
                f"{path}/feedback",
                json={"status": "dispatched", "department": "labour_inspection"},
                headers=supervisor,
            )
            assert dispatched.status_code == 200, dispatched.text
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            reveal = pool.submit(call, f"{path}/reveal", {"purpose": "race check, reveal"}, officer)
            reroute = pool.submit(
                call, f"{path}/feedback", {"status": "dispatched", "department": "tax"}, supervisor
            )
            codes = (reveal.result(), reroute.result())
        assert codes[0] in (200, 403, 409) and codes[1] == 200, codes
        with world.client() as client:
            rows = client.get(
                "/v1/audit", params={"warning_id": warning_id}, headers=world.headers["auditor"]
            ).json()["items"]
        order = [
            row["action"]
            for row in rows
            if row["action"] == "identity_reveal"
            or (row["action"] == "disposition" and row["detail"]["department"] == "tax")
        ]
        if codes[0] == 200 and order != ["identity_reveal", "disposition"]:
            late.append((warning_id, order))
    assert not late, late


def test_a_step_sent_without_a_version_is_not_refused_for_a_re_score_landing_meanwhile(
    world: World, served: Served
) -> None:
    """A client that sends no `expected_version` never read a version, yet its dispatch,
    start or close answered 409 "changed since you read it" whenever a re-score of the unit
    landed between the handler's own read and its write (20 of 110 steps against two
    re-scoring clients). The step is decided again on the new version; a version the client
    did send is still held to (409), and a reveal is decided again the same way."""
    from .test_service import as_records

    records = as_records(TASK, materialized(served, TASK))
    for i, record in enumerate(records):
        record["entity_id"] = f"rescored-{i}"
    scorer, supervisor = world.headers["key:scorer"], world.headers["sup_county"]
    desk = world.headers["key:labour-desk"]
    with world.client() as client:
        scored = client.post(f"/v1/{TASK}/score", json={"records": records}, headers=scorer)
        warned = [r["warning_id"] for r in scored.json()["results"] if r["warning_id"]][:20]
    assert len(warned) == 20
    done = threading.Event()
    # each round moves the scores (an identical re-score changes no warning, so no version)
    shifted = [
        {**r, "tax_overdue_amount": 2 * (r["tax_overdue_amount"] or 0.0) + 50_000.0}
        for r in records
    ]

    def rescore() -> None:
        rounds = 0
        with world.client() as client:
            while not done.is_set():
                body = {"records": shifted if rounds % 2 == 0 else records}
                answer = client.post(f"/v1/{TASK}/score", json=body, headers=scorer)
                assert answer.status_code == 200, answer.text
                rounds += 1

    def work(warning_id: str) -> list[int]:
        steps = [
            ({"status": "dispatched", "department": "labour_inspection"}, supervisor),
            ({"status": "in_progress"}, desk),
        ]
        path = f"/v1/warnings/{warning_id}"
        with world.client() as client:
            codes = [
                client.post(f"{path}/feedback", json=body, headers=headers).status_code
                for body, headers in steps
            ]
            # revealed while the case is worked (no one reveals a closed case's identity)
            revealed = client.post(
                f"{path}/reveal", json={"purpose": "re-score race"}, headers=desk
            )
            closed = client.post(
                f"{path}/feedback", json={"status": "closed", "outcome": "confirmed"}, headers=desk
            )
        return [*codes, revealed.status_code, closed.status_code]

    with ThreadPoolExecutor(4) as pool:
        rescorers = [pool.submit(rescore) for _ in range(2)]
        try:
            codes = list(pool.map(work, warned, chunksize=1))
        finally:
            done.set()
        for rescorer in rescorers:
            rescorer.result()
    assert all(answer == [200, 200, 200, 200] for answer in codes), codes
    with world.client() as client:
        # the race happened: re-scores moved the warnings' versions while they were worked
        histories = [
            client.get(f"/v1/warnings/{warning_id}", headers=world.headers["auditor"]).json()
            for warning_id in warned
        ]
        updates = [e for h in histories for e in h["history"] if e["event"] == "score_update"]
        assert updates, "no re-score landed while the steps were made"
        stale = client.post(
            f"/v1/warnings/{warned[0]}/feedback",
            json={"status": "closed", "outcome": "confirmed", "expected_version": 1},
            headers=desk,
        )
    assert stale.status_code == 409 and "changed since you read it" in stale.json()["error"]
