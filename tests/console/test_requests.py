"""Bad requests to the console get a clear 4xx and change nothing (plain HTTP, no browser)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.console.conftest import PASSWORD, Console


@pytest.fixture()
def signed_in(console_service: Console) -> Iterator[tuple[httpx.Client, str]]:
    """An HTTP client signed in as the supervisor, and the session's CSRF token."""
    with httpx.Client(base_url=console_service.url, follow_redirects=False, timeout=30) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        signed = client.post(
            "/console/sign-in",
            data={"name": "sup", "password": PASSWORD, "csrf": token, "next": "/console/queue"},
        )
        assert signed.status_code == 303
        csrf = console_service.sql(
            "SELECT csrf FROM console_sessions WHERE user_name = 'sup' AND ended_at IS NULL "
            "ORDER BY created_at DESC LIMIT 1"
        )[0][0]
        yield client, csrf


@pytest.mark.parametrize(
    "query",
    ["level=purple", "task=no-such-task", "date_from=2026-13-01", "page=0", "page=x", "sort=name"],
)
def test_a_bad_filter_is_a_400_naming_it(signed_in: tuple[httpx.Client, str], query: str) -> None:
    client, _ = signed_in
    answer = client.get(f"/console/queue?{query}")
    assert answer.status_code == 400
    assert query.split("=")[0] in answer.text


def test_unknown_cases_paths_and_methods(signed_in: tuple[httpx.Client, str]) -> None:
    client, _ = signed_in
    assert client.get("/console/cases/W-" + "0" * 32).status_code == 404
    assert client.get("/console/cases/not-an-id").status_code == 404
    assert client.get("/console/reports/../../etc/passwd").status_code == 404
    assert client.get("/console/reports/nothing-v1.html").status_code == 404
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404 and "traceback" not in missing.text.lower()
    assert missing.headers["x-content-type-options"] == "nosniff"
    wrong = client.get("/console/sign-out")
    assert wrong.status_code == 405 and "POST" in wrong.headers["allow"]


def test_bad_forms_change_nothing(
    signed_in: tuple[httpx.Client, str], console_service: Console
) -> None:
    client, csrf = signed_in
    warning_id, version = console_service.sql(
        "SELECT id, version FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
        "ORDER BY score LIMIT 1"
    )[0]
    before = console_service.sql("SELECT * FROM warnings WHERE id = ?", warning_id)
    path = f"/console/cases/{warning_id}/act"
    cases = [
        ({"transition": "dispatch", "department": "nowhere", "version": version}, 400),
        ({"transition": "dispatch", "department": "tax", "version": "abc"}, 400),
        ({"transition": "close", "outcome": "prevented", "version": version}, 403),
        ({"transition": "explode", "version": version}, 403),
        ({"transition": "triage_close", "outcome": "maybe", "version": version}, 400),
        ({"transition": "dispatch", "department": "", "version": version}, 400),
        (
            {"transition": "dispatch", "department": "tax", "version": version, "note": "x" * 5000},
            400,
        ),
    ]
    for data, status in cases:
        answer = client.post(path, data={"csrf": csrf, **{k: str(v) for k, v in data.items()}})
        assert answer.status_code == status, (data, answer.status_code, answer.text[:300])
        assert "Traceback" not in answer.text
    assert console_service.sql("SELECT * FROM warnings WHERE id = ?", warning_id) == before
    short = client.post(
        f"/console/cases/{warning_id}/reveal", data={"csrf": csrf, "purpose": "看看"}
    )
    assert short.status_code == 400
    assert console_service.sql(
        "SELECT count(*) FROM audit_log WHERE action = 'identity_reveal' AND detail LIKE ?",
        f"%{warning_id}%",
    ) == [(0,)]


def test_overdue_filter_and_counts_follow_the_stores_deadlines(
    signed_in: tuple[httpx.Client, str], console_service: Console
) -> None:
    """With the loop's `due_at` in the store: a case past its deadline is counted on the
    dashboard and found by the queue's overdue filter. Without it: the console says no
    deadlines are recorded and offers no overdue filter (it never pretends)."""
    from serving.console.queries import has_deadlines

    client, _ = signed_in
    if not has_deadlines():
        assert 'name="overdue"' not in client.get("/console/queue").text
        assert client.get("/console/queue?overdue=1").status_code == 400
        assert client.get("/console/dashboard").text.count("尚未记录办理期限") >= 2
        return
    warning_id = console_service.sql(
        "SELECT id FROM warnings WHERE status = 'open' AND task = 'wage-arrears' LIMIT 1"
    )[0][0]
    console_service.sql(
        "UPDATE warnings SET due_at = '2020-01-01 00:00:00.000000' WHERE id = ?", warning_id
    )
    listed = client.get("/console/queue?task=wage-arrears&overdue=1")
    assert listed.status_code == 200 and warning_id in listed.text
    overdue = console_service.sql(
        "SELECT count(*) FROM warnings WHERE task = 'wage-arrears' AND status != 'closed' "
        "AND due_at IS NOT NULL AND due_at < datetime('now')"
    )[0][0]
    assert f'overdue=1"><strong>{overdue}</strong>' in client.get("/console/dashboard").text


def test_dashboard_sets_this_months_dispatches_against_capacity(
    signed_in: tuple[httpx.Client, str], console_service: Console
) -> None:
    client, csrf = signed_in
    warning_id, version = console_service.sql(
        "SELECT id, version FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
        "ORDER BY score LIMIT 1"
    )[0]
    sent = client.post(
        f"/console/cases/{warning_id}/act",
        data={
            "csrf": csrf,
            "transition": "dispatch",
            "department": "labour_inspection",
            "version": str(version),
        },
    )
    assert sent.status_code == 303
    console_service.sql("UPDATE departments SET capacity = 0 WHERE code = 'labour_inspection'")
    try:
        page = client.get("/console/dashboard").text
        dispatched = console_service.sql(
            "SELECT count(*) FROM warnings WHERE task = 'wage-arrears' "
            "AND department = 'labour_inspection'"
        )[0][0]
        row = page.split("劳动保障监察大队</td>", 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{dispatched}</td>' in row
        assert "超出能力" in row
    finally:
        console_service.sql(
            "UPDATE departments SET capacity = NULL WHERE code = 'labour_inspection'"
        )
