"""With `RISKLOOP_REQUIRE_OWN_PASSWORD` on, a password an administrator set opens nothing but
the page to change it (等保 2.0: an initial password is changed at its first use), on a second
real service on the console's stores, in a real browser: every other page leads there, a form
sent anyway is refused on the record with its text given back, the API gives no session, and
once the person has chosen their own, everything is as for anyone."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.console.conftest import (
    LOOPBACK_TLS,
    PASSWORD,
    SECOND_SERVICE_SETTINGS,
    Console,
    create_person,
    screenshots_at_two_widths,
)
from tests.console.test_pages import _axe_violations

NAME = "first.qian"
NEW = "copper 7 harbour maple"
NOTICE_ZH = (
    "您的密码是系统管理员设置的，管理员也知道。在改为只有您自己知道的密码之前，"
    "控制台只能打开修改密码页面。"
)
NOTICE_EN = (
    "Until you change it to one only you know, the console opens only the page to change it."
)
RULE = "the password an administrator set must first be changed to one of the person's own"
ADMIN, ADMIN_NEW, WAITING = "first.admin", "slate 3 orchard window", "first.waiting"


def _notice(viewer: Any) -> str:
    found = viewer.page.locator("header #password-from-admin")
    return str(found.inner_text()) if found.count() else ""


def _refusals(console_service: Console) -> list[dict[str, Any]]:
    """The person's `access_refused` rows' details, oldest first."""
    rows = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = ? AND action = 'access_refused' ORDER BY id",
        f"user:{NAME}",
    )
    return [json.loads(detail) if isinstance(detail, str) else detail for (detail,) in rows]


def test_a_password_an_administrator_set_opens_only_the_page_to_change_it(
    person: Any, console_service: Console, second_service: str
) -> None:
    assert SECOND_SERVICE_SETTINGS["RISKLOOP_REQUIRE_OWN_PASSWORD"] == "true"
    create_person(NAME, "labour_inspection", "officer")
    case = console_service.sql("SELECT id FROM warnings ORDER BY id LIMIT 1")[0][0]
    url = second_service
    with httpx.Client(base_url=url, verify=LOOPBACK_TLS, timeout=30) as api:
        wrong = api.post("/v1/session", json={"name": NAME, "password": "not it 4 sure"})
        assert wrong.status_code == 401  # without the password, nothing is said of it
        refused = api.post("/v1/session", json={"name": NAME, "password": PASSWORD})
    assert refused.status_code == 403, refused.text
    assert set(refused.json()) == {"error", "rule_zh"}  # no token
    assert refused.json()["error"].startswith(RULE)
    assert "/console/password" in refused.json()["error"]
    assert "修改密码" in refused.json()["rule_zh"]
    assert _refusals(console_service)[-1]["rule"].startswith(RULE)

    # the console: signed in, then the password page whatever was asked for
    qian = person(url)
    qian.sign_in(NAME)
    assert qian.page.url == f"{url}/console/password"
    assert _notice(qian) == NOTICE_ZH
    assert qian.page.locator("#password-from-admin a").count() == 0
    assert qian.page.locator("header nav").count() == 0  # no page to go to
    assert _axe_violations(qian.page) == []
    screenshots_at_two_widths(qian.page, "own-password-first-zh")
    for path in ("/console/queue", "/console/dashboard", f"/console/cases/{case}"):
        qian.go(path)
        assert qian.page.url == f"{url}/console/password", path
    looked = console_service.sql(
        "SELECT COUNT(*) FROM audit_log WHERE actor = ? AND action = 'warning_page'",
        f"user:{NAME}",
    )
    assert looked == [(0,)]  # no case was shown to them

    # a form sent anyway (a page drawn before the setting): refused, nothing saved, the
    # text given back, on the record
    note = "已约企业负责人周五面谈，核对工资发放记录。"
    csrf = qian.page.locator("header form[action$='/lang'] input[name=csrf]").get_attribute("value")
    cookie = next(c for c in qian.context.cookies() if c["name"] == "riskloop_console")
    notes_before = console_service.sql("SELECT COUNT(*) FROM audit_log WHERE action = 'case_note'")
    with httpx.Client(
        base_url=url, cookies={"riskloop_console": cookie["value"]}, verify=LOOPBACK_TLS
    ) as client:
        answer = client.post(f"/console/cases/{case}/note", data={"csrf": csrf, "note": note})
    assert answer.status_code == 403
    assert "未保存" in answer.text and note in answer.text
    assert '<a href="/console/password">修改密码</a>' in answer.text  # not "back to the queue"
    assert "/console/queue" not in answer.text
    assert console_service.sql("SELECT COUNT(*) FROM audit_log WHERE action = 'case_note'") == (
        notes_before
    )
    last = _refusals(console_service)[-1]
    assert last["rule"].startswith(RULE) and last["path"] == f"/console/cases/{case}/note"

    # in English too; the language switch is one of the pages left open to them
    qian.page.locator("header form[action$='/lang'] button").click()
    qian.page.wait_for_load_state()
    assert qian.page.url == f"{url}/console/password"
    assert _notice(qian).endswith(NOTICE_EN)
    screenshots_at_two_widths(qian.page, "own-password-first-en")

    # their own password: then the console and the API as for anyone
    qian.page.locator("#current").fill(PASSWORD)
    qian.page.locator("#new").fill(NEW)
    qian.page.locator("#repeat").fill(NEW)
    qian.page.locator("main form button[type=submit]").click()
    qian.page.wait_for_load_state()
    assert "/console/sign-in" in qian.page.url
    qian.sign_in(NAME, NEW)
    assert qian.page.url == f"{url}/console/queue"
    assert _notice(qian) == "" and qian.page.locator("header nav a").count() == 3
    with httpx.Client(base_url=url, verify=LOOPBACK_TLS, timeout=30) as api:
        signed = api.post("/v1/session", json={"name": NAME, "password": NEW})
    assert signed.status_code == 200 and signed.json()["password_from_admin"] is False
    assert qian.watch.errors == [] and qian.watch.outside == []

    # an administrator (theirs an administrator's password too, so changed first) sees on
    # the people page who cannot work yet
    create_person(ADMIN, "data_office", "admin")
    create_person(WAITING, "tax", "officer")
    admin = person(url)
    admin.sign_in(ADMIN)
    assert admin.page.url == f"{url}/console/password"
    admin.page.locator("#current").fill(PASSWORD)
    admin.page.locator("#new").fill(ADMIN_NEW)
    admin.page.locator("#repeat").fill(ADMIN_NEW)
    admin.page.locator("main form button[type=submit]").click()
    admin.page.wait_for_load_state()
    admin.sign_in(ADMIN, ADMIN_NEW, path="/console/people")
    assert admin.page.url == f"{url}/console/people"
    rows = admin.page.locator("table.people tbody tr")
    waiting = rows.filter(has_text=WAITING).inner_text()
    assert "管理员设置，本人尚未修改：修改前只能打开修改密码页面" in waiting, waiting
    assert "本人已修改" in rows.filter(has_text=NAME).inner_text()
    screenshots_at_two_widths(admin.page, "own-password-first-people-zh")
