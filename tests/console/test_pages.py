"""Quality of the console's pages in a real browser, in Chinese and English.

Every page: no console error, no request leaving the service's origin (the browser's own
network events), no axe-core violation of impact serious or critical, every form control
labelled, and reachable by keyboard. Screenshots of sign-in, queue, case, dashboard and a
model report in both languages go to test-artifacts/console/ to be looked at.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from tests.console.conftest import Console, screenshot

SERIOUS = {"serious", "critical"}


def _axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{item['id']} ({item['impact']}): {item['help']} -> "
        + "; ".join(node["target"][0] for node in item["nodes"][:3])
        for item in results.response["violations"]
        if item.get("impact") in SERIOUS
    ]


def _unlabelled_controls(page: Any) -> list[str]:
    """Form controls (not hidden inputs or buttons with text) without an accessible label."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea'))
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.outerHTML.slice(0, 80))"""
    )


def _switch_to(viewer: Any, lang: str) -> None:
    """Use the header's language button (one click) unless the page is already in `lang`."""
    current = viewer.page.locator("html").get_attribute("lang")
    if current.startswith(lang):
        return
    viewer.page.locator("header form[action$='/lang'] button").click()
    viewer.page.wait_for_load_state()
    assert viewer.page.locator("html").get_attribute("lang").startswith(lang)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pages_are_clean_accessible_and_photographed(
    person: Any, console_service: Console, lang: str
) -> None:
    viewer = person()
    viewer.go("/console/sign-in" + ("?lang=en" if lang == "en" else ""))
    assert viewer.page.locator("html").get_attribute("lang").startswith(lang)
    assert _axe_violations(viewer.page) == []
    assert _unlabelled_controls(viewer.page) == []
    screenshot(viewer.page, f"sign-in-{lang}")

    viewer.page.locator("#name").fill("sup")
    viewer.page.locator("#password").fill("correct-horse-battery")
    viewer.page.keyboard.press("Enter")  # keyboard only: Enter submits the form
    viewer.page.wait_for_url("**/console/queue")
    _switch_to(viewer, lang)
    stored = console_service.sql("SELECT lang FROM users WHERE name = 'sup'")[0][0]
    assert stored == lang  # remembered on the account

    pages = {
        "queue": "/console/queue?task=wage-arrears&sort=level",
        "dashboard": "/console/dashboard",
        "reports": "/console/reports",
    }
    for name, path in pages.items():
        answer = viewer.go(path)
        assert answer is not None and answer.status == 200, (name, answer)
        assert _axe_violations(viewer.page) == [], name
        assert _unlabelled_controls(viewer.page) == [], name
        screenshot(viewer.page, f"{name}-{lang}")

    monitor = json.loads(
        (console_service.root / "reports" / "monitor" / "wage-arrears.json").read_text("utf-8")
    )
    viewer.go("/console/dashboard")
    panel = viewer.page.locator("section[aria-labelledby='h-wage-arrears'] .panel").nth(2)
    expected = {"zh": ("发现漂移", "平稳"), "en": ("drift:", "quiet")}[lang]
    assert expected[0 if monitor["drift"] else 1] in panel.inner_text()
    viewer.go("/console/queue?task=wage-arrears&level=red&sort=score")
    viewer.page.locator("table.queue a").first.click()
    viewer.page.wait_for_load_state()
    assert "/console/cases/W-" in viewer.page.url
    waterfall = viewer.page.locator("#h-waterfall + figure img")
    assert waterfall.evaluate("img => img.complete && img.naturalWidth > 0")
    assert _axe_violations(viewer.page) == []
    assert _unlabelled_controls(viewer.page) == []
    screenshot(viewer.page, f"case-{lang}")

    viewer.go("/console/reports")
    viewer.page.locator("main table a").first.click()
    viewer.page.wait_for_load_state()
    frame = viewer.page.frame_locator("iframe.report")
    assert frame.locator("h1").first.inner_text()
    assert _axe_violations(viewer.page) == []
    screenshot(viewer.page, f"report-{lang}")
    # the report itself, on its own: its level badges use the shared stylesheet's colours
    report_file = viewer.page.locator("iframe.report").get_attribute("src")
    viewer.go(report_file)
    assert _axe_violations(viewer.page) == []
    viewer.page.go_back()

    words = viewer.page.locator("header").inner_text()
    assert ("预警队列" in words) == (lang == "zh") and ("Queue" in words) == (lang == "en")
    assert viewer.watch.errors == [], viewer.watch.errors
    assert viewer.watch.outside == [], viewer.watch.outside
    _switch_to(viewer, "zh")  # leave the shared account as the other tests expect it


def test_keyboard_reaches_every_control_with_a_visible_focus(
    person: Any, console_service: Console
) -> None:
    viewer = person()
    viewer.sign_in("sup")
    viewer.go("/console/queue?task=wage-arrears&level=red&status=open")
    viewer.page.locator("table.queue a").first.click()
    viewer.page.wait_for_load_state()
    expected = viewer.page.evaluate(
        """() => Array.from(document.querySelectorAll(
            'a[href], button, input:not([type=hidden]), select, textarea')).length"""
    )
    reached = set()
    for _ in range(expected + 5):
        viewer.page.keyboard.press("Tab")
        reached.add(
            viewer.page.evaluate(
                """() => { const el = document.activeElement;
                    const style = getComputedStyle(el);
                    return el.outerHTML.slice(0, 120) + '|' + style.outlineStyle; }"""
            )
        )
    focusable = {item for item in reached if not item.startswith("<body")}
    assert len(focusable) >= expected
    assert all(item.endswith("|solid") for item in focusable), [
        item for item in focusable if not item.endswith("|solid")
    ][:3]


def test_catalogs_hold_the_same_keys_and_every_task() -> None:
    from models.spec import TASK_NAMES
    from serving.store.models import OUTCOMES, STATUSES

    folder = resources.files("serving.console").joinpath("messages")
    zh = json.loads(folder.joinpath("zh.json").read_text("utf-8"))
    en = json.loads(folder.joinpath("en.json").read_text("utf-8"))
    assert set(zh) == set(en)
    needed = (
        [f"task.{task}" for task in TASK_NAMES]
        + [f"status.{status}" for status in STATUSES]
        + [f"outcome.{outcome}" for outcome in OUTCOMES]
        + [f"level.{level}" for level in ("red", "orange", "yellow", "green")]
    )
    assert [key for key in needed if key not in zh] == []
    assert all(zh[key] != en[key] for key in needed)
