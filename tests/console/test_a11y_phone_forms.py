"""Accessibility and phone defects a tester found in the console (Chinese first, English too).

- a refused case form (a reveal purpose too short, a note with U+202E) said why only at the top
  of the page drawn again, screens away from the field on a phone, focus on the page's body and
  the window's title unchanged: now the message is also beside its field (which it describes),
  the top one is a focused summary linking to the field, and the title starts "错误：" /
  "Error: "; the reveal box's minlength (5, any characters) no longer contradicts the server's
  weighed rule;
- the queue's date filters refused 20251001 and 2025/10/01 (a phone's numeric keypad has no
  dash): both are read now, full-width too, and the box's pattern and title agree;
- the English queue scrolled sideways at 360 px (a deadline that did not wrap), Chinese at 320;
- a wrong id in the queue's "Warning id" box led to an error page, the id lost, and W-zzzz (no
  id at all) was called "no such warning": the queue comes back with the id in its box and
  what is wrong beside it, the two told apart;
- a phone card's column names (generated text) were part of each cell's accessible name;
- the waterfall's figures (base value, other features, model output, the percentages) were in
  the image only, its alt text also its region's name;
- the dashboard's figure links were a digit's size and named by the digit alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.conftest import (
    PASSWORD,
    Console,
    create_person,
    screenshot,
    signed_in_client,
)

# elements past the window's right edge, and a page wider than its window
_SIDEWAYS = """() => {
    const width = document.documentElement.clientWidth;
    const found = [];
    if (document.documentElement.scrollWidth > width + 1)
        found.push('page scrolls: ' + document.documentElement.scrollWidth + ' > ' + width);
    for (const el of document.querySelectorAll('main *')) {
        if (el.closest('.chart-scroll')) continue;  // the chart scrolls in its own box, said so
        if (el.closest('thead, .visually-hidden')) continue;  // clipped to a pixel: unseen
        const box = el.getBoundingClientRect();
        if (box.width > 0 && box.right > width + 1) found.push('past the edge: ' + el.outerHTML.slice(0, 100));
    }
    return found.slice(0, 6);
}"""


@pytest.fixture(scope="module")
def people(console_service: Console) -> dict[str, str]:
    """A supervisor reading Chinese and one reading English, made for this module."""
    create_person("a11y.zh", "county_centre", "supervisor", lang="zh")
    create_person("a11y.en", "county_centre", "supervisor", lang="en")
    return {"zh": "a11y.zh", "en": "a11y.en"}


@pytest.fixture()
def page_of(browser: Any, console_service: Console) -> Iterator[Any]:
    """A factory: a signed-in page of a fresh browser context at `width` px."""
    opened: list[Any] = []

    def make(name: str, width: int = 1280) -> Any:
        context = browser.new_context(viewport={"width": width, "height": 800}, locale="zh-CN")
        opened.append(context)
        page = context.new_page()
        page.goto(f"{console_service.url}/console/sign-in?next=/console/queue")
        page.locator("#name").fill(name)
        page.locator("#password").fill(PASSWORD)
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_url("**/console/queue")
        return page

    yield make
    for context in opened:
        context.close()


def _open_case(console_service: Console, page: Any, status: str = "open") -> str:
    page.goto(f"{console_service.url}/console/queue?task=wage-arrears&status={status}&sort=score")
    link = page.locator("table.queue a").first
    warning_id = str(link.get_attribute("href")).rsplit("/", 1)[-1]
    page.goto(f"{console_service.url}/console/cases/{warning_id}")
    return warning_id


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_refused_form_says_why_beside_its_field_and_in_the_title(
    page_of: Any, console_service: Console, people: dict[str, str], lang: str
) -> None:
    from serving.console.i18n import Messages

    words = Messages(lang)  # type: ignore[arg-type]
    page = page_of(people[lang], 360)
    warning_id = _open_case(console_service, page)
    title = page.title()
    assert not title.startswith(("错误", "Error"))
    purpose = page.locator("#reveal-purpose")
    # the box takes what the browser would have stopped at 5 characters: the server says why
    assert purpose.get_attribute("minlength") is None
    purpose.fill("abcdefg")
    with page.expect_response(lambda r: r.url.endswith("/reveal")) as answer:
        page.locator("form[aria-labelledby='act-reveal'] button[type=submit]").click()
    assert answer.value.status == 400
    page.wait_for_load_state()
    prefix = "错误：" if lang == "zh" else "Error: "
    assert page.title() == prefix + title
    # the summary at the top has the focus and links to the field
    assert page.evaluate("document.activeElement.id") == "form-error"
    links = page.locator("#form-error a[href='#reveal-purpose']")
    assert links.count() >= 1
    message = page.locator("#reveal-purpose-problem").inner_text()
    assert message and message in page.locator("#form-error").inner_text()
    purpose = page.locator("#reveal-purpose")
    assert purpose.get_attribute("aria-invalid") == "true"
    assert "reveal-purpose-problem" in str(purpose.get_attribute("aria-describedby")).split()
    assert purpose.input_value() == "abcdefg"
    # beside the field: just above it, not screens away
    problem_box = page.locator("#reveal-purpose-problem").bounding_box()
    field_box = purpose.bounding_box()
    assert problem_box and field_box
    assert 0 <= field_box["y"] - (problem_box["y"] + problem_box["height"]) < 40
    screenshot(page, f"case-reveal-refused-{lang}-360")
    links.first.click()
    assert page.evaluate("document.activeElement.id") == "reveal-purpose"
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, f"case-reveal-refused-{lang}-1280")

    # a dispatch note holding a direction override: the same, on the dispatch form's note
    page.goto(f"{console_service.url}/console/cases/{warning_id}")
    dispatch = page.locator("form[aria-labelledby='act-dispatch']")
    dispatch.locator("select[name=department]").select_option("labour_inspection")
    dispatch.locator("textarea[name=note]").fill("已电话核实\u202eevil")
    with page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        dispatch.get_by_role("button").click()
    assert answer.value.status == 400
    page.wait_for_load_state()
    assert page.title().startswith(prefix)
    assert "U+202E" in page.locator("#dispatch-note-problem").inner_text()
    note = page.locator("#dispatch-note")
    assert note.get_attribute("aria-invalid") == "true"
    assert "dispatch-note-problem" in str(note.get_attribute("aria-describedby")).split()
    assert page.locator("#form-error a[href='#dispatch-note']").count() >= 1
    assert words("field.note")


def test_queue_dates_are_read_without_a_dash(console_service: Console, browser: Any) -> None:
    with signed_in_client(console_service, "sup") as client:
        for date_from, date_to in (
            ("20250101", "20261231"),
            ("2025/01/01", "2026/12/31"),
            ("２０２５０１０１", "２０２６／１２／３１"),
            ("2025-01-01", "2026-12-31"),
        ):
            answer = client.get(
                "/console/queue", params={"date_from": date_from, "date_to": date_to}
            )
            assert answer.status_code == 200, (date_from, answer.status_code)
            # the box shows the day as the console writes it
            assert 'value="2025-01-01"' in answer.text and 'value="2026-12-31"' in answer.text
        for wrong in ("2025-0101", "202511", "2025/13/01", "2025.01.01"):
            answer = client.get("/console/queue", params={"date_from": wrong})
            assert answer.status_code == 400, wrong
    # the browser's own check agrees, and the box says its format in its title
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            '<input id="d" pattern="'
            + re.search(r'pattern="([^"]+)"', answer.text).group(1)  # type: ignore[union-attr]
            + '">'
        )
        for typed, valid in (
            ("20251001", True),
            ("2025/10/01", True),
            ("2025-10-01", True),
            ("２０２５－１０－０１", True),
            ("2025.10.01", False),
        ):
            page.locator("#d").fill(typed)
            assert page.locator("#d").evaluate("e => e.checkValidity()") is valid, typed
    finally:
        context.close()
    assert re.search(r'id="f-date_from"[^>]*title="[^"]*20260131', answer.text)


@pytest.mark.parametrize("width", [320, 360])
def test_no_page_scrolls_sideways_on_a_phone(
    page_of: Any, console_service: Console, people: dict[str, str], width: int
) -> None:
    first = page_of(people["zh"], 1280)
    first.goto(f"{console_service.url}/console/queue?task=wage-arrears&status=dispatched")
    if first.locator("table.queue").count() == 0:
        # a dispatched case, whose deadline ("First action due ...") is the longest
        first.goto(f"{console_service.url}/console/queue?task=wage-arrears&status=open&sort=age")
        first.locator("table.queue a").first.click()
        first.wait_for_load_state()
        dispatch = first.locator("form[aria-labelledby='act-dispatch']")
        dispatch.locator("select[name=department]").select_option("labour_inspection")
        dispatch.get_by_role("button").click()
        first.wait_for_load_state()
    for lang in ("zh", "en"):
        page = page_of(people[lang], width)
        for path in (
            "/console/queue?task=wage-arrears&status=open&sort=score",
            "/console/queue?status=dispatched",
            "/console/reports",
            "/console/dashboard",
        ):
            page.goto(console_service.url + path)
            assert page.evaluate(_SIDEWAYS) == [], (lang, width, path)
        page.goto(console_service.url + "/console/queue?status=dispatched")
        assert page.locator("table.queue .due").count() > 0
        screenshot(page, f"queue-dispatched-{lang}-{width}")
        _open_case(console_service, page)
        assert page.evaluate(_SIDEWAYS) == [], (lang, width, "case")


def test_a_wrong_id_in_the_box_comes_back_in_the_queue_with_why(
    console_service: Console, page_of: Any, people: dict[str, str]
) -> None:
    from serving.console.i18n import Messages

    zh = Messages("zh")
    with signed_in_client(console_service, "sup") as client:
        answers = {}
        for given in ("W-12", "W-zzzz", "W-00000000"):
            answer = client.get("/console/cases", params={"id": given})
            answers[given] = answer
            # the queue page, the id in its box, marked invalid, described by the message
            assert '<table class="queue">' in answer.text, given
            box = re.search(r'<input id="f-case-id"[^>]*>', answer.text)
            assert box, given
            assert f'value="{given}"' in box.group(0)
            assert 'aria-invalid="true"' in box.group(0)
            assert 'aria-describedby="f-case-id-problem"' in box.group(0)
            assert 'id="f-case-id-problem"' in answer.text
            assert "<title>错误：" in answer.text
        assert answers["W-12"].status_code == 400
        assert answers["W-zzzz"].status_code == 400
        assert answers["W-00000000"].status_code == 404
        # not an id at all, and an id no warning has, are told apart
        assert zh("error.no_case") not in answers["W-zzzz"].text
        assert "W-zzzz" in answers["W-zzzz"].text and "不是预警编号" in answers["W-zzzz"].text
        assert "没有编号以 W-00000000 开头的预警" in answers["W-00000000"].text
    # in a browser: typed into the box, given back in it, focused, its message read with it
    for lang in ("zh", "en"):
        page = page_of(people[lang], 360)
        page.locator("#f-case-id").fill("W-zzzz")
        with page.expect_response(lambda r: "/console/cases?" in r.url) as answer:
            page.locator("#f-case-id").press("Enter")
        assert answer.value.status == 400
        page.wait_for_load_state()
        assert page.evaluate("document.activeElement.id") == "f-case-id"
        assert page.locator("#f-case-id").input_value() == "W-zzzz"
        assert page.title().startswith("错误：" if lang == "zh" else "Error: ")
        screenshot(page, f"queue-case-id-{lang}-360")
        page.set_viewport_size({"width": 1280, "height": 800})
        screenshot(page, f"queue-case-id-{lang}-1280")


def _ax_name(page: Any, selector: str) -> str:
    """Chromium's accessible name of the first element matching `selector`."""
    session = page.context.new_cdp_session(page)
    document = session.send("DOM.getDocument", {"depth": 0})
    node = session.send(
        "DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector}
    )
    tree = session.send(
        "Accessibility.getPartialAXTree", {"nodeId": node["nodeId"], "fetchRelatives": False}
    )
    session.detach()
    return str(next(n for n in tree["nodes"] if not n.get("ignored"))["name"]["value"])


def test_phone_cards_column_names_are_not_read_twice(
    page_of: Any, console_service: Console, people: dict[str, str]
) -> None:
    page = page_of(people["zh"], 360)
    page.goto(f"{console_service.url}/console/queue?task=wage-arrears&status=open")
    cell = page.locator("table.queue td[data-label]").nth(2)
    label = str(cell.get_attribute("data-label"))
    # drawn for the eye...
    before = cell.evaluate("c => getComputedStyle(c, '::before').content")
    assert label in before
    # ...and not part of the cell's accessible name (the header row names the column)
    name = _ax_name(page, "table.queue tbody td:nth-child(3)")
    assert name and label not in name, name
    page.goto(f"{console_service.url}/console/dashboard")
    name = _ax_name(page, "table.figures tbody td[data-label]")
    assert name and not name.startswith(
        str(page.locator("table.figures tbody td[data-label]").first.get_attribute("data-label"))
    ), name


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_waterfalls_figures_are_given_as_text(
    page_of: Any, console_service: Console, people: dict[str, str], lang: str
) -> None:
    page = page_of(people[lang], 1280)
    _open_case(console_service, page)
    region = page.locator(".chart-scroll")
    image = region.locator("img")
    assert region.get_attribute("aria-label") != image.get_attribute("alt")
    assert image.get_attribute("aria-describedby") == "waterfall-text"
    text = page.locator("#waterfall-text").inner_text()
    score = page.locator("dl.card dd").nth(4).inner_text()  # the case's score, "88.0%"
    assert score in text, (score, text)
    if lang == "zh":
        assert (
            "期望对数几率" in text
            and "基准值" in text
            and "模型输出" in text
            and "经校准后" in text
        )
    else:
        assert "expected log-odds" in text and "base value" in text and "model output" in text
        assert "After calibration" in text
    # the figures the chart prints beside its first and last bars
    assert re.search(r"[+-]\d+\.\d\d", text)
    screenshot(page, f"case-waterfall-{lang}-1280")
    page.set_viewport_size({"width": 360, "height": 800})
    screenshot(page, f"case-waterfall-{lang}-360")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_dashboard_figure_links_are_named_and_big_enough(
    page_of: Any, console_service: Console, people: dict[str, str], lang: str
) -> None:
    from serving.console.i18n import Messages

    words = Messages(lang)  # type: ignore[arg-type]
    page = page_of(people[lang], 360)
    page.goto(f"{console_service.url}/console/dashboard")
    links = page.locator("table.figures a, .panel a.count-link")
    assert links.count() > 0
    for index in range(links.count()):
        box = links.nth(index).bounding_box()
        assert box and box["width"] >= 24 and box["height"] >= 24, (index, box)
    first = page.locator("table.figures tbody tr").first
    link = first.locator("a").first
    expected = words(
        "dash.count_name",
        level=words("level.red"),
        status=words("status.open"),
        n=link.inner_text(),
    )
    assert link.get_attribute("aria-label") == expected
    assert _ax_name(page, "table.figures tbody tr td a") == expected
    screenshot(page, f"dashboard-{lang}-360")
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, f"dashboard-{lang}-1280")
