"""This month's volume by department still adds up after a dispatch to an outside body.

docs/closed-loop.md lets an API client dispatch a warning to a name riskloop does not know (an
outside body, seen by the task's supervisors only). A QA run dispatched a wage-arrears case
from the county centre to "湖州市法律援助中心": the county centre's supervisor then saw the
centre one case lower, no row for the outside body, and the table adding up to 234 of 235. The
outside bodies' cases of the tasks the viewer owns now add up in a row of their own, named so;
the city's view keeps its row of every outside body's cases; a view that cannot see such a
case (another task's supervisor, an officer) shows no row counting it.
"""

from __future__ import annotations

import re
from typing import Any

from tests.console.conftest import (
    PASSWORD,
    Console,
    dispatch_to_outside_body,
    screenshots_at_two_widths,
    signed_in_client,
)

OUTSIDE_BODY = "湖州市法律援助中心"
_ROW = re.compile(
    r'<tr id="capacity-([\w-]+)"[^>]*><td>(?:<a [^>]*>)?(.*?)(?:</a>(?: <span [^>]*>[^<]*</span>)?)?</td>'
    r'<td class="num">(\d+)</td>'
)


def _volumes(page: str) -> dict[str, tuple[str, int]]:
    """The capacity table's rows: code -> (name as shown, this month's volume)."""
    return {code: (name, int(volume)) for code, name, volume in _ROW.findall(page)}


def _dashboards(console_service: Console, names: tuple[str, ...]) -> dict[str, str]:
    pages = {}
    for name in names:
        with signed_in_client(console_service, name) as client:
            pages[name] = client.get("/console/dashboard").text
    return pages


def test_a_dispatch_to_an_outside_body_keeps_the_months_volume_whole(
    browser: Any, console_service: Console
) -> None:
    from models.settings import get_settings
    from serving.console.i18n import Messages
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(
            "ob.dash.fraud", department="anti_fraud", role="supervisor", password=PASSWORD
        )
    viewers = ("sup", "audit", "ob.dash.fraud", "lab")
    before = {name: _volumes(page) for name, page in _dashboards(console_service, viewers).items()}

    warning_id = console_service.sql(
        "SELECT id FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
        "ORDER BY score LIMIT 1"
    )[0][0]
    dispatch_to_outside_body(console_service, warning_id, "ob.dash.county", OUTSIDE_BODY)
    after = {name: _volumes(page) for name, page in _dashboards(console_service, viewers).items()}

    # the supervisor of the task (zh, as signed in) and the city's view (the auditor's): the
    # case leaves the centre's row for the outside bodies' row, and the table adds up as before
    for name, label in (("sup", "dash.unlisted_own"), ("audit", "dash.unlisted")):
        was, now = before[name], after[name]
        assert now["county_centre"][1] == was["county_centre"][1] - 1, name
        assert now["unlisted"] == (Messages("zh")(label), was.get("unlisted", ("", 0))[1] + 1)
        assert sum(n for _, n in now.values()) == sum(n for _, n in was.values()), (name, now)
    # another task's supervisor sees neither the case nor a row counting it; an officer sees
    # no outside body's case at all
    assert after["ob.dash.fraud"] == before["ob.dash.fraud"]
    assert "unlisted" not in after["lab"]

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{console_service.url}/console/sign-in?next=/console/dashboard")
        page.locator("#name").fill("sup")
        page.locator("#password").fill(PASSWORD)
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_url("**/console/dashboard")
        for lang in ("zh", "en"):
            if not page.locator("html").get_attribute("lang").startswith(lang):
                page.locator("header form[action$='/lang'] button").click()
                page.wait_for_load_state()
            row = page.locator("#capacity-unlisted")
            named = row.locator("td").first.inner_text()
            assert named.startswith(Messages(lang)("dash.unlisted_own")), named
            assert Messages(lang)("dash.unlisted_all_months") in named, named
            assert row.locator("td").nth(1).inner_text() == str(after["sup"]["unlisted"][1])
            screenshots_at_two_widths(page, f"dashboard-outside-bodies-{lang}")
            page.set_viewport_size({"width": 390, "height": 844})
            inside = row.evaluate(
                "r => r.getBoundingClientRect().right <= document.documentElement.clientWidth"
            )
            assert inside, lang
            page.set_viewport_size({"width": 1280, "height": 900})
        page.locator("header form[action$='/lang'] button").click()  # back to Chinese
        page.wait_for_load_state()
    finally:
        context.close()
