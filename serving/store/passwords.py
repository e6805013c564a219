"""Passwords of the people who sign in: the strength rule, Argon2id hashing and checking.

One place for what a password must be (`check_password_strength`: `riskloop users create` and
`reset-password`, and a person changing their own in the console) and how it is kept (Argon2id
through `argon2-cffi` at the configured cost, `RISKLOOP_PASSWORD_*`; by default RFC 9106's
low-memory profile). `serving.store.people` keeps the accounts.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from models.settings import PasswordCost, get_settings, repeats_one_unit

MIN_PASSWORD_CHARS = 12
#: The fewest different characters a password may hold: "aaaaaaaaaaab" or "111111222222" is
#: guessed before it is brute-forced (the webhook secrets' rule, `serving.webhook_secrets`)
MIN_PASSWORD_DISTINCT = 6
#: A user name this long or longer is refused inside its own password (a two-letter name such
#: as "li" is inside too many good passwords to say anything)
MIN_NAME_IN_PASSWORD = 3
#: The longest password an account may have: the console's field, the API's sign-in and
#: `users create` / `reset-password` all hold this one limit.
MAX_PASSWORD_CHARS = 1024
logger = logging.getLogger(__name__)


class PeopleError(ValueError):
    """A request about people the store refuses (unknown department or role, duplicate, weak
    password); the message says which and is safe to show."""


#: Why a password is refused (`WeakPassword.kind`): only blanks, too short, too long, one
#: pattern repeated, too few different characters, a walk along a row, the user name inside,
#: the account's current password given as its new one
WeakKind = Literal["blank", "short", "long", "pattern", "distinct", "walk", "name", "same"]


class WeakPassword(PeopleError):
    """A password the strength rule refuses; `kind` says which rule (for a page to word it in
    its own language), the message says it in English and never quotes the password."""

    def __init__(self, kind: WeakKind, message: str) -> None:
        super().__init__(message)
        self.kind: WeakKind = kind


def password_hasher() -> PasswordHasher:
    """Argon2id at the configured cost (`Settings.password_cost`: RFC 9106's low-memory
    profile unless `RISKLOOP_PASSWORD_*` says otherwise; never less in production)."""
    settings = get_settings()
    cost = settings.password_cost
    if cost != settings.password_cost_asked:
        _say_once_the_asked_cost_is_ignored(settings.password_cost_asked, cost)
    return _hasher_at(cost)


@cache
def _say_once_the_asked_cost_is_ignored(asked: PasswordCost, used: PasswordCost) -> None:
    logger.warning(
        "RISKLOOP_ENV=production: passwords are hashed at %s, not the less work asked for "
        "(RISKLOOP_PASSWORD_*: %s); less than RFC 9106's low-memory profile is for test machines",
        used,
        asked,
    )


@cache
def _hasher_at(cost: PasswordCost) -> PasswordHasher:
    return PasswordHasher(
        time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
    )


def dummy_hash() -> str:
    """Verified against when the name is unknown, so a wrong name costs as long as a wrong
    password (at the same parameters). Made at a process's first sign-in, whatever the name,
    not on import: an Argon2 hash cost every process that imports the store (each CLI command,
    the service's arbiter) about 0.1 s."""
    return _dummy_hash_by(password_hasher())


@cache
def _dummy_hash_by(hasher: PasswordHasher) -> str:
    return hasher.hash("riskloop: no such user")


#: Rows a guesser walks along, each read round and round, forwards or backwards
_ROWS = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _runs_along_a_row(password: str) -> bool:
    """Whether the whole password walks one of `_ROWS`, either way, wrapping round
    ("123456789012", "abcdefghijkl", "poiuytrewqpo")."""
    text = password.casefold()
    for row in _ROWS:
        walked = row * (len(text) // len(row) + 2)
        if text in walked or text in walked[::-1]:
            return True
    return False


def check_password_strength(password: str, user_name: str = "") -> None:
    """Refuse a password made of blanks, under `MIN_PASSWORD_CHARS` characters, over
    `MAX_PASSWORD_CHARS` (no sign-in form would take it), one pattern repeated or fewer than
    `MIN_PASSWORD_DISTINCT` different characters, a walk along the digits, the alphabet or a
    keyboard row, or holding `user_name` (in any case). The message never quotes it."""
    if password and not password.strip():
        raise WeakPassword("blank", "password too weak: it is only blanks")
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(
            "short",
            f"password too weak: use at least {MIN_PASSWORD_CHARS} characters (got {len(password)})",
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(
            "long",
            f"password too long: use at most {MAX_PASSWORD_CHARS} characters (got {len(password)})",
        )
    distinct = len(set(password))
    if repeats_one_unit(password) or distinct < MIN_PASSWORD_DISTINCT:
        what = (
            "it repeats one pattern"
            if repeats_one_unit(password)
            else f"it has only {distinct} different characters"
        )
        raise WeakPassword(
            "pattern" if repeats_one_unit(password) else "distinct",
            f"password too weak: {what} (a repeated pattern, or fewer than "
            f"{MIN_PASSWORD_DISTINCT} different characters, is guessed first)",
        )
    if _runs_along_a_row(password):
        raise WeakPassword(
            "walk",
            "password too weak: it runs along the digits, the alphabet or a keyboard row "
            "(such sequences are guessed first)",
        )
    if len(user_name) >= MIN_NAME_IN_PASSWORD and user_name.casefold() in password.casefold():
        raise WeakPassword(
            "name",
            f"password too weak: it holds the user name {user_name!r}, the first thing tried",
        )


def hash_password(password: str) -> str:
    """Argon2id hash (salt and parameters inside the string)."""
    return password_hasher().hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
