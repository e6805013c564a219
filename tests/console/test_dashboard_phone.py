"""The dashboard's figures on a phone (390 px): nothing runs past the edge unseen.

Its tables of open warnings (level by status) and of precision (level by outcome) were cut off
at the screen's edge ("in progres", "preven"), with nothing saying they scrolled: an officer's
own "in progress" column was out of sight. Each level is now a card, each figure under its
column's name. Checked for a supervisor (the city's tasks) and an officer (their department's
cases), in both languages: every element of the page ends inside the window, and no box hides
part of its content behind a sideways scroll.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import PASSWORD, Console, screenshot

# elements past the window's right edge, and boxes whose content is wider than they show
_HIDDEN_SIDEWAYS = """() => {
    const width = document.documentElement.clientWidth;
    const found = [];
    for (const el of document.querySelectorAll('main *')) {
        const box = el.getBoundingClientRect();
        if (box.width > 0 && box.right > width + 1) found.push('past the edge: ' + el.outerHTML.slice(0, 80));
        const style = getComputedStyle(el);
        if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1)
            found.push('scrolls: ' + el.outerHTML.slice(0, 80));
    }
    return found.slice(0, 6);
}"""


@pytest.mark.parametrize("name", ["sup", "lab"])
def test_the_dashboards_figures_fit_a_phone(
    browser: Any, console_service: Console, name: str
) -> None:
    from serving.console.i18n import Messages

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{console_service.url}/console/sign-in?next=/console/dashboard")
        page.locator("#name").fill(name)
        page.locator("#password").fill(PASSWORD)
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_url("**/console/dashboard")
        for lang in ("zh", "en"):
            if not page.locator("html").get_attribute("lang").startswith(lang):
                page.locator("header form[action$='/lang'] button").click()
                page.wait_for_load_state()
            assert page.evaluate(_HIDDEN_SIDEWAYS) == [], (name, lang)
            words = Messages(lang)  # type: ignore[arg-type]
            # every figure is shown under its name, inside the window: "in progress" too
            figures = page.locator("table.figures td")
            assert figures.count() > 0
            labels = set(figures.evaluate_all("cells => cells.map(c => c.dataset.label)"))
            assert words("status.in_progress") in labels and words("outcome.prevented") in labels
            shown = page.locator("table.figures td[data-label]").evaluate_all(
                """cells => cells.every(c => { const b = c.getBoundingClientRect();
                    return b.width > 0 && b.right <= document.documentElement.clientWidth &&
                        getComputedStyle(c, '::before').content.includes(c.dataset.label); })"""
            )
            assert shown, (name, lang)
            screenshot(page, f"dashboard-phone-{name}-{lang}")
        page.locator("header form[action$='/lang'] button").click()  # back to Chinese
        page.wait_for_load_state()
    finally:
        context.close()
