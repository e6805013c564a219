"""Attempts with ended credentials are on the record, and every row says its channel.

A data-protection inspector found no audit row for a disabled account's API token or console
page, a revoked API key, or a case's step sent after the console's idle time-out; a step on a
case re-routed away while its page was open recorded `warning_read` as what was attempted;
and a console action and an API action by the same person wrote identical rows. Now each
such attempt is an `access_refused` row naming the person or key, the page or step and why;
a made-up key is not (anyone could fill the log); and each row says `api`, `console` or `cli`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from typer.testing import CliRunner

from tests.console.conftest import PASSWORD, Console, create_person, signed_in_client
from tests.processes import LOOPBACK_TLS


def _rows(console_service: Console, actor: str, action: str) -> list[dict[str, Any]]:
    found = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = ? AND action = ? ORDER BY id", actor, action
    )
    return [json.loads(row[0]) for row in found]


def _disable(name: str) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.disable_user(name)


def _api(console_service: Console) -> httpx.Client:
    return httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS)


def _open_case(console_service: Console) -> tuple[str, int]:
    (row,) = console_service.sql(
        "SELECT id, version FROM warnings WHERE task = 'wage-arrears' AND status = 'open' "
        "ORDER BY random() LIMIT 1"
    )
    return str(row[0]), int(row[1])


def _csrf(console_service: Console, name: str) -> str:
    (row,) = console_service.sql(
        "SELECT csrf FROM console_sessions WHERE user_name = ? AND ended_at IS NULL", name
    )
    return str(row[0])


def test_a_disabled_accounts_api_token_is_refused_on_the_record(console_service: Console) -> None:
    create_person("gone.api", "tax", "officer")
    with _api(console_service) as client:
        signed = client.post("/v1/session", json={"name": "gone.api", "password": PASSWORD})
        token = {"Authorization": f"Bearer {signed.json()['token']}"}
        assert client.get("/v1/warnings", headers=token).status_code == 200
        _disable("gone.api")
        refused = client.get("/v1/warnings", headers=token)
    assert refused.status_code == 401 and refused.json() == {"error": "account disabled"}
    (row,) = _rows(console_service, "user:gone.api", "access_refused")
    assert row == {
        "attempted": "warning_list",
        "rule": "account disabled",
        "path": "GET /v1/warnings",
        "channel": "api",
    }
    assert _rows(console_service, "user:gone.api", "sign_in") == [{"channel": "api"}]


def test_a_revoked_key_is_refused_on_the_record_and_a_made_up_one_is_not(
    console_service: Console,
) -> None:
    from serving.auth import create_key, revoke_key

    key = create_key("gone.key", ("review",))
    made_up = {"Authorization": "Bearer rk_0badc0de_" + "A" * 43}
    refusals = "SELECT count(*) FROM audit_log WHERE action = 'access_refused'"
    with _api(console_service) as client:
        assert client.get("/v1/warnings", headers={"Authorization": f"Bearer {key}"}).is_success
        revoke_key("gone.key")
        refused = client.get("/v1/warnings", headers={"Authorization": f"Bearer {key}"})
        before = console_service.sql(refusals)
        unknown = client.get("/v1/warnings", headers=made_up)
        assert console_service.sql(refusals) == before  # names nobody: no row
    assert refused.status_code == 401 and refused.json() == {"error": "API key revoked"}
    assert unknown.status_code == 401 and unknown.json() == {"error": "unknown API key"}
    (row,) = _rows(console_service, "key:gone.key", "access_refused")
    gone_id = key.split("_")[1]
    assert row == {
        "attempted": "warning_list",
        "rule": f"API key revoked (key id {gone_id})",
        "path": "GET /v1/warnings",
        "channel": "api",
    }
    # a key made later under the revoked one's name works; the revoked one's attempts stay
    # told apart on the record by its key id
    again = create_key("gone.key", ("review",))
    with _api(console_service) as client:
        assert client.get("/v1/warnings", headers={"Authorization": f"Bearer {again}"}).is_success
        old = client.get("/v1/warnings", headers={"Authorization": f"Bearer {key}"})
    assert old.status_code == 401
    rows = _rows(console_service, "key:gone.key", "access_refused")
    assert [r["rule"] for r in rows] == [f"API key revoked (key id {gone_id})"] * 2
    assert again.split("_")[1] != gone_id


def test_a_disabled_accounts_console_page_is_refused_on_the_record(
    console_service: Console,
) -> None:
    create_person("gone.console", "tax", "officer")
    warning_id, _ = _open_case(console_service)
    with signed_in_client(console_service, "gone.console") as client:
        assert client.get("/console/queue").status_code == 200
        _disable("gone.console")
        refused = client.get(f"/console/cases/{warning_id}")
    assert refused.status_code == 303 and "disabled=1" in refused.headers["location"]
    (row,) = _rows(console_service, "user:gone.console", "access_refused")
    assert row == {
        "attempted": "console_page",
        "rule": "account disabled",
        "warning_id": warning_id,
        "path": f"/console/cases/{warning_id}",
        "channel": "console",
    }
    assert _rows(console_service, "user:gone.console", "sign_in") == [{"channel": "console"}]


def test_a_step_sent_after_the_idle_time_out_is_refused_on_the_record(
    console_service: Console,
) -> None:
    create_person("gone.idle", "county_centre", "supervisor")
    warning_id, version = _open_case(console_service)
    with signed_in_client(console_service, "gone.idle") as client:
        csrf = _csrf(console_service, "gone.idle")
        console_service.age_session(3 * 3600)
        refused = client.post(
            f"/console/cases/{warning_id}/act",
            data={"csrf": csrf, "version": str(version), "transition": "triage_close"},
        )
    assert refused.status_code == 303
    assert "expired=1" in refused.headers["location"] and "unsaved=1" in refused.headers["location"]
    (row,) = _rows(console_service, "user:gone.idle", "access_refused")
    assert row == {
        "attempted": "feedback",
        "step": "triage_close",
        "rule": "session expired (idle time-out)",
        "warning_id": warning_id,
        "path": f"/console/cases/{warning_id}/act",
        "channel": "console",
    }


def test_a_step_on_a_case_re_routed_away_meanwhile_is_a_refused_step(
    console_service: Console,
) -> None:
    """The officer's page was drawn while the case was his department's; it was re-routed to
    an outside body before he sent *start*."""
    from serving.auth import create_key

    create_person("gone.moved", "labour_inspection", "officer")
    key = {"Authorization": f"Bearer {create_key('gone.router', ('review', 'feedback'))}"}
    warning_id, _ = _open_case(console_service)
    with _api(console_service) as api:
        sent = api.post(
            f"/v1/warnings/{warning_id}/feedback",
            json={"status": "dispatched", "department": "labour_inspection"},
            headers=key,
        )
        assert sent.status_code == 200, sent.text
        drawn = console_service.case_state(warning_id)[2]
        with signed_in_client(console_service, "gone.moved") as client:
            assert client.get(f"/console/cases/{warning_id}").status_code == 200
            moved = api.post(
                f"/v1/warnings/{warning_id}/feedback",
                json={"status": "dispatched", "department": "区法律援助中心"},
                headers=key,
            )
            assert moved.status_code == 200, moved.text
            refused = client.post(
                f"/console/cases/{warning_id}/act",
                data={
                    "csrf": _csrf(console_service, "gone.moved"),
                    "version": str(drawn),
                    "transition": "start",
                },
            )
    assert refused.status_code == 403
    (row,) = _rows(console_service, "user:gone.moved", "access_refused")
    assert (row["attempted"], row["step"], row["channel"]) == ("feedback", "start", "console")
    # the same person's API action and console action say which is which
    dispositions = _rows(console_service, "key:gone.router", "disposition")
    assert [d["channel"] for d in dispositions] == ["api", "api"]


def test_a_command_writes_cli_rows_and_riskloop_audit_shows_the_channel(
    console_service: Console,
) -> None:
    from serving.audit_channel import AUDIT_CHANNEL
    from training.cli import app

    runner = CliRunner()
    create = ["users", "create", "gone.cli", "--department", "tax", "--role", "officer"]
    made = runner.invoke(app, [*create, "--password-stdin"], input=f"{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    assert AUDIT_CHANNEL.get() is None  # the command's channel ended with it
    shown = runner.invoke(app, ["audit", "--actor", "gone.api"])
    assert shown.exit_code == 0, shown.output
    lines = [line.split("\t") for line in shown.stdout.splitlines()]
    assert {line[2]: json.loads(line[4])["channel"] for line in lines} == {
        "sign_in": "api",
        "warning_list": "api",
        "access_refused": "api",
    }
    (created,) = console_service.sql(
        "SELECT detail FROM audit_log WHERE action = 'user_created' AND detail LIKE ?",
        "%gone.cli%",
    )
    assert json.loads(created[0])["channel"] == "cli"
