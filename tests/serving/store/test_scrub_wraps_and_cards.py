"""An id wrapped over lines or joined by a tab, slash or underscore is scrubbed like one joined
by spaces; a long number that fails the Luhn check (a ticket, a serial, an amount, a case
number in fours) is no bank card and stays as typed; and a list filtered by an outside body's
name finds the cases dispatched to it (stored scrubbed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from serving.store import WarningStore
from serving.store.pseudonym import looks_like_identifier, pseudonymise, sanitise, scrub_text
from tests.serving.store.conftest import SECRET

MOBILE = "13812345678"
CITIZEN_ID = "330502199001011234"


def _id(canonical: str) -> str:
    return f"[id:{pseudonymise('k', canonical)}]"


@pytest.mark.parametrize(
    "typed",
    [
        "138\n1234\n5678",
        "138\r\n1234\r\n5678",
        "138\r1234\r5678",
        "138\t1234\t5678",
        "138_1234_5678",
        "138/1234/5678",
        "138 /\n1234 _ 5678",
        "1\n3\n8\n1\n2\n3\n4\n5\n6\n7\n8",
    ],
)
def test_a_mobile_wrapped_or_joined_by_tab_slash_or_underscore_is_scrubbed(typed: str) -> None:
    assert scrub_text("k", f"已联系{typed}，未接通") == f"已联系{_id(MOBILE)}，未接通"


def test_a_mobile_and_an_id_card_wrapped_over_lines_are_scrubbed_whole() -> None:
    text = "wrapped mobile 138 1234\n5678; ID 330502\n19900101\n1234"
    assert scrub_text("k", text) == f"wrapped mobile {_id(MOBILE)}; ID {_id(CITIZEN_ID)}"
    assert "330502" not in scrub_text("k", "ID 330502\r\n199001011234")


@pytest.mark.parametrize(
    "text",
    [
        "ticket 202507011234 and serial 20250701123045; years 2022 2023 2024 2025; "
        "period 2024.01.01-2024.12.31",
        "138000000000 yuan",
        "案号 2025-0502-1234-5678",
        "order no. 1381234567890123",
        "serial 4111111111111112",  # one digit off a card: fails Luhn
        "2024/01/01 - 2024/12/31",
        "file_2024_0101_1234",
    ],
)
def test_long_numbers_that_fail_the_luhn_check_are_left_alone(text: str) -> None:
    assert scrub_text("k", text) == text
    assert not looks_like_identifier(text)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("4111 1111 1111 1111", "4111111111111111"),  # passes Luhn
        ("4111111111111111", "4111111111111111"),
        ("4111-1111-1111-1111", "4111111111111111"),
        ("6222 0212 3456 7890 128", "6222021234567890128"),
        ("6222021234567890123", "6222021234567890123"),  # UnionPay's 62: a card without Luhn
        ("2023 2024 2025 2026", "2023202420252026"),  # passes Luhn by accident: taken for one
        ("330501900101123", "330501900101123"),  # 15-digit identity card of before 1999
        (MOBILE, MOBILE),
        (CITIZEN_ID, CITIZEN_ID),
        ("0572-2345678", "05722345678"),
        ("057223456789", "057223456789"),  # a landline in one run, no card
        ("91330000MA27XXXX1X", "91330000MA27XXXX1X"),  # unified social credit code
    ],
)
def test_cards_passing_luhn_and_the_other_id_kinds_are_still_scrubbed(
    typed: str, canonical: str
) -> None:
    assert scrub_text("k", f"账号 {typed} 已核") == f"账号 {_id(canonical)} 已核"


def test_integers_follow_the_same_card_rule() -> None:
    assert sanitise("k", 4111111111111111) == _id("4111111111111111")
    assert sanitise("k", 202507011234) == 202507011234
    assert sanitise("k", 13812345678) == _id(MOBILE)


def test_a_case_s_own_hex_id_is_still_scrubbed() -> None:
    known = "a28e206c53beed99"
    note = "联系 a28e206c\n53beed99 已核实"
    assert sanitise("k", note, frozenset({known})) == f"联系 {_id(known)} 已核实"


@pytest.mark.parametrize("typed", ["lawyer 138 1234 5678", "律师 138\n1234\n5678"])
def test_a_list_filtered_by_an_outside_bodys_name_finds_its_cases(
    store: WarningStore, scored: Callable[..., dict[str, object]], typed: str
) -> None:
    (warning_id,) = store.record_scores(
        actor="scorer-key",
        task="wage-arrears",
        model_name="riskloop-wage-arrears",
        model_version="1",
        results=[scored("E-1", 0.9, "red")],
    )
    assert warning_id is not None
    store.add_feedback(
        warning_id,
        actor="user:sup",
        status="dispatched",
        department=typed,
        outcome=None,
        note=None,
    )
    stored = store.get_warning(warning_id)["department"]
    assert stored == f"{typed.split()[0]} [id:{pseudonymise(SECRET, MOBILE)}]"
    found = store.list_warnings(department=typed)
    assert [item["id"] for item in found["items"]] == [warning_id]
    assert [item["id"] for item in store.list_warnings(department=stored)["items"]] == [warning_id]
    assert store.list_warnings(department="lawyer 139 1234 5678")["total"] == 0
