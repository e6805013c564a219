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
EVERY_IMPACT = {"minor", "moderate", "serious", "critical"}


def _axe_violations(page: Any, impacts: set[str] = SERIOUS) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{item['id']} ({item['impact']}): {item['help']} -> "
        + "; ".join(node["target"][0] for node in item["nodes"][:3])
        for item in results.response["violations"]
        if item.get("impact") in impacts
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


# the focused element, the contrast of its outline against the nearest background behind it,
# and the outline's style: "<a href=...>|4.5|solid"
_FOCUS_RING = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const rgb = text => (text.match(/[0-9.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map(v => v / 255)
        .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    let behind = el.parentElement, back = [255, 255, 255];
    for (; behind; behind = behind.parentElement) {
        const colour = rgb(getComputedStyle(behind).backgroundColor);
        if (colour.length === 3 || (colour.length === 4 && colour[3] > 0)) {
            back = colour.slice(0, 3); break;
        }
    }
    const [a, b] = [lum(rgb(style.outlineColor)), lum(back)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    return el.outerHTML.slice(0, 120) + '|' + ratio.toFixed(2) + '|' + style.outlineStyle;
}"""


# tables whose scrolling box is narrower than they are (columns out of sight)
_HIDDEN_COLUMNS = """() => Array.from(document.querySelectorAll('.table-scroll'))
    .filter(box => box.scrollWidth > box.clientWidth + 1)
    .map(box => box.getAttribute('aria-labelledby'))"""


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

    viewer.go("/console/queue?task=wage-arrears&level=red&sort=score")
    viewer.page.locator("table.queue a").first.click()
    viewer.page.wait_for_load_state()
    assert "/console/cases/W-" in viewer.page.url
    waterfall = viewer.page.locator("#h-waterfall + figure img")
    assert waterfall.evaluate("img => img.complete && img.naturalWidth > 0")
    # the champion scored this warning: the caption explains the "other features" bar
    caption = viewer.page.locator("#h-waterfall + figure figcaption").inner_text()
    assert {"zh": "其他特征", "en": "other features"}[lang] in caption, caption
    # the whole chart shows at this width: no hint to swipe it
    assert not viewer.page.locator("#h-waterfall + figure .scroll-hint").is_visible()
    assert _axe_violations(viewer.page) == []
    assert _unlabelled_controls(viewer.page) == []
    screenshot(viewer.page, f"case-{lang}")

    monitor = json.loads(
        (console_service.root / "reports" / "monitor" / "wage-arrears.json").read_text("utf-8")
    )
    pages = {
        "queue": "/console/queue?task=wage-arrears&sort=level",
        "dashboard": "/console/dashboard",
        "reports": "/console/reports",  # last: its first report is opened from it below
    }
    for name, path in pages.items():
        answer = viewer.go(path)
        assert answer is not None and answer.status == 200, (name, answer)
        assert _axe_violations(viewer.page) == [], name
        assert _unlabelled_controls(viewer.page) == [], name
        # on a desktop screen no table hides columns in a box that scrolls sideways
        assert viewer.page.evaluate(_HIDDEN_COLUMNS) == [], (name, lang)
        screenshot(viewer.page, f"{name}-{lang}")
        if name == "dashboard":
            panel = viewer.page.locator("section[aria-labelledby='h-wage-arrears'] .panel").nth(2)
            expected = {
                "zh": ("发现漂移", "需关注", "平稳"),
                "en": ("drift:", "worth a look", "quiet"),
            }
            state = 0 if monitor["drift"] else 1 if monitor.get("watched") else 2
            assert expected[lang][state] in panel.inner_text()

    viewer.page.locator("main table a").first.click()
    viewer.page.wait_for_load_state()
    frame = viewer.page.frame_locator("iframe.report")
    assert frame.locator("h1").first.inner_text()
    assert _axe_violations(viewer.page) == []
    screenshot(viewer.page, f"report-{lang}")
    words = viewer.page.locator("header").inner_text()
    assert ("预警队列" in words) == (lang == "zh") and ("Queue" in words) == (lang == "en")
    # the report itself, on its own: its level badges use the shared stylesheet's colours
    report_file = viewer.page.locator("iframe.report").get_attribute("src")
    _switch_to(viewer, "zh")  # leave the shared account as the other tests expect it
    viewer.go(report_file)
    assert _axe_violations(viewer.page) == []

    assert viewer.watch.errors == [], viewer.watch.errors
    assert viewer.watch.outside == [], viewer.watch.outside


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
        reached.add(viewer.page.evaluate(_FOCUS_RING))
    focusable = {item for item in reached if not item.startswith("<body")}
    assert len(focusable) >= expected
    assert all(item.endswith("|solid") for item in focusable), [
        item for item in focusable if not item.endswith("|solid")
    ][:3]
    # the ring stands out from what surrounds it (WCAG 1.4.11: 3:1), on the white page and
    # on the dark header alike
    faint = [item for item in focusable if float(item.split("|")[1]) < 3]
    assert faint == [], faint[:3]


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


# the case page's reasons fit their box: nothing to scroll to sideways
_REASONS_FIT = """() => { const box = document.querySelector('table.reasons').parentElement;
    return box.scrollWidth <= box.clientWidth + 1; }"""


def _overflowing(page: Any) -> list[str]:
    """What sticks out past the right edge of the window (the page then scrolls sideways)."""
    return page.evaluate(
        """() => { const width = document.documentElement.clientWidth;
            if (document.documentElement.scrollWidth <= width) return [];
            return Array.from(document.querySelectorAll('body *'))
                .filter(el => el.getBoundingClientRect().right > width + 1)
                .map(el => el.outerHTML.slice(0, 70)).slice(0, 4); }"""
    )


# short words of a definition card (under half the card's width) split over two lines
# ("employe / r"); a pseudonym or a warning id may break, being longer than any line
_BROKEN_WORDS = """() => {
    const broken = [];
    for (const dd of document.querySelectorAll('dl.card dd')) {
        const walker = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const match of node.data.matchAll(/[!-,.-~]+/g)) {  // a hyphen may end a line
                const range = document.createRange();
                range.setStart(node, match.index);
                range.setEnd(node, match.index + match[0].length);
                const lines = Array.from(range.getClientRects()).filter(r => r.width > 0);
                const width = lines.reduce((sum, r) => sum + r.width, 0);
                const half = dd.parentElement.clientWidth / 2;
                if (lines.length > 1 && width < half) broken.push(match[0]);
            }
        }
    }
    return broken;
}"""


def _chart_at_its_own_size(page: Any, selector: str) -> bool:
    """The chart is drawn at its own width (its box scrolls), not shrunk to the window's:
    shrunk to a phone, its labels were about 4 px high."""
    image = page.locator(selector)
    image.evaluate("img => img.decode()")
    return bool(image.evaluate("img => img.getBoundingClientRect().width >= img.naturalWidth - 1"))


@pytest.mark.parametrize(("width", "height"), [(390, 844), (768, 1024)])
def test_no_page_scrolls_sideways_on_a_phone_or_a_tablet(
    browser: Any, console_service: Console, width: int, height: int
) -> None:
    """Phone and tablet, both languages: every page fits the window's width (a table too wide
    for it scrolls inside its own box or becomes one card per row), the queue's lateness shows."""
    from serving.auth import create_key
    from serving.console.i18n import Messages

    warning_id = console_service.sql(
        "SELECT id FROM warnings WHERE task = 'wage-arrears' AND status = 'open'"
        " ORDER BY score DESC LIMIT 1"
    )[0][0]
    key = create_key(f"small-screen-{width}", ("review",))
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    reader = browser.new_context(
        viewport={"width": width, "height": height},
        extra_http_headers={"Authorization": f"Bearer {key}"},
    )
    try:
        page = context.new_page()
        page.goto(f"{console_service.url}/console/sign-in")
        assert _overflowing(page) == [], "sign-in"
        page.locator("#name").fill("sup")
        page.locator("#password").fill("correct-horse-battery")
        page.keyboard.press("Enter")
        page.wait_for_url("**/console/queue")
        paths = {
            "queue": "/console/queue?task=wage-arrears&sort=level",
            "case": f"/console/cases/{warning_id}",
            "dashboard": "/console/dashboard",
            "reports": "/console/reports",
            "report": "/console/reports/wage-arrears-v1.html",
            "error": "/console/no-such-page",
        }
        for lang in ("zh", "en"):
            if not page.locator("html").get_attribute("lang").startswith(lang):
                page.locator("header form[action$='/lang'] button").click()
                page.wait_for_load_state()
            for name, path in paths.items():
                page.goto(console_service.url + path)
                assert _overflowing(page) == [], (name, lang)
                # the boxes tables scroll in are named landmarks: each name once, none serious
                assert _axe_violations(page, EVERY_IMPACT) == [], (name, lang)
                if name == "case":
                    # each reason a card: its box does not scroll sideways (the sentences were
                    # squeezed to a sliver at the right edge)
                    assert page.evaluate(_REASONS_FIT), (width, lang)
                    assert _chart_at_its_own_size(page, "#h-waterfall + figure img"), lang
                    # the chart scrolls in its box here: the page says so above it
                    hint = page.locator("#h-waterfall + figure .scroll-hint")
                    assert hint.is_visible(), lang
                    words = Messages(lang)  # type: ignore[arg-type]
                    assert hint.inner_text() == words("case.waterfall_scroll"), lang
                    assert page.evaluate(_BROKEN_WORDS) == [], lang
                if name == "reports":  # a report is named in words, not by its file
                    links = page.locator("main table a").all_inner_texts()
                    assert links and not any(".html" in link for link in links), links
                if name == "report":  # the report's own cards, in its frame
                    assert page.frames[-1].evaluate(_BROKEN_WORDS) == [], lang
                screenshot(page, f"{name}-{width}-{lang}")
            explanation = reader.new_page()
            explanation.goto(
                f"{console_service.url}/v1/warnings/{warning_id}/explanation?lang={lang}"
            )
            assert _overflowing(explanation) == [], ("explanation", lang)
            # its heading, body and notice in landmarks (banner, main, footer), as the console
            assert _axe_violations(explanation, EVERY_IMPACT) == [], ("explanation", lang)
            assert _chart_at_its_own_size(explanation, "#waterfall img"), lang
            assert explanation.evaluate(_BROKEN_WORDS) == [], lang
            # the deadline the open warning races shows there too, named as the console names it
            due = {"zh": "派发期限", "en": "Dispatch due"}[lang]
            assert due in explanation.locator("#summary dl").inner_text()
            # and its words are the case page's: the same thing has one name on both pages
            words = Messages(lang)  # type: ignore[arg-type]
            headers = explanation.locator("#reasons thead th").all_inner_texts()
            assert headers[:3] == [
                words("case.feature"),
                words("case.value"),
                words("case.contribution"),
            ]
            assert explanation.locator("#history h2").inner_text() == words("case.timeline")
            # its times are the city's clock, and it says so, as the console's footer does
            assert "UTC+8" in explanation.locator("footer").inner_text()
            screenshot(explanation, f"explanation-{width}-{lang}")
        page.locator("header form[action$='/lang'] button").click()  # back to Chinese
        page.wait_for_load_state()
    finally:
        context.close()
        reader.close()
