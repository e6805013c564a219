"""A person changes their own password in the console, in a real browser: the current password
asked again, the rule said up front and each refusal in words beside the form (Chinese first,
English too), a wrong current password counted towards the lockout, and a change that ends
every sign-in of theirs, in this browser and any other, with the sign-in page saying why."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.console.conftest import (
    LOOPBACK_TLS,
    PASSWORD,
    Console,
    create_person,
    screenshot,
    screenshots_at_two_widths,
    session_client,
)
from tests.console.test_pages import _axe_violations

NAME = "pw.wu"
NEW = "violet kettle 8 drums"


def _submit(viewer: Any, current: str, new: str, repeat: str | None = None) -> int:
    """Fill the password form and send it; the status the server answered the form with."""
    page = viewer.page
    page.locator("#current").fill(current)
    page.locator("#new").fill(new)
    page.locator("#repeat").fill(new if repeat is None else repeat)
    with page.expect_response(
        lambda r: r.url.endswith("/console/password") and r.request.method == "POST"
    ) as answered:
        page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    return int(answered.value.status)


def _alert(viewer: Any) -> str:
    return str(viewer.page.locator("#password-error").inner_text())


def test_a_person_changes_their_password_and_every_sign_in_of_theirs_ends(
    person: Any, console_service: Console
) -> None:
    create_person(NAME, "labour_inspection", "officer")
    api = httpx.Client(base_url=console_service.url, verify=LOOPBACK_TLS, timeout=30)
    signed = api.post("/v1/session", json={"name": NAME, "password": PASSWORD})
    assert signed.status_code == 200, signed.text[:300]
    token = {"Authorization": f"Bearer {signed.json()['token']}"}
    assert api.get("/v1/warnings", params={"page_size": 1}, headers=token).status_code == 200
    elsewhere = person()  # the same person signed in on another computer
    elsewhere.sign_in(NAME)
    wu = person()
    wu.sign_in(NAME)
    wu.page.locator("header").get_by_role("link", name="修改密码").click()
    wu.page.wait_for_load_state()
    assert wu.page.url == f"{console_service.url}/console/password"
    assert wu.page.get_by_role("heading", level=1).inner_text() == "修改密码"
    main = wu.page.locator("main").inner_text()
    assert "至少 12 个字符，其中至少 6 个不同字符" in main and "需用新密码重新登录" in main
    assert wu.page.get_by_label("当前密码").count() == 1
    assert wu.page.get_by_label("再次输入新密码").count() == 1
    assert _axe_violations(wu.page) == []
    screenshots_at_two_widths(wu.page, "password-zh")

    # refusals: the form again, empty (a password is never sent back), what to fix in words
    assert _submit(wu, PASSWORD, NEW, NEW + "!") == 400
    assert _alert(wu) == "两次输入的新密码不一致，请重新输入。"
    assert wu.page.locator("#current").input_value() == ""
    assert _submit(wu, PASSWORD, "short one") == 400
    assert _alert(wu) == "新密码太短：至少需要 12 个字符。"
    assert _submit(wu, PASSWORD, "pw.wu's long password") == 400
    assert _alert(wu) == "新密码包含您的用户名，容易被猜中，请换一个。"
    assert _submit(wu, PASSWORD, PASSWORD) == 400
    assert _alert(wu) == "新密码与当前密码相同，请换一个。"
    assert _submit(wu, "not my password", NEW) == 400
    assert _alert(wu).startswith("当前密码不正确，密码未修改。连续输错密码 6 次后，账号将锁定")
    ((failed,),) = console_service.sql("SELECT failed_attempts FROM users WHERE name = ?", NAME)
    assert failed == 1
    assert _axe_violations(wu.page) == []
    screenshot(wu.page, "password-refused-zh")

    # in English
    wu.page.locator("header form[action$='/lang'] button").click()
    wu.page.wait_for_load_state()
    assert wu.page.get_by_role("heading", level=1).inner_text() == "Change your password"
    assert "at least 12 characters, 6 of them different" in wu.page.locator("main").inner_text()
    assert _submit(wu, PASSWORD, "aaaaaabbbbbb") == 400
    assert _alert(wu).startswith("The new password has too few different characters")
    screenshot(wu.page, "password-en")

    # the change: signed out here, on the sign-in page that says why
    assert _submit(wu, PASSWORD, NEW) == 303
    assert "/console/sign-in" in wu.page.url and wu.cookie("riskloop_console") is None
    notice = wu.page.locator("p.note").inner_text()
    assert notice.startswith("Your password has been changed, which ended every sign-in")
    screenshot(wu.page, "password-changed-en")
    # and on the other computer: its next page is the sign-in page, saying the same
    elsewhere.go("/console/queue")
    assert "/console/sign-in" in elsewhere.page.url
    assert elsewhere.page.locator("p.note").inner_text() == notice
    elsewhere.sign_in(NAME)  # the old password
    assert "/console/sign-in" in elsewhere.page.url
    elsewhere.sign_in(NAME, NEW)
    assert elsewhere.page.url.startswith(f"{console_service.url}/console/queue")
    # the API token signed in with the old password is over too
    assert api.get("/v1/warnings", params={"page_size": 1}, headers=token).status_code == 401
    api.close()

    rows = console_service.sql(
        "SELECT action, detail FROM audit_log WHERE actor = ? AND action IN "
        "('user_password_changed', 'password_change_failed') ORDER BY id",
        f"user:{NAME}",
    )
    assert [action for action, _ in rows] == ["password_change_failed", "user_password_changed"]
    assert json.loads(rows[0][1]) == {"reason": "wrong current password", "channel": "console"}
    assert json.loads(rows[1][1]) == {"sessions_ended": 2, "channel": "console"}
    ((failed,),) = console_service.sql("SELECT failed_attempts FROM users WHERE name = ?", NAME)
    assert failed == 0
    # the refused forms' pages answer 400 (the browser logs each): nothing else went wrong
    assert [e for e in wu.watch.errors if "status of 400" not in e] == [], wu.watch.errors
    assert len(wu.watch.errors) == 6
    (refused_sign_in,) = elsewhere.watch.errors  # the old password's sign-in: 401
    assert "status of 401" in refused_sign_in
    assert wu.watch.outside == [] and elsewhere.watch.outside == []


def test_a_password_form_without_the_sessions_token_or_fields_is_refused(
    person: Any, console_service: Console
) -> None:
    create_person("pw.zhou", "tax", "officer")
    zhou = person()
    zhou.sign_in("pw.zhou")
    with session_client(console_service, zhou) as client:
        forged = client.post(
            "/console/password", data={"current": PASSWORD, "new": NEW, "repeat": NEW}
        )
        assert forged.status_code == 403
        token = zhou.page.locator("header form[action$='/sign-out'] input[name=csrf]")
        csrf = token.get_attribute("value")
        missing = client.post("/console/password", data={"csrf": csrf, "current": PASSWORD})
        assert missing.status_code == 400
    # nothing changed: the old password still signs in
    with httpx.Client(base_url=console_service.url, verify=LOOPBACK_TLS) as api:
        signed = api.post("/v1/session", json={"name": "pw.zhou", "password": PASSWORD})
    assert signed.status_code == 200, signed.text[:300]
