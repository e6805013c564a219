"""The queue offers only choices that can find something, and the case chart is declared at
its real size.

A supervisor's task filter offered every task his department could handle, some listing
nothing (no case of them in his sight); an officer's status filter offered 待派发, a status no
case of his department ever has (a case waiting to be dispatched is held by no department).
The waterfall `<img>` declared 900 px for an 850 px PNG, so the page stretched it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import PASSWORD, Console, screenshot


def _options(viewer: Any, name: str) -> list[str]:
    return [
        value
        for value in viewer.page.locator(f"form.filters select[name={name}] option").evaluate_all(
            "options => options.map(o => o.value)"
        )
        if value
    ]


def test_every_offered_task_lists_cases_and_an_officer_is_offered_no_open_status(
    person: Any, console_service: Console
) -> None:
    sup = person()
    sup.sign_in("sup")
    tasks = _options(sup, "task")
    assert tasks, "the supervisor sees wage-arrears cases at least"
    for task in tasks:
        sup.go(f"/console/queue?task={task}")
        assert sup.page.locator("table.queue tbody tr").count() > 0, task
    # no dispute-escalation warning was raised: the choice would list nothing
    assert "dispute-escalation" not in tasks
    assert "open" in _options(sup, "status")

    officer = person()
    officer.sign_in("lab")
    statuses = _options(officer, "status")
    assert "open" not in statuses and "dispatched" in statuses, statuses


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_waterfall_is_declared_at_its_real_size(
    person: Any, console_service: Console, lang: str
) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    name = f"chart.{lang}"
    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department="county_centre", role="supervisor", password=PASSWORD)
        store.set_user_lang(name, lang)
    sup = person()
    sup.sign_in(name)
    sup.open_case(level="yellow")
    chart = sup.page.locator("img[src*='waterfall.png']")
    chart.scroll_into_view_if_needed()
    sup.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=chart.element_handle()
    )
    declared = (int(str(chart.get_attribute("width"))), int(str(chart.get_attribute("height"))))
    natural = chart.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert list(declared) == natural, (declared, natural)
    screenshot(sup.page, f"case-waterfall-size-{lang}")
