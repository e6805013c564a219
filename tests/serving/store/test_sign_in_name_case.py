"""A user name typed with capitals (a phone's keyboard capitalises the name box's first
letter) was no user: `Zhao` was refused as an unknown name, audited by the unknown-name
fingerprint, and its wrong passwords never counted towards zhao's lockout. The store's
sign-in, the console's and the API's alike, now trims the name and folds it to lower case."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from serving.store import SignInRefused, WarningStore
from serving.store.people import MAX_FAILED_SIGN_INS

PASSWORD = "correct horse battery"


@pytest.fixture()
def zhao(store: WarningStore) -> WarningStore:
    """The store with one officer, zhao."""
    store.create_user("zhao", department="labour_inspection", role="officer", password=PASSWORD)
    return store


def _actions(store: WarningStore) -> list[tuple[str, str]]:
    return [
        (row["actor"], row["action"])
        for row in store.audit_rows()
        if row["action"] in ("sign_in", "sign_in_failed")
    ]


@pytest.mark.parametrize("typed", ["Zhao", "ZHAO", " zHaO\t"])
def test_a_name_typed_with_capitals_signs_in_as_its_user(zhao: WarningStore, typed: str) -> None:
    assert zhao.sign_in(typed, PASSWORD).name == "zhao"
    assert _actions(zhao) == [("user:zhao", "sign_in")]


def test_wrong_passwords_under_a_capitalised_name_lock_the_user_and_are_audited_as_them(
    zhao: WarningStore,
) -> None:
    moment = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    # MAX_FAILED_SIGN_INS wrong passwords are answered, the next one locks
    for typed in (["Zhao", "ZHAO"] * MAX_FAILED_SIGN_INS)[: MAX_FAILED_SIGN_INS + 1]:
        with pytest.raises(SignInRefused) as refused:
            zhao.sign_in(typed, "not the password", now=moment)
    assert refused.value.reason.startswith("wrong password; locked until")
    assert {actor for actor, _action in _actions(zhao)} == {"user:zhao"}
    with pytest.raises(SignInRefused) as locked:
        zhao.sign_in("zhao", PASSWORD, now=moment)
    assert locked.value.reason.startswith("account locked until")


def test_a_name_still_no_users_once_folded_keeps_its_fingerprint(zhao: WarningStore) -> None:
    with pytest.raises(SignInRefused) as refused:
        zhao.sign_in("Zhaoo", PASSWORD)
    assert refused.value.reason == "unknown user"
    assert _actions(zhao) == [(zhao.unknown_name_actor("zhaoo"), "sign_in_failed")]


def test_only_ascii_letters_fold(zhao: WarningStore) -> None:
    """The Kelvin sign lower-cases to "k" in Python: it is not a "k" typed."""
    zhao.create_user("kai", department="tax", role="officer", password=PASSWORD)
    with pytest.raises(SignInRefused) as refused:
        zhao.sign_in("\u212aai", PASSWORD)
    assert refused.value.reason == "unknown user"
