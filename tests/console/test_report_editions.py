"""A report's edition note says what is true.

In English, opening the Chinese file of a report that also has an English edition said "This
report has no English edition yet: the Chinese one is shown". It now says this is the Chinese
edition and links the English one; a report with a Chinese edition only still says so.
"""

from __future__ import annotations

import shutil
from typing import Any

from tests.console.conftest import Console, screenshot


def _speak(viewer: Any, lang: str) -> None:
    """Switch the signed-in person's language (remembered on the account) to `lang`."""
    if not viewer.page.locator("html").get_attribute("lang").startswith(lang):
        viewer.page.locator("header form[action$='/lang'] button").click()
        viewer.page.wait_for_load_state()


def test_the_chinese_edition_opened_in_english_is_named_and_links_the_english(
    person: Any, console_service: Console
) -> None:
    reports = console_service.root / "reports"
    assert (reports / "wage-arrears-v1.html").is_file()
    assert (reports / "wage-arrears-v1.zh.html").is_file()
    viewer = person()
    viewer.sign_in("sup")
    viewer.go("/console/reports")
    try:
        _speak(viewer, "en")
        viewer.go("/console/reports/wage-arrears-v1.zh.html")
        note = viewer.page.locator("#report-edition")
        assert note.inner_text() == "This is the report's Chinese edition. Open the English edition"
        assert "no English edition" not in viewer.page.locator("main").inner_text()
        frame = viewer.page.locator("iframe.report")
        assert frame.get_attribute("src") == "/console/reports/wage-arrears-v1.zh.html/file"
        screenshot(viewer.page, "report-zh-edition-en")
        note.get_by_role("link").click()
        viewer.page.wait_for_load_state()
        assert viewer.page.url.endswith("/console/reports/wage-arrears-v1.html")
        assert viewer.page.locator("#report-edition").count() == 0
        assert frame.get_attribute("src") == "/console/reports/wage-arrears-v1.html/file"

        # a report in Chinese only: said so, with nothing to link
        shutil.copyfile(
            reports / "wage-arrears-v1.zh.html", reports / "dispute-escalation-v97.zh.html"
        )
        viewer.go("/console/reports/dispute-escalation-v97.html")
        note = viewer.page.locator("#report-edition")
        assert (
            note.inner_text() == "This report has no English edition yet: the Chinese one is shown."
        )
        assert note.get_by_role("link").count() == 0
    finally:
        (reports / "dispute-escalation-v97.zh.html").unlink(missing_ok=True)
        viewer.go("/console/reports")
        _speak(viewer, "zh")  # the account's language as the other tests expect it
