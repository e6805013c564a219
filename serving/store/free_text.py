"""What a person's own text may hold and how long it may be: one rule for the API's request
schemas and the console's forms (a note on a step, a reveal's purpose, a name or a filter).

Refused anywhere:
- control characters but tab, line breaks and form feed (the rest of C0, DEL and C1, the
  information separators and next-line U+0085 included, although `str.isspace` counts them as
  space): no keyboard types them, a page shows them as boxes, and PostgreSQL refuses NUL in
  text;
- the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they make
  a note read differently on a page from what is stored ("Trojan Source"); the marks U+200E and
  U+200F, which only hint a direction, are kept;
- invisible characters that only hide text: the zero-width space U+200B, the word joiner and
  invisible operators U+2060-U+2064, and the byte-order mark U+FEFF (the joiners U+200C and
  U+200D, which shape scripts and emoji, are kept).

A line break is one character, LF (`plain_line_breaks`, applied before a text is measured and
kept): a browser counts each break in a text box as one character (its `maxlength`) but
submits it as CRLF, and a note the box took must not come back as too long.

Text nobody checked (a name typed at a failed sign-in) goes into one-row-a-line output as
`one_line` writes it: escaped and bounded, so it cannot forge a row.
"""

from __future__ import annotations

import re
import unicodedata

from serving.store.pseudonym import looks_like_identifier

#: The longest note a step may carry, over the API and in the console.
NOTE_MAX_CHARS = 2000
#: The longest purpose a reveal may state.
PURPOSE_MAX_CHARS = 500
#: The longest name a person is shown by (the header of every page, each step on a timeline).
DISPLAY_NAME_MAX_CHARS = 64

_REFUSED_RANGES = (
    (0x00, 0x08),
    (0x0E, 0x1F),
    (0x7F, 0x9F),
    (0x200B, 0x200B),
    (0x202A, 0x202E),
    (0x2060, 0x2069),
    (0xFEFF, 0xFEFF),
)

#: The refused characters as the inside of a regex character class (`[^...]`).
REFUSED_CLASS = "".join(f"\\u{start:04x}-\\u{end:04x}" for start, end in _REFUSED_RANGES)
#: A pattern for a person's text: anything but the refused characters.
PLAIN_TEXT = f"^[^{REFUSED_CLASS}]*$"

_REFUSED = re.compile(f"[{REFUSED_CLASS}]")


def plain_line_breaks(text: str) -> str:
    """`text` with each CRLF and each lone CR as LF: what a person typed, before it is measured
    against a limit or stored."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def refused_characters(text: str) -> list[str]:
    """The refused characters `text` holds, each once, in the order they first appear."""
    return list(dict.fromkeys(_REFUSED.findall(text)))


def without_refused(text: str) -> str:
    """`text` with the refused characters taken out (what a form gives back to correct)."""
    return _REFUSED.sub("", text)


def code_points(chars: list[str]) -> str:
    """Characters a reader cannot see, named by code point: "U+202E, U+0000"."""
    return ", ".join(f"U+{ord(char):04X}" for char in chars)


def display_name_problem(name: str) -> str | None:
    """Why `name` cannot be a person's display name (None: it can): one line of 1 to
    `DISPLAY_NAME_MAX_CHARS` characters, without the refused characters, and no identity-card,
    phone or account number (in any width): the name is shown on every case timeline the person
    steps on, where no raw identifier may be."""
    refused = refused_characters(name)
    if refused:
        return f"holds characters a page cannot show as typed ({code_points(refused)})"
    if any(char in name for char in "\t\n\r\f\v"):
        return "must be one line"
    if not name.strip():
        return "is empty"
    if len(name) > DISPLAY_NAME_MAX_CHARS:
        return f"is {len(name):,} characters long (at most {DISPLAY_NAME_MAX_CHARS})"
    if looks_like_identifier(name):
        return (
            "must not hold a phone, identity-card or account number: it is shown on every case "
            "timeline the person works, where no raw identifier may be"
        )
    return None


#: Unicode categories written as escapes by `one_line`: control, format, surrogate, private-use
#: and unassigned characters, and the line and paragraph separators
_UNSEEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def one_line(text: str, limit: int | None = None) -> str:
    """`text` as one line a log reader can trust: each control, format or separator character
    (a tab, a line break, a bidirectional override...) and each backslash as its escape
    (`\\n`, `\\t`, `\\u202e`, `\\\\`), and at most `limit` characters of that (when given), a
    cut marked with "…". Text made of letters, digits and punctuation comes back as it is."""
    escaped = "".join(_escaped(char) for char in text)
    if limit is None or len(escaped) <= limit:
        return escaped
    return escaped[: max(limit - 1, 0)] + "…"


def _escaped(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if unicodedata.category(char) not in _UNSEEN_CATEGORIES:
        return char
    short = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if short:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
