"""People's sessions on `/v1/`: short-lived signed tokens that name a user, never a password.

`POST /v1/session` checks a password once (Argon2, lockout, audited) and answers a token
`rs_<payload>.<signature>`: the payload names the user and an expiry, the signature is
HMAC-SHA256 under the secrets file's session key. Each request's token is checked and the user
re-read from the store, so a disabled account, a changed role or a password reset takes effect
at once. The
console may carry the same token in its cookie and build the same `Actor`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from serving.policy import Actor
from serving.store import UserNotFound, WarningStore

TOKEN_PREFIX = "rs_"
SESSION_SECONDS = 8 * 3600


class SessionInvalid(Exception):
    """A token that is malformed, forged, expired or names a disabled or unknown user (401)."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SessionSigner:
    """Issues and checks session tokens under one key."""

    key: str
    lifetime_s: int = SESSION_SECONDS

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.key.encode(), payload.encode(), hashlib.sha256).digest())

    def issue(
        self, user_name: str, *, stamp: str = "", now: float | None = None
    ) -> tuple[str, int]:
        """(token, expiry as a Unix time) for `user_name`, bound to the account's credential
        `stamp` (`UserRecord.credential_stamp`: a password reset ends the token)."""
        expires = int((now or time.time()) + self.lifetime_s)
        payload = _b64(json.dumps({"u": user_name, "exp": expires, "c": stamp}).encode())
        return f"{TOKEN_PREFIX}{payload}.{self._sign(payload)}", expires

    def user_name(self, token: str, *, now: float | None = None) -> str:
        """The user a valid token names; raises `SessionInvalid`."""
        return self._claims(token, now=now)[0]

    def _claims(self, token: str, *, now: float | None = None) -> tuple[str, str]:
        """(user name, credential stamp) of a valid token; raises `SessionInvalid`."""
        body = token.removeprefix(TOKEN_PREFIX)
        payload, _, signature = body.partition(".")
        if not token.startswith(TOKEN_PREFIX) or not payload or not signature:
            raise SessionInvalid("malformed session token")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise SessionInvalid("invalid session token")
        try:
            claims = json.loads(_unb64(payload))
            name, expires = str(claims["u"]), int(claims["exp"])
            stamp = str(claims.get("c", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SessionInvalid("malformed session token") from None
        if expires < (now or time.time()):
            raise SessionInvalid("session expired; sign in again")
        return name, stamp

    def actor(self, token: str, store: WarningStore) -> Actor:
        """The `Actor` of a valid token's user, as the store has them now."""
        name, stamp = self._claims(token)
        try:
            user = store.get_user(name)
        except UserNotFound:
            raise SessionInvalid("session user no longer exists") from None
        if not user.active:
            raise SessionInvalid("account disabled")
        if not hmac.compare_digest(stamp, user.credential_stamp):
            if store.stamp_ended_by(name, stamp) == "disabled":
                # the password is the same: say so, or the person looks for a reset
                raise SessionInvalid(
                    "this sign-in ended when the account was disabled; sign in again"
                )
            raise SessionInvalid("the password changed since this sign-in; sign in again")
        return Actor.user(user.name, user.role, user.department)
