"""A person's change of their own password in the store, on SQLite and PostgreSQL alike: the
current password checked as a sign-in checks it (a wrong one counts towards the lockout), the
strength rule with the rule named, the sessions ended, every attempt in the audit log."""

from __future__ import annotations

import pytest

from serving.store import SignInRefused, UserNotFound, WarningStore
from serving.store.passwords import WeakPassword
from serving.store.people import MAX_FAILED_SIGN_INS

PASSWORD = "correct horse battery"
NEW = "violet kettle 8 drums"


def _person(store: WarningStore) -> None:
    store.create_user("wang", department="labour_inspection", role="officer", password=PASSWORD)


def test_a_changed_password_signs_in_and_the_old_one_no_longer_does(store: WarningStore) -> None:
    _person(store)
    stamp = store.sign_in("wang", PASSWORD).credential_stamp
    changed = store.change_password("wang", PASSWORD, NEW)
    # an API token carries the stamp: the tokens signed in with the old password are over
    assert changed.credential_stamp != stamp and changed.failed_attempts == 0
    assert store.sign_in("wang", NEW).name == "wang"
    with pytest.raises(SignInRefused):
        store.sign_in("wang", PASSWORD)
    (row,) = [r for r in store.audit_rows() if r["action"] == "user_password_changed"]
    assert row["actor"] == "user:wang" and row["detail"] == {"sessions_ended": 0}
    with store.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT password_hash FROM users").scalar()
    assert stored.startswith("$argon2id$") and NEW not in stored


@pytest.mark.parametrize(
    ("new", "kind"),
    [
        ("   " * 5, "blank"),
        ("short one", "short"),
        ("x" * 1025 + "abcdef", "long"),
        ("abcabcabcabc", "pattern"),
        ("aaaaaabbbbbb", "distinct"),
        ("abcdefghijkl", "walk"),
        ("qwertyuiopas", "walk"),  # on from one keyboard row to the next (QA, 2026-12-07)
        ("1qaz2wsx3edc", "walk"),  # down the keyboard's columns
        ("qwerty123456", "common"),  # two walks side by side
        ("Password1234", "common"),
        ("P@ssw0rd2026", "common"),
        ("woaini520520", "common"),
        ("my name is wang, ok", "name"),
        (PASSWORD, "same"),
    ],
)
def test_a_new_password_the_rule_refuses_names_the_rule_and_changes_nothing(
    store: WarningStore, new: str, kind: str
) -> None:
    _person(store)
    before = store.get_user("wang").credential_stamp
    with pytest.raises(WeakPassword) as refused:
        store.change_password("wang", PASSWORD, new)
    assert refused.value.kind == kind
    assert new.strip() not in str(refused.value) or kind == "blank"
    assert store.get_user("wang").credential_stamp == before
    assert store.sign_in("wang", PASSWORD).name == "wang"
    assert not [r for r in store.audit_rows() if r["action"] == "user_password_changed"]


def test_a_wrong_current_password_counts_towards_the_lockout_as_a_sign_in_does(
    store: WarningStore,
) -> None:
    _person(store)
    for _ in range(MAX_FAILED_SIGN_INS):
        with pytest.raises(SignInRefused) as wrong:
            store.change_password("wang", "not the password!", NEW)
        assert wrong.value.reason == "wrong current password"
    assert store.get_user("wang").locked_until is None  # the limit is not yet passed
    with pytest.raises(SignInRefused) as locking:
        store.change_password("wang", "not the password!", NEW)
    assert locking.value.reason.startswith("wrong current password; locked until ")
    # locked: the right password changes nothing, and signs nobody in
    with pytest.raises(SignInRefused) as locked:
        store.change_password("wang", PASSWORD, NEW)
    assert locked.value.reason.startswith("account locked until ")
    with pytest.raises(SignInRefused):
        store.sign_in("wang", PASSWORD)
    failed = [r for r in store.audit_rows() if r["action"] == "password_change_failed"]
    assert len(failed) == MAX_FAILED_SIGN_INS + 2
    assert {r["actor"] for r in failed} == {"user:wang"}
    assert all("not the password" not in str(r["detail"]) for r in failed)
    store.unlock_user("wang")
    assert store.change_password("wang", PASSWORD, NEW).locked_until is None


def test_a_disabled_or_unknown_account_changes_no_password(store: WarningStore) -> None:
    _person(store)
    store.disable_user("wang")
    with pytest.raises(SignInRefused) as disabled:
        store.change_password("wang", PASSWORD, NEW)
    assert disabled.value.reason == "account disabled"
    with pytest.raises(UserNotFound):
        store.change_password("li", PASSWORD, NEW)


@pytest.mark.parametrize(
    "chosen",
    [
        "Tulip-Harbour-7391x",
        "Passw0rd-labor1",
        "correct horse battery",
        "another 9 river lantern",
        "Admin@2026xyz",
    ],
)
def test_a_password_of_more_than_two_guessable_pieces_or_others_is_taken(chosen: str) -> None:
    """A common word inside a longer password is no reason to refuse it: only a password
    made of nothing but one or two guessable pieces is."""
    from serving.store.passwords import check_password_strength

    check_password_strength(chosen, "wang")
