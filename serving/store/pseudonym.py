"""Keyed pseudonyms for personal identifiers, and a scrubber for id-like values in free data.

Stored and logged copies never hold a raw identifier: the entity id becomes
HMAC-SHA256(secret, id), and any value inside reasons, features, notes or audit details that
looks like a citizen ID number, a mobile or landline phone number, a bank account or a unified
social credit code is replaced by its pseudonym. The same secret gives the same pseudonym, so
callers can still look up an entity by the id they hold.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

PSEUDONYM_CHARS = 32
#: The length of a typed name's fingerprint (`name_fingerprint`): 64 bits
NAME_FINGERPRINT_CHARS = 16

# Anchored so that a match is a whole id: never inside a longer run of digits, and never part
# of a hex string (a pseudonym, a warning id: 32 hex characters, so a run of digits in one has
# four or more of them before it, or a digit among the a-f letters after it). A digit-only id
# starts after no digit and not after four hex characters, and ends before no digit and not
# before a-f letters leading to a digit; a credit code (letters and digits) stands between
# no letters or digits. An id typed right after or before a word ("Tel138…", "ID3305…",
# "…5678WeChat", "…5678ext8001", "…123Xabc") is still found.
# Matched on the text with full-width forms folded to ASCII (`_FOLD`: a Chinese input method
# types digits as "１３８…"), letters in either case, and the separators people type between
# groups of digits: a run of one to three (" - ", "\r\n") of any space (every Unicode space
# separator, Zs: the no-break, narrow no-break, thin, figure and ideographic spaces among them),
# line break (a number wrapped over lines: \n, \r), tab, dash (every Unicode dash, Pd, and the
# minus sign), dot (and the full-width stop), slash or underscore; the pseudonym is of the id
# without them, upper case. A mobile or identity-card number is also found with a separator
# between each two of its digits ("1 3 8 1 2 …"), the same one each time.
# A bank card is a run of 12 to 19 digits (or of fours) that passes the Luhn check, as bank
# card numbers do, or that starts with UnionPay's 62 (a Chinese bank's card or account number,
# some of which do not pass it): other long numbers (tickets, serials, amounts, a case number
# in fours, a list of years) are no card and stay as typed, unless they pass it by accident.
_SPACES = (
    " \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000\t\n\r"
)
_DASHES = (
    "-\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e17\u2e1a"
    "\u2e3a\u2e3b\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\U00010ead"
)
_SEP_CHARS = _SPACES + _DASHES + ".\uff0e/_"
_SEP_CLASS = "[" + "".join(re.escape(char) for char in _SEP_CHARS) + "]"
_SEP = f"{_SEP_CLASS}{{0,3}}"
_SEP_RUN = f"{_SEP_CLASS}{{1,3}}"
# China's country code as dialled from abroad: +86, 0086, or 86 alone
_COUNTRY = r"(?:\+|00)?86"
# a cheap look at the first character, then the anchors
_DIGIT_ID_START = r"(?=[0-9(（+])(?<![0-9])(?<![0-9A-Fa-f]{4})"
# a 15-digit identity card number of before 1999: area (6), year (2), month, day, sequence (3)
_LEGACY_ID = r"\d{8}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
# bank cards (the `card` group): only a number in it that passes the Luhn check is one
_CARD = rf"(?P<card>\d{{4}}(?:{_SEP_RUN}\d{{4}}){{3}}(?:{_SEP_RUN}\d{{1,3}})?|\d{{12,19}})"


def _id_pattern(card: str) -> re.Pattern[str]:
    """The id pattern, its bank-card branch `card` (none: "(?!)")."""
    return re.compile(
        "("
        rf"{_DIGIT_ID_START}(?:"
        rf"\d{{6}}{_SEP}\d{{8}}{_SEP}\d{{3}}[\dXx]"  # resident identity card number (18)
        rf"|\d{{6}}{_SEP}\d{{4}}{_SEP}\d{{4}}{_SEP}\d{{3}}[\dXx]"  # its date in two groups
        rf"|\d(?P<id_sep>{_SEP_RUN})\d(?:(?P=id_sep)\d){{15}}(?P=id_sep)[\dXx]"  # spaced out
        rf"|{card}"  # bank card / account numbers (cards in fours, or in one run)
        rf"|{_LEGACY_ID}"
        rf"|(?:{_COUNTRY}{_SEP})?1[3-9]\d{_SEP}\d{{4}}{_SEP}\d{{4}}"  # mainland mobile numbers
        rf"|(?:{_COUNTRY}{_SEP})?1(?P<mobile_sep>{_SEP_RUN})[3-9](?:(?P=mobile_sep)\d){{9}}"
        # landlines: an area code (0 and 2-3 digits, bracketed or not) and a 7-8 digit number
        # (in one group, or 3-4 digits and 4), or the country code and the area code without 0;
        # a number starting with 1 too when written in one group (none is dialled, but
        # `0572-1234567` reads as one: QA, 2026-12-07; `案号 2025-0502-1234-5678` stays a case)
        rf"|(?:[(（]0\d{{2,3}}[)）]{_SEP}|0\d{{2,3}}{_SEP}|{_COUNTRY}{_SEP}[1-9]\d{{1,2}}{_SEP})"
        rf"(?:[2-9]\d{{2,3}}{_SEP}\d{{4}}|1\d{{6,7}})"
        ")(?![0-9])(?![A-Fa-f]{0,11}[0-9])"
        r"|(?<![0-9A-Za-z])(?i:[0-9A-HJ-NP-RTUWXY]{2}\d{6}[0-9A-HJ-NP-RTUWXY]{10})"  # credit code
        r"(?![0-9A-Za-z])"
        r")",
        re.ASCII,
    )


_ID_PATTERN = _id_pattern(_CARD)
# the same without the card branch: what else a number that fails the Luhn check may be
_NON_CARD_PATTERN = _id_pattern("(?!)")
# full-width ASCII forms (U+FF01-U+FF5E) and the ideographic space, one character for one, so
# a match's position in the folded text is its position in the original
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_SEPARATORS = re.compile(f"[{_SEP_CLASS[1:-1]}()]")
# what a typed id of no known shape loses before it is tried again (`id_spellings`): spaces and
# dashes only (a dot, slash or underscore may be part of such an id)
_SPACES_AND_DASHES = re.compile("[" + "".join(re.escape(c) for c in _SPACES + _DASHES) + "]")
_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)
# full-width digits and letters (full-width brackets and commas are ordinary Chinese text)
_WIDE = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
# every id the pattern takes has six digits in a row (a landline's number has seven), or groups
# of digits joined by a separator: text without either is clean (most reason sentences), found
# at a fraction of the pattern's cost
_CANDIDATE = re.compile(rf"\d{{6}}|\d{{3}}{_SEP_RUN}\d{{4}}|\d(?:{_SEP_RUN}\d){{10}}", re.ASCII)


def _luhn(digits: str) -> bool:
    """Whether `digits` passes the Luhn check (every bank card number does)."""
    total = 0
    for place, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if place % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _accepted(match: re.Match[str] | None, text: str, *, whole: bool) -> re.Match[str] | None:
    """`match` of `_ID_PATTERN` if it is an id: a card's only if its digits pass the Luhn
    check or start with UnionPay's 62; else what the pattern without the card branch finds at the same place (`whole`: as
    all of `text`), if anything."""
    if match is None or match.group("card") is None:
        return match
    digits = re.sub(r"\D", "", match.group("card"))
    if digits.startswith("62") or _luhn(digits):
        return match
    if whole:
        return _NON_CARD_PATTERN.fullmatch(text)
    return _NON_CARD_PATTERN.match(text, match.start())


def _id_matches(text: str) -> Iterator[re.Match[str]]:
    """The ids in `text` (folded), left to right, as `_ID_PATTERN.finditer` but with a run of
    digits that is no card (`_accepted`) not taken for one."""
    position = 0
    while (found := _ID_PATTERN.search(text, position)) is not None:
        accepted = _accepted(found, text, whole=False)
        if accepted is None:
            position = found.start() + 1
            continue
        yield accepted
        position = accepted.end()


def _canonical(identifier: str) -> str:
    """An id as typed, the way its pseudonym is made: ASCII, separators (and a landline's
    brackets) out, upper case; a phone number dialled with +86 or 0086 as dialled at home (a mobile
    without it, a landline with its area code's 0), and a mobile with 86 alone before it, so
    each reads as the same code."""
    plain = _SEPARATORS.sub("", identifier.translate(_FOLD)).upper()
    for country in ("+86", "0086"):
        if plain.startswith(country):
            national = plain[len(country) :]
            return national if _MOBILE.fullmatch(national) else "0" + national
    if plain.startswith("86") and _MOBILE.fullmatch(plain[2:]):
        return plain[2:]  # a mobile with 86 alone before it (`86-13812345678`): the same code
    return plain


def id_spellings(typed: str) -> list[str]:
    """The ids a unit id typed in a search box may mean, as typed first: an identity-card,
    phone or credit-code number also as the scrubber reads it in a note (`_canonical`: capitals,
    no separators), so `91330523x2mrpab8x3` or an identity card ending in `x` finds the unit
    the city's tables name in capitals. A unit scored under the lower-case spelling is still
    found as typed. Any other id (a dispute's number, `MD00000003752`) is tried in capitals
    too, then without spaces and dashes: typed on a phone as `md00000003752` or
    `MD-00000003752`, it finds the dispute the tables number in capitals."""
    spellings = [typed]
    if _ID_PATTERN.fullmatch(typed):
        spellings.append(_canonical(typed))
    spellings += [typed.upper(), _SPACES_AND_DASHES.sub("", typed).upper()]
    return list(dict.fromkeys(spellings))


def pseudonymise(secret: str, identifier: str) -> str:
    """HMAC-SHA256 of `identifier` under `secret`, as 32 hex characters (128 bits)."""
    keyed = _keyed(secret).copy()  # the key's HMAC state is set up once per secret
    keyed.update(str(identifier).encode())
    return keyed.hexdigest()[:PSEUDONYM_CHARS]


def name_fingerprint(secret: str, name: str) -> str:
    """A keyed fingerprint of a name typed at a failed sign-in that names no user, as
    `NAME_FINGERPRINT_CHARS` hex characters: the same name gives the same fingerprint, so
    repeated attempts can be told apart and counted without the log keeping what was typed
    (which may be a password). Not the pseudonym of any id (its input is marked as a name)."""
    return pseudonymise(secret, f"sign-in name\0{name}")[:NAME_FINGERPRINT_CHARS]


def key_check(secret: str) -> str:
    """What a store keeps to know the pseudonym key it was made with: the HMAC of a fixed
    text under the key (its input is marked, so no id has this pseudonym). Not the key, and
    of no use without it."""
    return pseudonymise(secret, "riskloop pseudonym key check\0v1")


@lru_cache(maxsize=8)
def _keyed(secret: str) -> hmac.HMAC:
    """HMAC-SHA256 keyed with `secret`, never updated: `pseudonymise` copies it."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


# Invisible characters a person's text may keep (free_text: they shape scripts and emoji, or
# hint a direction) but that could hide an id from the patterns: the soft hyphen, the
# Mongolian vowel separator, the joiners and the direction marks. Next to an id's characters
# (an ASCII letter or digit, full-width too, or a separator) they are dropped before an id is
# looked for, so `138<U+00AD>1234<U+00AD>5678` is the mobile number it shows (QA, 2026-12-07);
# between other characters (an emoji's joiner, Persian's non-joiner) they stay.
_HIDING = "\u00ad\u180e\u200c-\u200f"
_NEXT_TO_ID = f"0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a{re.escape(_SEP_CHARS)}"
_HIDING_IN_ID = re.compile(f"(?<=[{_NEXT_TO_ID}])[{_HIDING}]+|[{_HIDING}]+(?=[{_NEXT_TO_ID}])")
_ANY_HIDING = re.compile(f"[{_HIDING}]")


def unhidden(text: str) -> str:
    """`text` without the invisible characters next to an id's characters (`_HIDING_IN_ID`):
    what the scrubber reads and stores, the same on a page."""
    return _HIDING_IN_ID.sub("", text) if _ANY_HIDING.search(text) else text


def looks_like_identifier(text: str) -> bool:
    """Whether `text` contains a citizen ID, phone, bank account or credit-code-like value."""
    text = unhidden(text)
    folded = text.translate(_FOLD) if _WIDE.search(text) else text
    return next(_id_matches(folded), None) is not None


#: A known id (a unit's own, `scrub_text`'s `known_ids`) shorter than this is not looked for:
#: "v" is in every "value" and "0" in every count, and neither names anyone there.
MIN_KNOWN_ID_CHARS = 4


def searchable(known: str) -> bool:
    """Whether `scrub_text` looks for the known id `known`: long enough, separators aside
    ("a-b" is two characters), to tell from the words and counts around it."""
    return len(known) >= MIN_KNOWN_ID_CHARS and len(_id_chars(known)) >= MIN_KNOWN_ID_CHARS


def _id_chars(known: str) -> list[str]:
    """The characters of a known id as folded, separators left out (they may be typed or
    not: `_known_pattern`)."""
    return [char for char in known.translate(_FOLD) if char not in _SEP_CHARS]


def scrub_text(secret: str, text: str, known_ids: frozenset[str] = frozenset()) -> str:
    """Replace id-like substrings (and any of `known_ids` of `MIN_KNOWN_ID_CHARS` or more,
    where it stands as a token of its own: in any case or width, separators between its
    characters or not) by `[id:<pseudonym>]`. Invisible characters next to an id's characters
    go first (`unhidden`)."""
    text = unhidden(text)
    for known in sorted(known_ids, key=len, reverse=True):
        if searchable(known):
            text = _replace_folded(
                text,
                _known_pattern(known),
                lambda _found, known=known: f"[id:{pseudonymise(secret, known)}]",
            )
    return _replace_folded(
        text, _ID_PATTERN, lambda found: f"[id:{pseudonymise(secret, _canonical(found))}]"
    )


def holds_known(text: str, known: str) -> bool:
    """Whether `scrub_text(secret, text, {known})` finds the known id `known` in `text`."""
    if not searchable(known):
        return False
    text = unhidden(text)
    folded = text.translate(_FOLD) if _WIDE.search(text) else text
    return _known_pattern(known).search(folded) is not None


@lru_cache(maxsize=1024)
def _known_pattern(known: str) -> re.Pattern[str]:
    """A known id as it may be typed: in either case or width, and with separators (up to
    three, as between an id's groups) between its characters ("a28e206c 53beed99", "EMP 0042"
    for "EMP-0042"); as a token of its own, not inside a longer run of letters and digits
    ("EMP-0042" is not in "EMP-00421", nor "unpaid" in "unpaidfirm"; separators, punctuation
    and Chinese around it are no part of a token)."""
    typed = _SEP.join(re.escape(char) for char in _id_chars(known))
    return re.compile(rf"(?<![0-9A-Za-z]){typed}(?![0-9A-Za-z])", re.IGNORECASE)


def _replace_folded(text: str, pattern: re.Pattern[str], replace: Any) -> str:
    """`text` with each match of `pattern` in its folded form replaced (`replace(match)`)."""
    folded = text.translate(_FOLD) if _WIDE.search(text) else text
    if pattern is _ID_PATTERN:
        if _CANDIDATE.search(folded) is None:
            return text
        matches = _id_matches(folded)
    else:
        matches = pattern.finditer(folded)
    pieces, end = [], 0
    for match in matches:
        pieces += [text[end : match.start()], str(replace(match.group(0)))]
        end = match.end()
    return "".join([*pieces, text[end:]])


def sanitise(secret: str, value: Any, known_ids: frozenset[str] = frozenset()) -> Any:
    """A JSON-safe copy of `value` with every id-like string or integer pseudonymised.

    Why: reasons and feature dicts come from callers and models; they should hold feature
    values, but a stray phone number or account must not reach the database. Non-finite
    floats become None (PostgreSQL's JSON refuses NaN); numpy scalars become Python numbers.
    """
    if value is None or isinstance(value, bool):
        return value
    if type(value).__name__ in {"NAType", "NaTType"}:  # pandas missing markers
        return None
    if isinstance(value, str):
        return scrub_text(secret, value, known_ids)
    if isinstance(value, Mapping):
        # keys are the store's own field and feature names: a known id is not looked for there
        return {
            scrub_text(secret, str(key)): sanitise(secret, item, known_ids)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [sanitise(secret, item, known_ids) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy / pandas scalars
        return sanitise(secret, value.item(), known_ids)
    if isinstance(value, int):
        digits = str(value)
        whole = _accepted(_ID_PATTERN.fullmatch(digits), digits, whole=True)
        if (searchable(digits) and digits in known_ids) or whole is not None:
            return f"[id:{pseudonymise(secret, digits)}]"
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return scrub_text(secret, str(value), known_ids)
