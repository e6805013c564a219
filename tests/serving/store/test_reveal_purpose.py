"""A reveal's purpose is words, and Chinese counts fairly; a refused reveal names its task.

`----------`, `..........`, `aaaaaaaaaa` and `1111111111` passed the old ten-character length
check, while real Chinese purposes of six to nine characters (`调解前联系当事人`,
`核实欠薪线索`) were refused: a Chinese character says about what two letters do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from serving.store import WarningStore
from serving.store.identity import EntityCipher
from serving.store.privacy import RevealLimited, states_a_purpose

SECRET = "test-secret"
TASK = "wage-arrears"
KEYS = {"k-1": bytes(range(32))}
ENTITY = "91330100MA27XK9L2B"


@pytest.fixture()
def sealed(migrated_store_url: str) -> Iterator[WarningStore]:
    """A store that encrypts entity ids (the service's configuration)."""
    opened = WarningStore(migrated_store_url, SECRET, EntityCipher(KEYS, "k-1"))
    yield opened
    opened.close()


def _warning(store: WarningStore, scored: Callable[..., dict[str, object]]) -> str:
    (warning_id,) = store.record_scores(
        actor="key:scorer",
        task=TASK,
        model_name="riskloop-wage-arrears",
        model_version="1",
        results=[scored(ENTITY, 0.9, "red")],
    )
    assert warning_id is not None
    return warning_id


@pytest.mark.parametrize(
    ("purpose", "states"),
    [
        ("----------", False),
        ("..........", False),
        ("aaaaaaaaaa", False),
        ("1111111111", False),
        ("。。。。。。。。。。", False),
        ("核核核核核核", False),  # one character repeated, however heavy
        ("核实欠薪", False),  # four Chinese characters weigh 8
        ("call 123456", False),  # weighs 11, but three letters: one word and a number
        ("call them 123456", True),
        ("调解前联系当事人", True),
        ("核实欠薪线索", True),
        ("核实线索", False),
        ("on-site visit", True),
        ("  核实 wage  ", False),  # 2 + 2 + 1 + 4: blanks around the text weigh nothing
        ("核实 wages!", True),  # 2 + 2 + 1 + 6
        # an outside review: each passed the old rule (weight 10, two different letters)
        ("........ab", False),
        ("abababababab", False),
        ("aaaaaaaaab", False),
        ("abcdabcdabcd", False),  # four letters, one pattern repeated
        ("abcd abcd abcd", False),  # the same with spaces
        ("ABCDabcdABCD", False),  # the same in two cases
        ("核实核实核实", False),
        # and real purposes pass: a space between two words is one character
        ("check lead", True),
        ("verify arrears lead", True),
        ("核实 欠薪", False),  # 2 + 2 + 1 + 2 + 2
        # accents stacked on four letters are four characters on screen
        ("abcd\u0300\u0301\u0302\u0303\u0304\u0305", False),
        ("abcd" + "\u0301" * 8, False),
        ("vérifier la piste", True),  # an accent typed as a combining mark is part of a word
        ("ve\u0301rifier la piste", True),
    ],
)
def test_a_purpose_must_carry_words_and_chinese_counts_double(purpose: str, states: bool) -> None:
    assert states_a_purpose(purpose) is states


def test_the_store_refuses_a_purpose_without_words_and_takes_a_short_chinese_one(
    sealed: WarningStore, scored: Callable[..., dict[str, object]]
) -> None:
    warning_id = _warning(sealed, scored)
    for empty in ("----------", "1111111111", "aaaaaaaaaa", "........ab", "abababababab"):
        with pytest.raises(ValueError, match="in words: at least 4 different letters"):
            sealed.reveal(warning_id, actor="user:a", purpose=empty, limit=5)
    assert sealed.reveal(warning_id, actor="user:a", purpose="核实欠薪线索", limit=5) == ENTITY
    reveals = [row for row in sealed.audit_rows() if row["action"] == "identity_reveal"]
    assert [row["detail"]["purpose"] for row in reveals] == ["核实欠薪线索"]


def test_a_reveal_refused_for_the_hourly_limit_is_on_the_record_with_its_task(
    sealed: WarningStore, scored: Callable[..., dict[str, object]]
) -> None:
    """Other refusals of a case carry its task; the limit's carried `-` and fell out of a
    per-task reading of the log."""
    warning_id = _warning(sealed, scored)
    sealed.reveal(warning_id, actor="user:a", purpose="on-site visit", limit=1)
    with pytest.raises(RevealLimited):
        sealed.reveal(warning_id, actor="user:a", purpose="on-site visit", limit=1)
    (refusal,) = [row for row in sealed.audit_rows() if row["action"] == "access_refused"]
    assert refusal["detail"]["warning_id"] == warning_id
    assert refusal["task"] == TASK
    assert refusal["model_version"] == "1"
