"""Two things the sign-in page said that it should not.

An account disabled and enabled again: its session ended when it was disabled, and the page a
person then opened sent them to the sign-in page saying their account "has been disabled ...
ask your system administrator", though it was enabled again: sent to the administrator for
nothing. Now the page says the session ended when the account was disabled, and to sign in
again (as the API does), and a step sent in that session is kept like any ended session's;
an account still disabled is told so, as before.

A failed sign-in drew the form again with the name field filled with what was typed: a
password typed into the name box stood on the screen in clear. The name is no longer given
back, for a name that exists or not alike (refilling only known names would tell which exist).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.console.conftest import PASSWORD, Console, screenshot

UNSAVED = "riskloop_console_unsaved"
ADMINISTRATOR = {"zh": "系统管理员", "en": "system administrator"}
REENABLED = {
    "zh": ("账号停用时，原登录已结束", "重新启用", "请重新登录"),
    "en": ("session ended when your account was disabled", "enabled again", "Sign in again"),
}


def _people(change: str, name: str) -> None:
    """What an administrator does with `riskloop users`: create, disable, enable."""
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        if change == "create":
            store.create_user(
                name, department="county_centre", role="supervisor", password=PASSWORD
            )
        elif change == "disable":
            store.disable_user(name)
        else:
            store.enable_user(name)


def _notice(viewer: Any) -> str:
    return str(viewer.page.locator("main p.note").inner_text())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_session_ended_by_disabling_says_sign_in_again_once_enabled(
    person: Any, console_service: Console, lang: str
) -> None:
    name = f"reenabled.{lang}"
    _people("create", name)
    viewer = person()
    viewer.sign_in(name)
    if lang == "en":
        viewer.page.locator("header form[action$='/lang'] button").click()
        viewer.page.wait_for_load_state()

    _people("disable", name)  # still disabled: the administrator is the one to ask
    viewer.go("/console/queue")
    query = parse_qs(urlsplit(viewer.page.url).query)
    assert query.get("disabled") == ["1"] and query.get("lang") == [lang], viewer.page.url
    assert ADMINISTRATOR[lang] in _notice(viewer), _notice(viewer)

    _people("enable", name)
    viewer.sign_in(name)
    assert viewer.page.url == f"{console_service.url}/console/queue", viewer.page.url
    _people("disable", name)
    _people("enable", name)
    viewer.go("/console/queue")
    query = parse_qs(urlsplit(viewer.page.url).query)
    assert query.get("reenabled") == ["1"] and "disabled" not in query, viewer.page.url
    assert query.get("lang") == [lang], viewer.page.url
    notice = _notice(viewer)
    assert all(words in notice for words in REENABLED[lang]), notice
    assert ADMINISTRATOR[lang] not in notice, notice
    screenshot(viewer.page, f"reenabled-sign-in-{lang}")
    viewer.page.locator("#name").fill(name)
    viewer.page.locator("#password").fill(PASSWORD)
    viewer.page.locator("form.stack button[type=submit]").click()
    viewer.page.wait_for_load_state()
    assert viewer.page.url == f"{console_service.url}/console/queue", viewer.page.url


def test_a_step_sent_after_disabling_and_enabling_is_kept(
    person: Any, console_service: Console
) -> None:
    name = "reenabled.step"
    note = "Called the employer on Monday; wages for March promised by Friday."
    _people("create", name)
    viewer = person()
    viewer.sign_in(name)
    viewer.page.locator("header form[action$='/lang'] button").click()
    viewer.page.wait_for_load_state()
    warning_id = viewer.open_case(status="open", level="yellow")
    form = viewer.page.locator("form[aria-labelledby='act-dispatch']")
    form.locator("select[name=department]").select_option("labour_inspection")
    form.locator("textarea[name=note]").fill(note)
    before = console_service.case_state(warning_id)
    _people("disable", name)
    _people("enable", name)

    form.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    query = parse_qs(urlsplit(viewer.page.url).query)
    assert query.get("reenabled") == ["1"] and query.get("kept") == ["1"], viewer.page.url
    notice = _notice(viewer)
    assert "was not saved" in notice and "enabled again" in notice, notice
    assert "administrator" not in notice, notice
    assert console_service.case_state(warning_id) == before
    viewer.page.locator("#name").fill(name)
    viewer.page.locator("#password").fill(PASSWORD)
    viewer.page.locator("form.stack button[type=submit]").click()
    viewer.page.wait_for_load_state()
    assert viewer.page.url == f"{console_service.url}/console/cases/{warning_id}"
    dispatch = viewer.page.locator("form[aria-labelledby='act-dispatch']")
    assert dispatch.locator("textarea[name=note]").input_value() == note
    said = viewer.page.locator("main").inner_text()
    assert "after your account was disabled" in said, said


@pytest.mark.parametrize("known", [False, True])
def test_a_failed_sign_in_does_not_give_the_typed_name_back(
    person: Any, console_service: Console, known: bool
) -> None:
    typed = "signin.known" if known else "Secret-Typed-77"
    if known:
        _people("create", typed)
    viewer = person()
    viewer.go("/console/sign-in?lang=en")
    viewer.page.locator("#name").fill(typed)
    viewer.page.locator("#password").fill("not-the-password-1")
    with viewer.page.expect_navigation() as answered:
        viewer.page.locator("form.stack button[type=submit]").click()
    assert answered.value.status == 401
    assert viewer.page.locator("#sign-in-error").is_visible()
    assert viewer.page.locator("#name").input_value() == ""
    assert typed not in viewer.page.content()
    screenshot(viewer.page, f"sign-in-failed-{'known' if known else 'unknown'}-name")
