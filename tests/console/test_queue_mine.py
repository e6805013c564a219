"""The queue's "only cases I worked on" filter, in a real browser: each person's own cases (a
step or a progress note of theirs in the case's history), not a colleague's in the same
department, the filter kept in the address, in Chinese and English; offered only to those who
record steps."""

from __future__ import annotations

from typing import Any

from tests.console.conftest import Console, create_person, screenshot
from tests.console.test_pages import _axe_violations


def _note(viewer: Any, warning_id: str, text: str) -> None:
    viewer.go(f"/console/cases/{warning_id}")
    form = viewer.page.locator("form[aria-labelledby='act-note']")
    form.locator("textarea[name=note]").fill(text)
    form.get_by_role("button").click()
    viewer.page.wait_for_load_state()
    assert viewer.page.locator("p.flash").count() == 1


def _mine(viewer: Any, label: str = "仅看我经手的") -> list[str]:
    """Tick the filter on the queue and send the form: the warning ids listed."""
    viewer.go("/console/queue")
    viewer.page.get_by_label(label).check()
    viewer.page.locator("form.filters button[type=submit]").click()
    viewer.page.wait_for_load_state()
    assert "mine=1" in viewer.page.url
    assert viewer.page.get_by_label(label).is_checked()
    links = viewer.page.locator("table.queue a").all()
    return [str(link.get_attribute("href")).rsplit("/", 1)[-1] for link in links]


def test_only_cases_i_worked_on_lists_each_persons_own_cases(
    person: Any, console_service: Console
) -> None:
    for name in ("mine.he", "mine.lu", "mine.qi"):
        create_person(name, "labour_inspection", "officer")
    sup = person()
    sup.sign_in("sup")
    first = sup.open_case(task="wage-arrears")
    sup.dispatch()
    second = sup.open_case(task="wage-arrears")
    sup.dispatch()
    assert first != second

    he, lu = person(), person()
    he.sign_in("mine.he")
    lu.sign_in("mine.lu")
    _note(he, first, "已电话联系企业负责人。")
    _note(lu, second, "已上门走访。")
    assert _mine(he) == [first]
    assert _axe_violations(he.page) == []
    screenshot(he.page, "queue-mine-zh")
    assert _mine(lu) == [second]
    # the supervisor dispatched both: a step of theirs
    assert {first, second} <= set(_mine(sup))

    # nothing of theirs yet: an empty list that says the filters found nothing
    qi = person()
    qi.sign_in("mine.qi")
    assert _mine(qi) == []
    assert "没有符合条件的预警。" in qi.page.locator("main").inner_text()

    # in English
    he.page.locator("header form[action$='/lang'] button").click()
    he.page.wait_for_load_state()
    assert _mine(he, "Only cases I worked on") == [first]
    screenshot(he.page, "queue-mine-en")
    he.page.locator("header form[action$='/lang'] button").click()  # back to Chinese
    he.page.wait_for_load_state()

    # an auditor records no step: no such filter
    auditor = person()
    auditor.sign_in("audit")
    auditor.go("/console/queue")
    assert auditor.page.get_by_label("仅看我经手的").count() == 0
