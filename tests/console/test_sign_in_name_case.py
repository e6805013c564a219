"""A case worker on a phone could not sign in: the keyboard capitalised the name box's first
letter, and `Zhao` was no user (names are lower case), refused and audited as an unknown
name. The name box now asks a phone not to capitalise or correct it, and the console and the
API fold the name typed to lower case before it is looked up."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import PASSWORD, Console
from tests.processes import LOOPBACK_TLS

NAME = "case.zhao"


def _create(name: str) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department="county_centre", role="supervisor", password=PASSWORD)


def test_a_capitalised_name_signs_in_on_a_phone_and_over_the_api(
    browser: Any, console_service: Console
) -> None:
    _create(NAME)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    try:
        page = context.new_page()
        page.goto(f"{console_service.url}/console/sign-in")
        box = page.locator("#name")
        attributes = {
            key: box.get_attribute(key)
            for key in ("autocapitalize", "autocorrect", "spellcheck", "autocomplete")
        }
        assert attributes == {
            "autocapitalize": "none",
            "autocorrect": "off",
            "spellcheck": "false",
            "autocomplete": "username",
        }
        box.fill("Case.Zhao")  # what the phone's keyboard made of it
        page.locator("#password").fill(PASSWORD)
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_load_state()
        assert page.url == f"{console_service.url}/console/queue", page.url
    finally:
        context.close()

    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as api:
        answer = api.post("/v1/session", json={"name": "CASE.ZHAO", "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        assert answer.json()["name"] == NAME
        wrong = api.post("/v1/session", json={"name": "Case.Zhao", "password": "not it at all"})
        assert wrong.status_code == 401

    rows = console_service.sql(
        "SELECT action FROM audit_log WHERE actor = ? AND action LIKE 'sign_in%' ORDER BY id",
        f"user:{NAME}",
    )
    assert rows == [("sign_in",), ("sign_in",), ("sign_in_failed",)]
    (failures,) = console_service.sql("SELECT failed_attempts FROM users WHERE name = ?", NAME)
    assert failures == (1,)
