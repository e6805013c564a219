"""A name typed at a failed sign-in that is no user's (a password typed in the wrong field, a
phone number) is never kept as typed: the audit log names the attempt by a keyed fingerprint,
the same for the same name, so repeated attempts can be correlated; a user's own failures keep
the user's name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text

from serving.store import SignInRefused, WarningStore
from serving.store.people import typed_user_name
from tests.serving.store.conftest import SECRET

PASSWORD = "correct horse battery"
FINGERPRINT_ACTOR = re.compile(r"user:\?[0-9a-f]{16}")


def _audit_text(store: WarningStore) -> str:
    with store.engine.connect() as connection:
        return "\n".join(
            str(tuple(row)) for row in connection.execute(text("SELECT * FROM audit_log"))
        )


def _fail(store: WarningStore, name: str, password: str = "wrong") -> None:
    with pytest.raises(SignInRefused):
        store.sign_in(name, password)


def test_a_password_typed_as_the_name_is_kept_only_as_its_fingerprint(
    store: WarningStore, tmp_path: Path
) -> None:
    typed = "Passw0rd-Long-123!"
    _fail(store, typed)
    _fail(store, typed)
    _fail(store, "another typo")
    actors = [row["actor"] for row in store.audit_rows() if row["action"] == "sign_in_failed"]
    assert all(FINGERPRINT_ACTOR.fullmatch(actor) for actor in actors), actors
    # the same name twice is one actor, another name another
    assert actors[0] == actors[1] == store.unknown_name_actor(typed_user_name(typed)) != actors[2]
    assert "Passw0rd" not in _audit_text(store) and "typo" not in _audit_text(store)
    assert store.audit_rows(actor=typed) == []
    found = store.audit_rows(actor=actors[0])
    assert [row["detail"] for row in found] == [{"reason": "unknown user"}] * 2
    # keyed: another secret fingerprints the same name differently (in a store of its own:
    # a store refuses a key other than its own)
    with WarningStore(f"sqlite:///{tmp_path / 'other.db'}", SECRET + "-other") as other:
        assert other.unknown_name_actor(typed_user_name(typed)) != actors[0]


@pytest.mark.parametrize("typed", ["13987654321", "330501198802021234", "evil\n\tuser:wang"])
def test_an_id_or_a_forged_row_typed_as_the_name_leaves_no_trace_of_itself(
    store: WarningStore, typed: str
) -> None:
    _fail(store, typed)
    (row,) = store.audit_rows()
    assert FINGERPRINT_ACTOR.fullmatch(row["actor"]), row
    assert typed[:6] not in _audit_text(store) and "wang" not in _audit_text(store)


def test_a_fingerprint_of_hex_digits_alone_is_not_taken_for_an_id(store: WarningStore) -> None:
    """16 hex characters may all be digits, which the id scrubber would take for a card
    number: the fingerprint actor is kept whole, so attempts stay correlated."""
    assert store.scrub_actor("user:?1381234567800000") == "user:?1381234567800000"
    assert store.scrub_actor("user:13812345678").startswith("user:[id:")


def test_a_users_own_failures_keep_the_users_name(store: WarningStore) -> None:
    store.create_user("alice", department="tax", role="officer", password=PASSWORD)
    _fail(store, "alice")
    store.disable_user("alice")
    _fail(store, "alice", PASSWORD)
    failed = [row for row in store.audit_rows() if row["action"] == "sign_in_failed"]
    assert [row["actor"] for row in failed] == ["user:alice", "user:alice"]
