"""People's sessions on `/v1/`: short-lived signed tokens that name a user, never a password.

`POST /v1/session` checks a password once (Argon2, lockout, audited) and answers a token
`rs_<payload>.<signature>`: the payload names the user and an expiry, the signature is
HMAC-SHA256 under the secrets file's session key. Each request's token is checked and the user
re-read from the store, so a disabled account, a changed role, a password reset or the person
signing out (`DELETE /v1/session`, or the console's sign-out: every session of the account
ends) takes effect at once. A token is stateless, so it has no idle limit: it lives 8 hours
from its sign-in at most.

`SignInThrottle` counts failed sign-ins per client address in this process, for the API and
the console alike: past the limit a client's sign-ins are refused before any password is
checked, so nobody can make the service hash passwords, or fill the audit log with failed
sign-ins, as fast as they can send requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from functools import cache

from starlette.requests import HTTPConnection

from models.settings import Settings
from serving.policy import Actor
from serving.store import UserNotFound, WarningStore
from serving.store.people import UserRecord

TOKEN_PREFIX = "rs_"
SESSION_SECONDS = 8 * 3600


#: Why a token whose credential stamp no longer matches was refused, by what ended it
#: (`WarningStore.stamp_ended_by`).
_ENDED_BY = {
    "disabled": "this sign-in ended when the account was disabled; sign in again",
    "signed_out": "this sign-in ended when the person signed out, which ends every session of "
    "the account; sign in again",
    "password": "the password changed since this sign-in; sign in again",
}


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
            # the password is the same after a disable or a sign-out: say so, or the person
            # looks for a reset
            raise SessionInvalid(_ENDED_BY[store.stamp_ended_by(name, stamp)])
        return Actor.user(user.name, user.role, user.department)


# ----------------------------------------------------------------------------- sign-in throttle

#: The rule of a sign-in refused by the throttle, as its `access_refused` row and the API's 429
#: say it (the console says it in the person's language).
THROTTLE_RULE = "too many failed sign-ins from this client"
THROTTLE_RULE_ZH = "此客户端登录失败次数过多"
#: With `RISKLOOP_REQUIRE_OWN_PASSWORD` on: why a person whose password an administrator set is
#: refused an API session or a console page's form (`console.account.own_password_first`)
OWN_PASSWORD_RULE = (
    "the password an administrator set must first be changed to one of the person's own, "
    "on the console's password page (/console/password)"
)
OWN_PASSWORD_RULE_ZH = (
    "须先在控制台的修改密码页面（/console/password）把管理员设置的密码改为自己的密码"
)


def own_password_first(settings: Settings, user: UserRecord) -> bool:
    """Whether `user` must choose their own password before anything else: theirs is one an
    administrator set and `RISKLOOP_REQUIRE_OWN_PASSWORD` is on (the API's sign-in and every
    console page ask this)."""
    return settings.require_own_password and user.password_from_admin


#: At most this many client addresses are remembered; the one failed longest ago goes first.
THROTTLE_CLIENTS = 10_000


@dataclass(frozen=True)
class Throttled:
    """A client's sign-in refused by the throttle: try again in `retry_after` seconds. `first`:
    the first refusal in a window, the one audited (one `access_refused` row per window, not
    one per attempt)."""

    retry_after: int
    first: bool


class SignInThrottle:
    """Failed sign-ins per client address, in this process: after `failures` of them within
    `window_s` seconds, the client's further sign-ins are refused until the oldest leaves the
    window (`failures` 0: none is). A refused attempt checks no password and is no failure: a
    client keeps trying at `failures` a window at most. Thread-safe (the API's handlers and the
    console's views run in worker threads)."""

    def __init__(self, failures: int, window_s: float) -> None:
        self.failures = failures
        self.window_s = window_s
        self._failed: OrderedDict[str, deque[float]] = OrderedDict()
        self._audited: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> Throttled | None:
        """None when `client` may try a password now; else how long it must wait."""
        now = time.monotonic()
        with self._lock:
            failed = self._recent(client, now)
            if self.failures == 0 or len(failed) < self.failures:
                return None
            wait = max(1, math.ceil(failed[0] + self.window_s - now))
            audited = self._audited.get(client)
            first = audited is None or now - audited >= self.window_s
            if first:
                self._audited[client] = now
            return Throttled(wait, first)

    def refusal(self, client: str, store: WarningStore, path: str) -> Throttled | None:
        """`check`, with the window's first refusal on the record: an `access_refused` row of
        actor `client:<address>` naming the sign-in `path`."""
        throttled = self.check(client)
        if throttled is not None and throttled.first:
            store.refused(actor=f"client:{client}", action="sign_in", rule=THROTTLE_RULE, path=path)
        return throttled

    def failed(self, client: str) -> None:
        """Count a failed sign-in of `client` (a wrong name or password, a locked account)."""
        if self.failures == 0:
            return
        now = time.monotonic()
        with self._lock:
            failed = self._recent(client, now)
            failed.append(now)
            self._failed[client] = failed
            self._failed.move_to_end(client)
            while len(self._failed) > THROTTLE_CLIENTS:
                gone, _ = self._failed.popitem(last=False)
                self._audited.pop(gone, None)

    def _recent(self, client: str, now: float) -> deque[float]:
        """`client`'s failures within the window, oldest first (only the last `failures`
        count)."""
        failed = self._failed.get(client) or deque(maxlen=max(1, self.failures))
        while failed and now - failed[0] >= self.window_s:
            failed.popleft()
        return failed


def client_address(request: HTTPConnection) -> str:
    """The address a sign-in is throttled by, as Starlette gives it (the server takes a proxy's
    `X-Forwarded-For` only from an address in `FORWARDED_ALLOW_IPS`)."""
    return request.client.host if request.client is not None else "unknown"


@cache
def sign_in_throttle(failures: int, window_s: float) -> SignInThrottle:
    """The process's throttle at these settings (`RISKLOOP_SIGN_IN_THROTTLE_*`): the API's
    `POST /v1/session` and the console's sign-in page count against one."""
    return SignInThrottle(failures, window_s)
