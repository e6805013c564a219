"""Spellings of an id the scrubber missed: a spaced hyphen (" - "), any Unicode space or dash
between groups (narrow no-break, thin and figure spaces...), a separator between each two
digits of a mobile or identity-card number, and a case's own id typed with a space inside;
and numbers that are no id, spaced the same ways, left as they are."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.store.pseudonym import pseudonymise, sanitise, scrub_text

MOBILE = "13812345678"
CITIZEN_ID = "330501199001011234"


def _scrubs_to(typed: str, canonical: str) -> None:
    note = f"已电话联系{typed}，对方称下周补发"
    assert scrub_text("k", note) == f"已电话联系[id:{pseudonymise('k', canonical)}]，对方称下周补发"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("138 - 1234 - 5678", MOBILE),
        ("138 --1234-- 5678", MOBILE),  # up to three separators in a row
        ("138\u202f1234\u202f5678", MOBILE),  # narrow no-break space
        ("138\u20091234\u20095678", MOBILE),  # thin space
        ("138\u20071234\u20075678", MOBILE),  # figure space
        ("138\u20101234\u20105678", MOBILE),  # hyphen
        ("138\u22121234\u22125678", MOBILE),  # minus sign
        ("138 — 1234 — 5678", MOBILE),
        ("+86 - 138 - 1234 - 5678", MOBILE),
        ("1 3 8 1 2 3 4 5 6 7 8", MOBILE),
        ("1-3-8-1-2-3-4-5-6-7-8", MOBILE),
        ("1 - 3 - 8 - 1 - 2 - 3 - 4 - 5 - 6 - 7 - 8", MOBILE),
        ("１ ３ ８ １ ２ ３ ４ ５ ６ ７ ８", MOBILE),
        ("330501 - 19900101 - 1234", CITIZEN_ID),
        ("330501\u202f1990\u202f0101\u202f1234", CITIZEN_ID),
        (" ".join(CITIZEN_ID), CITIZEN_ID),
        (" ".join("33050119900101123x"), "33050119900101123X"),
        ("0572 - 2345678", "05722345678"),
        ("6222 - 0212 - 3456 - 7890 - 123", "6222021234567890123"),
    ],
)
def test_an_id_spelt_with_more_or_other_separators_is_scrubbed(typed: str, canonical: str) -> None:
    _scrubs_to(typed, canonical)


def _chars(category: str) -> list[str]:
    return [
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) == category
    ]


@pytest.mark.parametrize("category", ["Zs", "Pd"])
def test_every_unicode_space_and_dash_between_groups_is_a_separator(category: str) -> None:
    for char in _chars(category):
        _scrubs_to(f"138{char}1234{char}5678", MOBILE)


@pytest.mark.parametrize(
    "text",
    [
        "1 3 5 7 9 11 13 15",
        "scores 1 2 3 4 5 6 7 8 9 10",
        "共 1 000 000 元",
        "12 345 678 901 元",
        "page 1 - 3, 13 - 15",
        "0.5 - 1.25 - 3",
        "2024-01-01 - 2024-12-31",
        "2026-11-01 - 2026-12-01 - 2027-01-01",
        "2026\u202f11\u202f01",
        "共 1234 - 5678 元",
        "1 2 3 4 5 6 7 8 9 0",  # ten digits: no mobile
    ],
)
def test_spaced_numbers_that_are_not_ids_are_left_alone(text: str) -> None:
    assert scrub_text("k", text) == text


def test_a_known_id_typed_with_a_space_inside_is_scrubbed() -> None:
    """A case's own id (16 hex characters, a resident's), once revealed, typed in two halves."""
    known = "a28e206c53beed99"
    for typed in ("a28e206c 53beed99", "A28E206C-53BEED99", "a28e 206c 53be ed99"):
        note = f"联系 {typed} 已核实"
        assert sanitise("k", note, frozenset({known})) == (
            f"联系 [id:{pseudonymise('k', known)}] 已核实"
        )
    # without it known, a hex string is never taken for an id
    assert scrub_text("k", "联系 a28e206c 53beed99 已核实") == "联系 a28e206c 53beed99 已核实"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789- .\u202f\u2009\u2007\u2010\u2212—", max_size=50))
def test_the_quick_check_never_passes_a_spelling_the_full_pattern_would_scrub(text: str) -> None:
    from serving.store.pseudonym import _CANDIDATE, _ID_PATTERN

    if _ID_PATTERN.search(text) is not None:
        assert _CANDIDATE.search(text) is not None, text


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("138\u00ad1234\u00ad5678", MOBILE),  # soft hyphens: the page shows 13812345678
        ("138\u200c1234\u200c5678", MOBILE),  # zero-width non-joiners
        ("138\u200d1234\u200e5678", MOBILE),  # a joiner, a direction mark
        ("138 - \u00ad1234 - 5678", MOBILE),  # beside a separator
        ("330501\u00ad19900101\u00ad1234", CITIZEN_ID),
        ("1\u180e3812345678", MOBILE),  # the Mongolian vowel separator
    ],
)
def test_an_id_split_by_invisible_characters_a_text_may_keep_is_scrubbed(
    typed: str, canonical: str
) -> None:
    """QA, 2026-12-07: a note, a department name, a purpose or a filter holding a number split by
    soft hyphens or joiners (kept in a person's text: they shape scripts and emoji) was stored
    as typed, the number whole on every page."""
    _scrubs_to(typed, canonical)


def test_a_known_id_split_by_an_invisible_character_is_scrubbed() -> None:
    known = "QA-Xwag264"
    for typed in ("QA\u00adXwag264", "QA-\u200cXwag264", "qa\u200d-xwag264"):
        assert sanitise("k", f"owner {typed} called", frozenset({known})) == (
            f"owner [id:{pseudonymise('k', known)}] called"
        )


@pytest.mark.parametrize(
    "text",
    [
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 一家三口来访",  # an emoji's joiners
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian's non-joiner
    ],
)
def test_invisible_characters_away_from_ids_are_kept(text: str) -> None:
    assert scrub_text("k", text) == text


def test_a_soft_hyphen_inside_a_word_goes_and_the_word_reads_the_same() -> None:
    assert scrub_text("k", "co\u00adoperation") == "cooperation"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("0572-1234567", "05721234567"),  # a local number starting with 1, in one group
        ("(0572)1234567", "05721234567"),
        ("010-12345678", "01012345678"),
        ("86-13812345678", MOBILE),  # 86 alone before a mobile: the mobile's own code
        ("86 138 1234 5678", MOBILE),
    ],
)
def test_landlines_starting_with_one_and_mobiles_after_86_are_scrubbed(
    typed: str, canonical: str
) -> None:
    """QA, 2026-12-07: `回电 0572-1234567` stayed readable on the timeline, and
    `86-13812345678` had another code than `13812345678`."""
    _scrubs_to(typed, canonical)


def test_a_case_number_in_groups_of_four_is_no_landline() -> None:
    assert scrub_text("k", "案号 2025-0502-1234-5678") == "案号 2025-0502-1234-5678"
