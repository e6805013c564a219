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
WeakKind = Literal[
    "blank", "short", "long", "pattern", "distinct", "walk", "common", "name", "same"
]


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


#: Rows a guesser walks along, each read round and round, forwards or backwards: the digits,
#: the alphabet, each keyboard row, the letter rows read on from one to the next, the keyboard's
#: columns (`1qaz2wsx…`) and its digit and letter rows in turn (`1q2w3e…`)
_ROWS = (
    "0123456789",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "1q2w3e4r5t6y7u8i9o0p",
)
#: What a guesser tries before anything else, beside the walks: well-known passwords and their
#: words (English and pinyin), as `_of_two_guessable_pieces` folds a password
_COMMON_WORDS = frozenset(
    {
        "password", "passwd", "pass", "admin", "administrator", "root", "welcome", "letmein",
        "iloveyou", "woaini", "aini", "qwerty", "monkey", "dragon", "master", "login", "hello",
        "secret", "china", "huzhou", "zhejiang", "riskloop", "user", "guest", "test", "abc",
        "love", "520", "1314", "888", "666", "123", "000",
    }
)  # fmt: skip
_LEET_SYMBOLS = str.maketrans({"@": "a", "$": "s", "!": "i"})
_LEET_DIGITS = str.maketrans({"4": "a", "0": "o", "3": "e", "5": "s", "1": "i"})
#: the fewest characters a walk counts from, inside a password made of pieces
_MIN_WALK = 3


def _runs_along_a_row(password: str) -> bool:
    """Whether the whole password walks one of `_ROWS`, either way, wrapping round
    ("123456789012", "abcdefghijkl", "poiuytrewqpo")."""
    text = password.casefold()
    for row in _ROWS:
        walked = row * (len(text) // len(row) + 2)
        if text in walked or text in walked[::-1]:
            return True
    return False


def _is_walk(piece: str) -> bool:
    return len(piece) >= _MIN_WALK and _runs_along_a_row(piece)


def _is_year(piece: str) -> bool:
    return len(piece) == 4 and piece.isdigit() and 1900 <= int(piece) <= 2099


def _guessable(piece: str) -> bool:
    """A piece a guesser tries whole: a walk, a well-known word, a year, or a short unit
    repeated (`520520`)."""
    return (
        _is_walk(piece)
        or piece in _COMMON_WORDS
        or piece.translate(_LEET_DIGITS) in _COMMON_WORDS
        or _is_year(piece)
        or (len(piece) >= 4 and repeats_one_unit(piece))
    )


def _of_two_guessable_pieces(password: str) -> bool:
    """Whether the password, letters folded (`P@ssw0rd` as `password`) and separators left
    out, is one or two guessable pieces (`_guessable`) side by side: `qwerty123456`,
    `Password1234`, `woaini520520`, `P@ssw0rd2026` (QA, 2026-12-07: each was accepted)."""
    folded = password.casefold()
    for text in {
        "".join(char for char in spelt if char.isalnum())
        for spelt in (folded, folded.translate(_LEET_SYMBOLS))
    }:
        if _guessable(text) or any(
            _guessable(text[:cut]) and _guessable(text[cut:]) for cut in range(1, len(text))
        ):
            return True
    return False


def check_password_strength(password: str, user_name: str = "") -> None:
    """Refuse a password made of blanks, under `MIN_PASSWORD_CHARS` characters, over
    `MAX_PASSWORD_CHARS` (no sign-in form would take it), one pattern repeated or fewer than
    `MIN_PASSWORD_DISTINCT` different characters, a walk along the digits, the alphabet or a
    keyboard row, one or two guessable pieces side by side (`_of_two_guessable_pieces`), or
    holding `user_name` (in any case). The message never quotes it."""
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
    if _of_two_guessable_pieces(password):
        raise WeakPassword(
            "common",
            "password too weak: it is one or two pieces a guesser tries first (a keyboard walk, "
            "a well-known password or word, a year, a short pattern repeated)",
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
