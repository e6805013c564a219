"""People's session tokens: signed, expiring, bound to their key."""

from __future__ import annotations

import pytest

from serving.sessions import SessionInvalid, SessionSigner


def test_tokens_name_their_user_until_they_expire() -> None:
    signer = SessionSigner("one key", lifetime_s=60)
    token, expires = signer.issue("alice", now=1_000.0)
    assert expires == 1_060 and token.startswith("rs_")
    assert signer.user_name(token, now=1_059.0) == "alice"
    with pytest.raises(SessionInvalid, match="expired"):
        signer.user_name(token, now=1_061.0)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature
        lambda token: token.replace("rs_", "rs_x", 1),  # payload
        lambda token: token.split(".")[0],  # no signature
        lambda token: "rk_" + token[3:],  # not a session token
    ],
)
def test_tampered_or_foreign_tokens_are_refused(tamper: object) -> None:
    signer = SessionSigner("one key")
    token, _ = signer.issue("alice")
    with pytest.raises(SessionInvalid):
        signer.user_name(tamper(token))  # type: ignore[operator]
    with pytest.raises(SessionInvalid, match="invalid"):
        SessionSigner("another key").user_name(token)
