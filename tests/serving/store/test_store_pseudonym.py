"""No raw identifier reaches the store: entity ids are keyed hashes, id-like values are scrubbed."""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.store import WarningStore
from serving.store.pseudonym import looks_like_identifier, pseudonymise, sanitise, scrub_text

CITIZEN_ID = "330501199001011234"
PHONE = "13800138000"
BANK_ACCOUNT = "6222021234567890123"
CREDIT_CODE = "91330500MA2B3C4D5E"
RESIDENT = "a1b2c3d4e5f60718"  # the city's resident pseudonyms are ids too: hashed as entity ids
RAW_IDS = (CITIZEN_ID, PHONE, BANK_ACCOUNT, CREDIT_CODE, RESIDENT)


def test_pseudonym_is_keyed_stable_and_short() -> None:
    assert pseudonymise("k1", CITIZEN_ID) == pseudonymise("k1", CITIZEN_ID)
    assert pseudonymise("k1", CITIZEN_ID) != pseudonymise("k2", CITIZEN_ID)
    assert len(pseudonymise("k1", CITIZEN_ID)) == 32
    assert int(pseudonymise("k1", CITIZEN_ID), 16) >= 0
    # HMAC-SHA256, hex, cut: stored pseudonyms (warnings, online store) keep matching
    expected = hmac.new(b"k1", CITIZEN_ID.encode(), hashlib.sha256).hexdigest()[:32]
    assert pseudonymise("k1", CITIZEN_ID) == expected


@pytest.mark.parametrize(
    "raw",
    [
        CITIZEN_ID,
        "33050119900101123X",
        PHONE,
        "+86 13800138000",
        BANK_ACCOUNT,
        CREDIT_CODE,
        "622202123456",
    ],
)
def test_identifiers_are_recognised(raw: str) -> None:
    assert looks_like_identifier(f"联系人{raw}，未接通")
    assert raw not in str(sanitise("k", {"note": f"call {raw} today", raw: 1}))


FULL_WIDTH = str.maketrans({chr(code): chr(code + 0xFEE0) for code in range(0x21, 0x7F)})


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        (PHONE.translate(FULL_WIDTH), PHONE),  # as a Chinese input method types digits
        ("138-0013-8000", PHONE),
        ("138 0013 8000", PHONE),
        ("330501 19900101 1234", CITIZEN_ID),
        ("330501 1990 0101 1234", CITIZEN_ID),  # its date of birth in two groups
        (CITIZEN_ID.translate(FULL_WIDTH), CITIZEN_ID),
        ("6222 0212 3456 7890 123", BANK_ACCOUNT),
        ("6222-0212-3456-7890-123", BANK_ACCOUNT),
        (CREDIT_CODE.lower(), CREDIT_CODE),
        ("33050119900101123x", "33050119900101123X"),
        # landlines: a home number is a resident's as much as a mobile is
        ("0572-2345678", "05722345678"),
        ("0572 2345678", "05722345678"),
        ("(0572)2345678", "05722345678"),
        ("（0572）2345678", "05722345678"),
        ("（０５７２）２３４５６７８", "05722345678"),
        ("010-62345678", "01062345678"),
        # the local number in two groups, as it is read out
        ("021-6234-5678", "02162345678"),
        ("0572 234 5678", "05722345678"),
        ("(021) 6234 5678", "02162345678"),
        # dialled from abroad: the code of the number as dialled at home
        ("+86 572 2345678", "05722345678"),
        ("+86 138 0013 8000", PHONE),
        ("+8613800138000", PHONE),
        ("0086 572 2345678", "05722345678"),
        ("0086-21-6234-5678", "02162345678"),
        ("0086 138 0013 8000", PHONE),
        # separators an input method or a paste brings: full-width hyphen, no-break space, dash
        ("0572－2345678", "05722345678"),
        ("138－1234－5678", "13812345678"),
        ("138\u00a01234\u00a05678", "13812345678"),
        ("0572—2345678", "05722345678"),
        # dots between groups, as some people write numbers (and the full-width stop)
        ("138.0013.8000", PHONE),
        ("138．0013．8000", PHONE),
        ("0572.2345678", "05722345678"),
        ("021.6234.5678", "02162345678"),
        ("+86.138.0013.8000", PHONE),
    ],
)
def test_identifiers_as_people_type_them_are_scrubbed_as_the_id_itself(
    typed: str, canonical: str
) -> None:
    """Full-width digits, separators between groups and lower case hide nothing: the note
    keeps the pseudonym of the id itself (so the same id reads the same however typed)."""
    note = f"已电话联系{typed}，对方称下周补发"
    scrubbed = scrub_text("k", note)
    assert scrubbed == f"已电话联系[id:{pseudonymise('k', canonical)}]，对方称下周补发"
    digits = "".join(ch for ch in canonical if ch.isdigit())
    assert digits[-8:] not in scrubbed.translate({0x20: None, 0x2D: None})


@pytest.mark.parametrize(("word", "raw"), [("Tel", PHONE), ("ID", CITIZEN_ID), ("No.", PHONE)])
def test_an_id_typed_right_after_a_word_is_scrubbed(word: str, raw: str) -> None:
    note = f"联系人{word}{raw}，未接通"
    assert scrub_text("k", note) == f"联系人{word}[id:{pseudonymise('k', raw)}]，未接通"


@pytest.mark.parametrize(
    ("typed", "word", "raw"),
    [
        ("13800138000", "WeChat同号", PHONE),
        ("13800138000", "and", PHONE),
        ("138-0013-8000", "x", PHONE),
        ("13800138000", "abcd", PHONE),  # letters a-f alone are a word, not a hex string
        (CITIZEN_ID, "abc", CITIZEN_ID),
        ("0572-2345678", "ext8001", "05722345678"),
    ],
)
def test_an_id_typed_right_before_a_word_is_scrubbed(typed: str, word: str, raw: str) -> None:
    note = f"联系人{typed}{word}，未接通"
    assert scrub_text("k", note) == f"联系人[id:{pseudonymise('k', raw)}]{word}，未接通"


def test_a_run_of_digits_opening_a_hex_id_is_left_as_it_is() -> None:
    """A warning id or pseudonym may open with a long run of digits that reads as a phone or
    account number: the hex characters after it (a digit among its first letters) show it is
    part of the id."""
    rng = random.Random(7)
    for n in range(3000):
        digits = "1" + rng.choice("3456789") + "".join(rng.choices("0123456789", k=10 + n % 8))
        rest = "".join(rng.choices("0123456789abcdef", k=32 - len(digits)))
        if not rest or rest[0].isdigit():
            continue
        for text in (f"参见 W-{digits}{rest} 的处置", f"[id:{digits}{rest}]"):
            assert scrub_text("k", text) == text, text


def test_pseudonyms_and_hex_ids_in_text_are_left_as_they_are() -> None:
    """A pseudonym or a warning id quoted in a note is a hex string whose digit runs can look
    like a number: none of them is taken for an id (nor is a scrubbed note scrubbed again)."""
    for n in range(3000):
        code = pseudonymise(f"k{n}", CITIZEN_ID)
        for text in (f"见 [id:{code}]", f"参见 W-{code} 的处置", f"编号{code}，"):
            assert scrub_text("k", text) == text, text


def test_a_known_id_is_scrubbed_in_any_case_or_width() -> None:
    """The case's own id, once revealed, may be typed back in lower case or full width."""
    known = frozenset({"MD00000000001"})
    for typed in ("md00000000001", "ＭＤ００００００００００１", "MD00000000001"):
        scrubbed = scrub_text("k", f"纠纷编号 {typed} 已受理", known)
        assert scrubbed == f"纠纷编号 [id:{pseudonymise('k', 'MD00000000001')}] 已受理"


def test_a_known_id_is_scrubbed_where_it_stands_as_a_token_of_its_own() -> None:
    """A unit's own id is found between spaces, punctuation, underscores or Chinese
    characters, never inside a longer run of letters and digits: that is another code, or a
    word that merely contains the id."""
    known = frozenset({"EMP-0042"})
    code = f"[id:{pseudonymise('k', 'EMP-0042')}]"
    for text, expected in (
        ("单位EMP-0042已补发", f"单位{code}已补发"),
        ("unit emp-0042, visited", f"unit {code}, visited"),
        ("ref_EMP-0042_note", f"ref_{code}_note"),
        ("(EMP 0042)", f"({code})"),
        ("unit EMP-00421, XEMP-0042 and EMP-0042X", "unit EMP-00421, XEMP-0042 and EMP-0042X"),
    ):
        assert scrub_text("k", text, known) == expected


_REASON = {
    "feature": "unpaid_social_insurance_months_6m",
    "label": "Unpaid social-insurance months (6 months)",
    "value": 3,
    "contribution": 0.5,
    "direction": "raises",
    "sentence": "3 unpaid social-insurance months in the last 6 (raises risk)",
    "counts": [0, 3, 30],
}


@pytest.mark.parametrize("raw_id", ["v", "0", "3", "ab", "Unp", "a", "a-b-", "3 0"])
def test_an_id_too_short_to_tell_from_words_and_counts_is_not_looked_for(raw_id: str) -> None:
    """An entity id of fewer than `MIN_KNOWN_ID_CHARS` characters is not searched for in what
    is stored with its unit: "v" would be found in every "value" and "0" in every count."""
    from serving.store.pseudonym import MIN_KNOWN_ID_CHARS

    assert len(raw_id.replace("-", "").replace(" ", "")) < MIN_KNOWN_ID_CHARS
    assert sanitise("k", _REASON, frozenset({raw_id})) == _REASON
    assert scrub_text("k", "v a 0 3; see unit 3, ab Unp", frozenset({raw_id})) == (
        "v a 0 3; see unit 3, ab Unp"
    )


def test_a_known_id_never_changes_a_key_and_long_ones_still_change_values() -> None:
    """Keys are the store's own field and feature names: a unit whose id is one ("value",
    "label") keeps its reasons readable, while the same id standing alone in a value (or an
    integer equal to a numeric id) is still scrubbed."""
    for raw_id in ("value", "label", "contribution", "unpaid"):
        scrubbed = sanitise("k", _REASON, frozenset({raw_id}))
        assert list(scrubbed) == list(_REASON)
    code = f"[id:{pseudonymise('k', 'unpaid')}]"
    assert sanitise("k", {"note": "Unpaid firm"}, frozenset({"unpaid"})) == {"note": f"{code} firm"}
    assert sanitise("k", {"value": 20240042}, frozenset({"20240042"})) == {
        "value": f"[id:{pseudonymise('k', '20240042')}]"
    }


@pytest.mark.parametrize(
    "text",
    [
        "2024 2025 2026 年度复核",
        "共 1234 5678 元",
        "2026-11-01 至 2026-12-01",
        "比例 0.1234567",
        "2026.11.01 至 2026.12.01",
        "共 1234.5678 元，涨幅 12.3456%",
        "版本 1.13.4567，编号 1234.5678.9012",
        "IP 192.168.1.100",
    ],
)
def test_numbers_that_are_not_ids_are_left_alone(text: str) -> None:
    assert scrub_text("k", text) == text


@pytest.mark.parametrize(
    "text",
    [
        "3 unpaid social-insurance months in the last 6 (raises risk)",
        "outflow 125000.50 CNY",
        "近6个月社保欠缴3个月（风险上升）",
        "2026-11-01",
        "ratio 0.1234567",
    ],
)
def test_ordinary_reason_text_is_left_alone(text: str) -> None:
    assert sanitise("k", text) == text


def test_sanitise_makes_json_safe_values() -> None:
    assert sanitise("k", {"a": float("nan"), "b": float("inf"), "c": [1, 2.5, True, None]}) == {
        "a": None,
        "b": None,
        "c": [1, 2.5, True, None],
    }
    assert sanitise("k", 13800138000) == f"[id:{pseudonymise('k', PHONE)}]"
    assert sanitise("k", 125000) == 125000


def test_no_raw_identifier_in_any_file_the_store_writes(tmp_path: Path) -> None:
    """Score, warn, dispose and audit with recognisable ids, then grep every byte on disk."""
    folder = tmp_path / "db"
    store = WarningStore(f"sqlite:///{folder / 'store.db'}", "grep-secret")
    results = []
    for raw in RAW_IDS:
        results.append(
            {
                "entity_id": raw,
                "score": 0.9,
                "risk_level": "red",
                "reasons": [
                    {
                        "feature": "contact",
                        "value": PHONE,
                        "sentence": f"账户{BANK_ACCOUNT}夜间转出 (raises risk)",
                    }
                ],
                "actions": [{"department": "anti-fraud centre", "text": f"Call {PHONE}."}],
                "features": {
                    "flagged_calls_30d": 4,
                    "holder": CITIZEN_ID,
                    "phone": int(PHONE),
                    "employer": CREDIT_CODE,
                    "entity_id": raw,
                },
            }
        )
    ids = store.record_scores(
        actor="scorer", task="telecom-fraud", model_name="m", model_version="1", results=results
    )
    store.add_feedback(
        ids[0],
        actor="clerk",
        status="dispatched",
        department="police",
        outcome=None,
        note=f"holder {CITIZEN_ID} reachable at {PHONE}",
    )
    store.audit(actor="admin", action="model_reload", detail={"caller": CITIZEN_ID})
    # callers still find an entity by the id they hold
    assert store.list_warnings(entity_id=CITIZEN_ID)["items"][0]["id"] == ids[0]
    assert store.list_warnings(entity_id=RESIDENT)["total"] == 1
    written = sorted(folder.iterdir())
    assert {path.name for path in written} >= {"store.db", "store.db-wal"}  # before checkpoint
    blobs = {path.name: path.read_bytes() for path in written}
    store.close()
    blobs |= {f"{path.name} (closed)": path.read_bytes() for path in folder.iterdir()}
    for name, blob in blobs.items():
        for raw in RAW_IDS:
            for encoding in ("utf-8", "utf-16-le"):
                assert raw.encode(encoding) not in blob, f"{raw} found in {name}"
    assert pseudonymise("grep-secret", CITIZEN_ID).encode() in blobs["store.db (closed)"]


def test_memo_scrubber_matches_sanitise_record_by_record() -> None:
    """The store's cached scrubber gives `sanitise`'s answer, also when the cache is warm:
    without the unit's own id for results made from the catalog, with it for others."""
    import numpy as np

    from serving.store.scrubbing import MemoScrubber

    scrub = MemoScrubber("k1")
    shared = {
        "label": "Unpaid social insurance",
        "sentence": f"call {PHONE} about it (raises risk)",
        "count": 3,
        "big": int(BANK_ACCOUNT),
        "ratio": float("nan"),
        "inf": float("inf"),
        "flag": True,
        "none": None,
        "numpy": np.int64(13800138000),
        "day": date(2025, 1, 1),
        "pair": (1, CREDIT_CODE),
        CITIZEN_ID: "key is an id",
    }
    for raw_id in (RESIDENT, "emp-7", "3", "Unpaid", "", RESIDENT):
        value = {
            **shared,
            "own": f"unit {raw_id} reported",
            "own_int": 3,
            "nested": [shared, {"entity": raw_id}],
        }
        assert scrub(value) == sanitise("k1", value)
        assert scrub.with_own_id(value, raw_id) == sanitise("k1", value, frozenset({raw_id}))
    # a record whose own id is in it: scrubbed with the id known, its keys never
    own = {"entity": "EMP-0042", "note": "unit emp 0042 paid", "n": 20240042, "EMP-0042": 1}
    for raw_id in ("EMP-0042", "20240042"):
        assert scrub.with_own_id(own, raw_id) == sanitise("k1", own, frozenset({raw_id}))
    assert scrub.with_own_id(own, "EMP-0042")["note"] == (
        f"unit [id:{pseudonymise('k1', 'EMP-0042')}] paid"
    )


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 3, 7, 13800138000, int(BANK_ACCOUNT), -5]),
    st.sampled_from([0.5, -0.0, 3.0, 123456789012.0, float("nan"), float("inf")]),
    st.sampled_from(["retail", "mining", f"call {PHONE}", "E1x", "unit 3"]),
)


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    n_rows=st.integers(0, 40),
    kinds=st.lists(
        st.sampled_from(["int", "float", "bool", "str", "mixed"]), min_size=1, max_size=5
    ),
)
def test_memo_scrubber_rows_match_per_row_scrubbing(
    data: st.DataObject, n_rows: int, kinds: list[str]
) -> None:
    """Column-wise scrubbing of feature rows gives the per-row scrubber's dicts, whatever the
    values (id-like or not, non-finite, missing, of mixed kinds)."""
    import math

    from serving.store.scrubbing import MemoScrubber

    by_kind = {
        "int": st.one_of(st.none(), st.sampled_from([0, 3, 7, 13800138000, int(BANK_ACCOUNT)])),
        "float": st.one_of(
            st.none(), st.sampled_from([0.5, -0.0, 123456789012.0, float("nan"), float("inf")])
        ),
        "bool": st.one_of(st.none(), st.booleans()),
        "str": st.one_of(st.none(), st.sampled_from(["retail", f"call {PHONE}", "E1x", "a3"])),
        "mixed": _SCALARS,
    }
    names = [f"{kind}_{i}" if i else "ratio_a" for i, kind in enumerate(kinds)]
    columns = [data.draw(st.lists(by_kind[k], min_size=n_rows, max_size=n_rows)) for k in kinds]
    scrub = MemoScrubber("k1")
    want = [scrub(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]
    got = scrub.rows(names, columns)

    def same(a: object, b: object) -> bool:
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
            return math.isnan(b)
        return type(a) is type(b) and a == b

    assert len(got) == len(want)
    for got_row, want_row in zip(got, want, strict=True):
        assert list(got_row) == list(want_row)
        assert all(same(got_row[k], want_row[k]) for k in want_row)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789- XxAMTel+86，（）()\u00a0\u2014\uff0d\u3000", max_size=40))
def test_the_quick_check_never_passes_text_the_full_pattern_would_scrub(text: str) -> None:
    """Text the cheap candidate check lets through unchanged holds no id the full pattern
    finds (the check is how most reason sentences skip the full pattern)."""
    from serving.store.pseudonym import _CANDIDATE, _ID_PATTERN

    if _ID_PATTERN.search(text) is not None:
        assert _CANDIDATE.search(text) is not None, text
