"""What a person types or pastes into the queue's boxes and address, read as they meant it or
refused in their words, never a server error or a page that reads backwards.

QA found a page number in other digits (`²`, which `str.isdigit` takes and `int` refuses)
answering 500; a bidirectional override (U+202E) in a filter or the box opening a case echoed
raw, so the page read backwards; and an entity's id with a pasted zero-width space (U+200B)
answered by a bare error page naming the field `unit_id`, the id lost. Each comes back on the
queue (400) naming the character, the box holding what was typed without it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from markupsafe import escape

from serving.console.i18n import Messages
from tests.console.conftest import Console, create_person, screenshot, signed_in_client
from tests.console.test_pages import _axe_violations
from tests.console.test_unit_search import _find

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: what follows it reads backwards
ZWSP = "\u200b"  # ZERO WIDTH SPACE: pasted in unseen with an id copied from a web page


def _said(page: str, text: str) -> bool:
    """Whether `page` says `text` (as Jinja escapes it)."""
    return str(escape(text)) in page


def _box(page: str, field_id: str) -> str:
    """The value a text box of `page` holds."""
    found = re.search(rf'<input id="{field_id}"[^>]*?value="([^"]*)"', page, re.S)
    assert found is not None, field_id
    return str(found[1])


def _problem(page: str, name: str) -> str:
    """What the queue says beside a field (`f-<name>-problem`)."""
    found = re.search(rf'<span id="f-{name}-problem"[^>]*>(.*?)</span>', page, re.S)
    assert found is not None, name
    return str(found[1])


def _tracebacks(console_service: Console) -> int:
    return console_service.log.read_text("utf-8", errors="replace").count("Traceback")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_page_number_in_other_digits_is_said_wrong_not_a_server_error(
    console_service: Console, lang: str
) -> None:
    t = Messages(lang)  # type: ignore[arg-type]
    name = f"qa59.page.{lang}"
    create_person(name, "county_centre", "supervisor", lang)
    before = _tracebacks(console_service)
    with signed_in_client(console_service, name) as client:
        # superscript two, Arabic-Indic one, full-width one: digits to `isdigit`, and some to
        # `int` too; and more ASCII digits than `int` converts (4,300)
        for typed in ("²", "١", "１", "1" * 5000):
            answer = client.get("/console/queue", params={"page": typed, "task": "wage-arrears"})
            assert answer.status_code == 400, (typed[:5], answer.status_code, answer.text[:200])
            assert answer.headers["content-type"].startswith("text/html")
            said = t(
                "queue.problem",
                field=t("filter.page"),
                detail=t("filter_error.page", value=typed[:20]),
            )
            assert _said(answer.text, said), typed[:5]
            # the link back to page 1 keeps the other filters
            assert 'href="/console/queue?task=wage-arrears"' in answer.text
    assert _tracebacks(console_service) == before


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_refused_characters_in_queue_filters_are_named_and_taken_out_of_their_boxes(
    console_service: Console, lang: str
) -> None:
    t = Messages(lang)  # type: ignore[arg-type]
    name = f"qa59.rlo.{lang}"
    create_person(name, "county_centre", "supervisor", lang)
    named = t("filter_error.characters", value="U+202E")
    with signed_in_client(console_service, name) as client:
        both = client.get(
            "/console/queue", params={"entity": f"{RLO}abc def", "date_to": f"{RLO}10-10-2026"}
        )
        district = client.get("/console/queue", params={"district": f"{RLO}abc"})
        spaced = client.get("/console/queue", params={"entity": f"{'0' * 32}{ZWSP}"})
        case_id = client.get("/console/cases", params={"id": f"{RLO}12345678-W"})
    for answer in (both, district, spaced, case_id):
        assert answer.status_code == 400, answer.text[:300]
        assert f'<html lang="{lang}' in answer.text
        assert RLO not in answer.text and ZWSP not in answer.text
    assert _problem(both.text, "entity") == str(escape(named))
    assert _problem(both.text, "date_to") == str(escape(named))
    assert _box(both.text, "f-entity") == "abc def"
    assert _box(both.text, "f-date_to") == "10-10-2026"
    assert _problem(district.text, "district") == str(escape(named))
    assert '<option value="abc" selected>abc</option>' in district.text
    assert _problem(spaced.text, "entity") == str(
        escape(t("filter_error.characters", value="U+200B"))
    )
    assert _box(spaced.text, "f-entity") == "0" * 32
    # the box opening a case: the id without the override, what was wrong beside it
    assert _box(case_id.text, "f-case-id") == "12345678-W"
    assert _problem(case_id.text, "case-id") == str(
        escape(t("queue.case_id_characters", chars="U+202E"))
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_entity_id_with_a_pasted_zero_width_space_comes_back_in_its_box(
    person: Any, console_service: Console, lang: str
) -> None:
    t = Messages(lang)  # type: ignore[arg-type]
    name = f"qa59.unit.{lang}"
    create_person(name, "county_centre", "supervisor", lang)
    viewer = person()
    viewer.sign_in(name)
    raw = "91330502KXLADLEPFY"
    assert _find(viewer, raw + ZWSP) == 400
    page = viewer.page
    assert page.locator("#f-unit-id").input_value() == raw
    said = page.locator("#f-unit-id-problem").inner_text()
    assert said == t("unit.characters", chars="U+200B")
    assert "unit_id" not in page.locator("main").inner_text()
    assert page.locator("#f-unit-id").get_attribute("aria-invalid") == "true"
    assert _axe_violations(page) == []
    screenshot(page, f"qa59-unit-zwsp-{lang}")
    # the id given back, sent again: that entity's queue
    assert _find(viewer, page.locator("#f-unit-id").input_value()) == 303
    assert "/console/queue?entity=" in page.url
    errors = [e for e in viewer.watch.errors if "status of 400" not in e]
    assert errors == [] and viewer.watch.outside == []


def test_a_refused_form_field_is_named_in_words() -> None:
    from serving.console.forms import FormFieldError, field_problem

    for lang, label in (("zh", "对象编号"), ("en", "Entity's id")):
        t = Messages(lang)  # type: ignore[arg-type]
        said = field_problem(FormFieldError("unit_id", 4000, [ZWSP]), t)
        assert label in said and "unit_id" not in said and "U+200B" in said
