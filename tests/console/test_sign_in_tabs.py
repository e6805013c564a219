"""Signing in from a second sign-in tab left open.

Two tabs showed the sign-in page; signing in in one spent the sign-in form's token, and the
other tab's form then got a 403 "Not allowed: the form has expired or did not come from this
console", with a link to the queue for someone not signed in, and the page to return to lost.
Now a browser already signed in goes on to that page; one that is not gets the sign-in form
again, saying why, with the page to return to kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from tests.console.conftest import PASSWORD, Console, screenshot

STALE = {
    "zh": "登录页面已过期",
    "en": "This sign-in page was out of date",
}


def _submit(page: Any, name: str) -> None:
    page.locator("#name").fill(name)
    page.locator("#password").fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_second_sign_in_tab_goes_on_when_signed_in_and_asks_again_when_not(
    person: Any, console_service: Console, lang: str
) -> None:
    warning_id = console_service.sql("SELECT id FROM warnings WHERE task = 'wage-arrears' LIMIT 1")[
        0
    ][0]
    case_path = f"/console/cases/{warning_id}"
    sign_in_page = f"/console/sign-in?{urlencode({'lang': lang, 'next': case_path})}"
    viewer = person()
    first, second = viewer.page, viewer.context.new_page()
    first.goto(console_service.url + sign_in_page)
    second.goto(console_service.url + sign_in_page)

    _submit(first, "sup")
    assert first.url == console_service.url + case_path
    # the other tab's form, its token spent: already signed in, on to the page it asked for
    with second.expect_response(lambda r: r.url.endswith("/console/sign-in")) as answer:
        _submit(second, "sup")
    assert answer.value.status == 303
    assert second.url == console_service.url + case_path

    # not signed in any more: the form again, saying why, with the page to go to
    sign_out = "header form[action$='/sign-out'] button"
    second.locator(sign_out).click()
    second.wait_for_load_state()
    first.goto(console_service.url + sign_in_page)
    _submit(second, "sup")  # the other tab signs in, and out again: the first's token is spent
    second.locator(sign_out).click()
    second.wait_for_load_state()
    with first.expect_response(lambda r: r.url.endswith("/console/sign-in")) as answer:
        _submit(first, "sup")
    assert answer.value.status == 403
    main = first.locator("main").inner_text()
    assert STALE[lang] in main, main
    assert "无权操作" not in main and "Not allowed" not in main
    assert first.locator("html").get_attribute("lang").startswith(lang)
    assert first.locator("input[name=next]").get_attribute("value") == case_path
    assert first.locator("#name").input_value() == "sup"
    screenshot(first, f"sign-in-stale-{lang}")
    first.locator("#password").fill(PASSWORD)
    first.locator("form.stack button[type=submit]").click()
    first.wait_for_load_state()
    assert first.url == console_service.url + case_path
