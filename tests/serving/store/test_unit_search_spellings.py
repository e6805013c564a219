"""The ids a person's search for a unit tries (`id_spellings`, the console's "find an entity"
box): as typed first, then as the city's tables write it. A dispute's number typed on a phone
in lower case or read out with a dash finds the dispute the tables number in capitals (QA,
2026-12-07: `md00000003752` and `MD-00000003752` found nothing)."""

from __future__ import annotations

import pytest

from serving.store.pseudonym import id_spellings


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("md00000003752", "MD00000003752"),
        ("MD-00000003752", "MD00000003752"),
        ("md-000\u20110000\u22123752", "MD00000003752"),  # other dashes
        ("91330522wnw0uwdqg2", "91330522WNW0UWDQG2"),  # a credit code, as before
        ("3305-0119-9001-0112-3x", "33050119900101123X"),  # an identity card, as before
    ],
)
def test_an_id_typed_otherwise_is_also_tried_as_the_tables_write_it(typed: str, meant: str) -> None:
    spellings = id_spellings(typed)
    assert spellings[0] == typed  # a unit scored under the spelling typed is found first
    assert meant in spellings


def test_an_id_as_the_tables_write_it_is_tried_once() -> None:
    assert id_spellings("MD00000003752") == ["MD00000003752"]
    assert id_spellings("91330522WNW0UWDQG2") == ["91330522WNW0UWDQG2"]


def test_dots_slashes_and_underscores_stay_part_of_an_unknown_id() -> None:
    """Only spaces and dashes are dropped from an id of no known shape: `a_b.1/2` and `ab12`
    may be two units."""
    assert id_spellings("a_b.1/2") == ["a_b.1/2", "A_B.1/2"]
