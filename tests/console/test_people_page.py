"""The administrators' people page, in a real browser: every account with its state and whether
its password is still an administrator's; a lockout lifted, an account disabled (its sessions
ended) and enabled again from the page, each an audit row with the administrator as actor; the
administrator's own account not disabled; every view on the record; anyone else refused and on
the record too. Chinese first, English too."""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import datetime
from typing import Any

from models.pages import CITY_TIME
from tests.console.conftest import (
    PASSWORD,
    Console,
    create_person,
    screenshot,
    screenshots_at_two_widths,
    session_client,
)
from tests.console.test_pages import _axe_violations, _overflowing

ADMIN = "pp.admin"


def _row(viewer: Any, name: str) -> Any:
    """The table row of the account called `name`."""
    return viewer.page.locator("table.people tbody tr").filter(
        has=viewer.page.locator("span.muted", has_text=name)
    )


def _audited(console_service: Console, action: str, user: str) -> dict[str, Any]:
    rows = console_service.sql(
        "SELECT actor, detail FROM audit_log WHERE action = ? ORDER BY id DESC LIMIT 1", action
    )
    assert rows, action
    actor, detail = rows[0]
    parsed = json.loads(detail)
    assert actor == f"user:{ADMIN}" and parsed.get("user", user) == user, (actor, parsed)
    return dict(parsed)


def test_an_administrator_unlocks_disables_and_enables_accounts_on_the_people_page(
    person: Any, console_service: Console
) -> None:
    from models.settings import get_settings
    from serving.store import SignInRefused, WarningStore

    create_person(ADMIN, "data_office", "admin")
    create_person("pp.locked", "labour_inspection", "officer")
    create_person("pp.leaver", "tax", "officer")
    create_person("pp.slipped", "tax", "officer")
    with WarningStore.from_settings(get_settings()) as store:
        for _ in range(6):  # the sixth wrong password in a row locks the account
            with suppress(SignInRefused):
                store.sign_in("pp.locked", "not the password at all")
        for _ in range(2):  # two: counted, not locked
            with suppress(SignInRefused):
                store.sign_in("pp.slipped", "not the password at all")
    leaver = person()
    leaver.sign_in("pp.leaver")
    assert "/console/queue" in leaver.page.url

    admin = person()
    admin.sign_in(ADMIN)
    admin.page.locator("header nav").get_by_role("link", name="人员管理").click()
    admin.page.wait_for_load_state()
    assert admin.page.url == f"{console_service.url}/console/people"
    assert admin.page.get_by_role("heading", level=1).inner_text() == "人员管理"
    locked = _row(admin, "pp.locked")
    assert "已锁定，至" in locked.inner_text() and "管理员设置，本人尚未修改" in locked.inner_text()
    # an administrator's own row takes no step: nobody would be left to enable it
    assert _row(admin, ADMIN).get_by_role("button").count() == 0
    # the latest sign-in: the administrator's just now, none for the locked-out account
    own_cells = _row(admin, ADMIN).locator("td").all_inner_texts()
    assert own_cells[6].startswith(datetime.now(CITY_TIME).strftime("%Y-%m-%d")), own_cells
    assert _row(admin, "pp.locked").locator("td").nth(6).inner_text() == "从未登录"
    assert _audited(console_service, "user_list", "")["view"] == "console_people"
    assert _axe_violations(admin.page) == []
    screenshots_at_two_widths(admin.page, "people-zh")
    # a phone: each account a card, its steps' buttons within the window (QA, 2026-12-07: the
    # table scrolled in its box, the buttons out of sight past its edge, nothing saying so)
    admin.page.set_viewport_size({"width": 360, "height": 780})
    assert _overflowing(admin.page) == []
    boxes = admin.page.locator("table.people tbody button").evaluate_all(
        "buttons => buttons.map(b => b.getBoundingClientRect().right)"
    )
    assert boxes and max(boxes) <= 360, boxes
    assert admin.page.locator("div.table-scroll").evaluate("e => e.scrollWidth <= e.clientWidth")
    # each value under its column's name, which reads whole beside it
    card = _row(admin, "pp.locked")
    label = card.locator("td").nth(6).evaluate("td => getComputedStyle(td, '::before').content")
    assert "最近登录" in label, label
    admin.page.set_viewport_size({"width": 1280, "height": 900})
    # at a desk the role reads whole, never 办事人 / 员
    role = _row(admin, "pp.locked").locator("td").nth(2)
    assert role.inner_text() == "办事人员"
    assert role.evaluate("td => getComputedStyle(td).whiteSpace") == "nowrap"

    # an account not locked is offered its wrong passwords cleared, not a lockout lifted
    slipped = _row(admin, "pp.slipped")
    assert "正常" in slipped.inner_text() and "连续输错密码 2 次" in slipped.inner_text()
    assert slipped.get_by_role("button").all_inner_texts() == ["清零错误次数", "停用"]
    slipped.get_by_role("button", name="清零pp.slipped的密码错误次数").click()
    admin.page.wait_for_load_state()
    assert (
        admin.page.locator("p.flash").inner_text()
        == "已清零 pp.slipped (pp.slipped) 的密码错误次数。"
    )
    assert _row(admin, "pp.slipped").get_by_role("button").all_inner_texts() == ["停用"]

    admin.page.get_by_role("button", name="解除pp.locked的锁定").click()
    admin.page.wait_for_load_state()
    assert admin.page.locator("p.flash").inner_text() == "已解除 pp.locked (pp.locked) 的锁定。"
    assert "正常" in _row(admin, "pp.locked").inner_text()
    assert _audited(console_service, "user_unlocked", "pp.locked")["failed_attempts"] == 6
    with WarningStore.from_settings(get_settings()) as store:
        assert store.sign_in("pp.locked", PASSWORD).name == "pp.locked"
    admin.go("/console/people")  # said once
    assert admin.page.locator("p.flash").count() == 0

    # a disable asks first, naming the person; going back from the question changes nothing
    admin.page.get_by_role("button", name="停用pp.leaver的账号").click()
    admin.page.wait_for_load_state()
    assert admin.page.get_by_role("heading", level=1).inner_text() == "停用账号"
    question = admin.page.locator("main").inner_text()
    assert "确定停用 pp.leaver (pp.leaver) 的账号吗？" in question and "税务" in question
    assert "其所有登录立即结束" in question
    assert _axe_violations(admin.page) == []
    screenshots_at_two_widths(admin.page, "people-confirm-zh")
    admin.page.get_by_role("link", name="取消，返回人员列表").click()
    admin.page.wait_for_load_state()
    assert admin.page.url == f"{console_service.url}/console/people"
    assert "正常" in _row(admin, "pp.leaver").inner_text()
    leaver.go("/console/queue")  # still signed in
    assert "/console/queue" in leaver.page.url
    admin.page.get_by_role("button", name="停用pp.leaver的账号").click()
    admin.page.wait_for_load_state()
    admin.page.get_by_role("button", name="确认停用").click()
    admin.page.wait_for_load_state()
    assert "其所有登录均已结束" in admin.page.locator("p.flash").inner_text()
    assert "已停用" in _row(admin, "pp.leaver").inner_text()
    assert _audited(console_service, "user_disabled", "pp.leaver")["sessions_ended"] == 1
    leaver.go("/console/queue")  # their session ended with the account
    assert "/console/sign-in" in leaver.page.url
    screenshot(admin.page, "people-disabled-zh")

    # in English, and back: enable the account again
    admin.page.locator("header form[action$='/lang'] button").click()
    admin.page.wait_for_load_state()
    assert admin.page.get_by_role("heading", level=1).inner_text() == "People"
    assert "disabled since" in _row(admin, "pp.leaver").inner_text()
    admin.page.get_by_role("button", name="Enable pp.leaver's account").click()
    admin.page.wait_for_load_state()
    assert admin.page.locator("p.flash").inner_text() == (
        "pp.leaver (pp.leaver)'s account is enabled again."
    )
    assert "active" in _row(admin, "pp.leaver").inner_text()
    _audited(console_service, "user_enabled", "pp.leaver")
    screenshot(admin.page, "people-en")
    admin.page.get_by_role("button", name="Disable pp.leaver's account").click()
    admin.page.wait_for_load_state()
    assert admin.page.get_by_role("heading", level=1).inner_text() == "Disable an account"
    assert "Disable pp.leaver (pp.leaver)'s account?" in admin.page.locator("main").inner_text()
    screenshot(admin.page, "people-confirm-en")
    admin.page.get_by_role("link", name="Cancel: back to the list").click()
    admin.page.wait_for_load_state()
    assert "active" in _row(admin, "pp.leaver").inner_text()
    admin.page.locator("header form[action$='/lang'] button").click()
    admin.page.wait_for_load_state()

    # forms sent by hand: the administrator's own account, a name nobody has, a made-up step
    csrf = admin.page.locator("table.people input[name=csrf]").first.get_attribute("value")
    with session_client(console_service, admin) as client:
        own = client.post(f"/console/people/{ADMIN}", data={"csrf": csrf, "step": "disable"})
        nobody = client.post("/console/people/pp.nobody", data={"csrf": csrf, "step": "unlock"})
        made_up = client.post("/console/people/pp.leaver", data={"csrf": csrf, "step": "delete"})
        twice = client.post("/console/people/pp.leaver", data={"csrf": csrf, "step": "enable"})
        forged = client.post("/console/people/pp.leaver", data={"step": "disable"})
        forged_yes = client.post(
            "/console/people/pp.leaver", data={"step": "disable", "confirmed": "yes"}
        )
        asked = client.post("/console/people/pp.leaver", data={"csrf": csrf, "step": "disable"})
        odd = [
            client.post(f"/console/people/{name}", data={"csrf": csrf, "step": "unlock"})
            for name in ("pp%00x", "PP.LEAVER", "x" * 300, "pp.leaver%0A", "%E7%8E%8B")
        ]
    assert own.status_code == 400 and "不能停用您自己的账号" in own.text
    assert nobody.status_code == 404 and "没有这个账号。" in nobody.text
    assert made_up.status_code == 400
    assert twice.status_code == 409 and "该账号并未停用" in twice.text
    assert forged.status_code == forged_yes.status_code == 403
    # a disable without its answer is the question again, nothing written
    assert asked.status_code == 200 and "确定停用 pp.leaver (pp.leaver) 的账号吗？" in asked.text
    assert [answer.status_code for answer in odd] == [404] * 5
    with WarningStore.from_settings(get_settings()) as store:
        assert store.get_user(ADMIN).active and store.get_user("pp.leaver").active


def test_anyone_but_an_administrator_is_refused_the_people_page_on_the_record(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    assert sup.page.locator("header nav").get_by_role("link", name="人员管理").count() == 0
    answer = sup.go("/console/people")
    assert answer.status == 403
    ((actor, detail),) = console_service.sql(
        "SELECT actor, detail FROM audit_log WHERE action = 'access_refused' "
        "ORDER BY id DESC LIMIT 1"
    )
    assert actor == "user:sup" and json.loads(detail)["attempted"] == "users_manage"


def test_a_page_refused_to_an_administrator_is_on_the_record_as_at_the_api(
    person: Any, console_service: Console
) -> None:
    """An administrator sees no case content: the queue, the dashboard and the entity search
    are refused (403, the rule in their words), each refusal an `access_refused` row."""
    create_person("pp.admin2", "data_office", "admin")
    admin = person()
    admin.sign_in("pp.admin2", path="/console/reports")
    for path in ("/console/queue", "/console/dashboard"):
        answer = admin.go(path)
        assert answer.status == 403, path
        assert "管理员" in admin.page.locator("main").inner_text()
    csrf = admin.page.locator("header input[name=csrf]").first.get_attribute("value")
    with session_client(console_service, admin) as client:
        searched = client.post("/console/units", data={"csrf": csrf, "unit": "EMP-0001"})
    assert searched.status_code == 403
    rows = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = 'user:pp.admin2' AND action = 'access_refused'"
        " ORDER BY id"
    )
    details = [json.loads(detail) for (detail,) in rows]
    assert [(d["attempted"], d["path"]) for d in details] == [
        ("warning_list", "/console/queue"),
        ("warning_list", "/console/dashboard"),
        ("warning_list", "/console/units"),
    ], details
