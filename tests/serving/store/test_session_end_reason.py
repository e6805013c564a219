"""An API session token ended by a disable (the account enabled since) says so; one ended by a
password reset says the password changed (the disable's token said the password changed,
which sent the person looking for a reset that never happened)."""

from __future__ import annotations

import pytest

from serving.sessions import SessionInvalid, SessionSigner
from serving.store import WarningStore

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another long passphrase"


@pytest.fixture()
def med(store: WarningStore) -> WarningStore:
    store.create_user("off_med", department="labour_inspection", role="officer", password=PASSWORD)
    return store


def _token(store: WarningStore, signer: SessionSigner, password: str = PASSWORD) -> str:
    user = store.sign_in("off_med", password)
    return signer.issue(user.name, stamp=user.credential_stamp)[0]


def test_a_token_ended_by_a_disable_says_so_once_the_account_is_enabled(
    med: WarningStore,
) -> None:
    signer = SessionSigner("session key")
    token = _token(med, signer)
    med.disable_user("off_med")
    med.enable_user("off_med")
    with pytest.raises(SessionInvalid) as ended:
        signer.actor(token, med)
    assert str(ended.value) == "this sign-in ended when the account was disabled; sign in again"
    # twice over, the same
    fresh = _token(med, signer)
    med.disable_user("off_med")
    med.enable_user("off_med")
    med.disable_user("off_med")
    med.enable_user("off_med")
    for old in (token, fresh):
        with pytest.raises(SessionInvalid, match="account was disabled"):
            signer.actor(old, med)


def test_a_token_ended_by_a_password_reset_says_the_password_changed(med: WarningStore) -> None:
    signer = SessionSigner("session key")
    token = _token(med, signer)
    med.reset_password("off_med", NEW_PASSWORD)
    with pytest.raises(SessionInvalid, match=r"^the password changed since this sign-in"):
        signer.actor(token, med)
    # a disable and a reset both since: the password did change
    fresh = _token(med, signer, NEW_PASSWORD)
    med.disable_user("off_med")
    med.enable_user("off_med")
    med.reset_password("off_med", PASSWORD)
    with pytest.raises(SessionInvalid, match=r"^the password changed since this sign-in"):
        signer.actor(fresh, med)
