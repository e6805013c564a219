"""A person whose password an administrator set is asked, on every page, to choose one only
they know, in a real browser: Chinese first and English too, a link to the password page (which
says it without the link), gone once they have changed it, back after an administrator's reset."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import (
    LOOPBACK_TLS,
    PASSWORD,
    Console,
    create_person,
    screenshots_at_two_widths,
)
from tests.console.test_pages import _axe_violations

NAME = "pw.zhao"
NEW = "violet kettle 8 drums"
RESET = "amber 4 lantern field"
NOTICE_ZH = "您的密码是系统管理员设置的，管理员也知道。请改为只有您自己知道的密码。"
NOTICE_EN = "Your password was set by an administrator, who knows it too."


def _notice(viewer: Any) -> str | None:
    """The header's notice, None where the page has none."""
    found = viewer.page.locator("header #password-from-admin")
    return str(found.inner_text()) if found.count() else None


def _api_says(console_service: Console, password: str) -> bool:
    """What the API's sign-in says of the account's password (a desk client's prompt)."""
    with httpx.Client(base_url=console_service.url, verify=LOOPBACK_TLS, timeout=30) as api:
        signed = api.post("/v1/session", json={"name": NAME, "password": password})
    assert signed.status_code == 200, signed.text[:300]
    return bool(signed.json()["password_from_admin"])


def _change(viewer: Any, current: str, new: str) -> None:
    page = viewer.page
    page.locator("#current").fill(current)
    page.locator("#new").fill(new)
    page.locator("#repeat").fill(new)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()


def test_an_administrators_password_is_asked_to_be_changed_until_it_is(
    person: Any, console_service: Console
) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    create_person(NAME, "anti_fraud", "officer")
    assert _api_says(console_service, PASSWORD) is True
    zhao = person()
    zhao.sign_in(NAME)
    assert "/console/queue" in zhao.page.url
    notice = _notice(zhao)
    assert notice is not None and notice.startswith(NOTICE_ZH), notice
    assert _axe_violations(zhao.page) == []
    screenshots_at_two_widths(zhao.page, "password-from-admin-queue-zh")
    zhao.page.locator("#password-from-admin").get_by_role("link", name="现在修改").click()
    zhao.page.wait_for_load_state()
    assert zhao.page.url == f"{console_service.url}/console/password"
    # the password page says it too, without a link to itself
    assert _notice(zhao) == NOTICE_ZH
    assert zhao.page.locator("#password-from-admin a").count() == 0
    zhao.page.locator("header form[action$='/lang'] button").click()
    zhao.page.wait_for_load_state()
    english = _notice(zhao)
    assert english is not None and english.startswith(NOTICE_EN), english
    zhao.go("/console/dashboard")
    assert (_notice(zhao) or "").endswith("Change it now")
    zhao.go("/console/password")

    # their own password: signed out by the change, and no notice once back in
    _change(zhao, PASSWORD, NEW)
    assert "/console/sign-in" in zhao.page.url and _notice(zhao) is None
    zhao.sign_in(NAME, NEW)
    assert "/console/queue" in zhao.page.url
    assert _notice(zhao) is None
    zhao.go("/console/password")
    assert _notice(zhao) is None
    assert _api_says(console_service, NEW) is False

    # an administrator's reset: theirs again to change
    with WarningStore.from_settings(get_settings()) as store:
        store.reset_password(NAME, RESET)
    zhao.sign_in(NAME, RESET)
    assert "/console/queue" in zhao.page.url
    assert (_notice(zhao) or "").startswith(NOTICE_EN)
    zhao.page.locator("header form[action$='/lang'] button").click()  # back to Chinese
    zhao.page.wait_for_load_state()
    assert (_notice(zhao) or "").startswith(NOTICE_ZH)
