"""What a person's own text may hold and how long it may be: one rule for the API's request
schemas and the console's forms (a note on a step, a reveal's purpose, a name or a filter).

Refused anywhere:
- control characters that are not white space (C0 but tab, line breaks, form feed and the
  separators `str.isspace` counts, and DEL): no keyboard types them, and PostgreSQL refuses NUL
  in text;
- the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they make
  a note read differently on a page from what is stored ("Trojan Source"); the marks U+200E and
  U+200F, which only hint a direction, are kept.
"""

from __future__ import annotations

import re

#: The longest note a step may carry, over the API and in the console.
NOTE_MAX_CHARS = 2000
#: The longest purpose a reveal may state.
PURPOSE_MAX_CHARS = 500

_REFUSED_RANGES = ((0x00, 0x08), (0x0E, 0x1B), (0x7F, 0x7F), (0x202A, 0x202E), (0x2066, 0x2069))

#: The refused characters as the inside of a regex character class (`[^...]`).
REFUSED_CLASS = "".join(f"\\u{start:04x}-\\u{end:04x}" for start, end in _REFUSED_RANGES)
#: A pattern for a person's text: anything but the refused characters.
PLAIN_TEXT = f"^[^{REFUSED_CLASS}]*$"

_REFUSED = re.compile(f"[{REFUSED_CLASS}]")


def refused_characters(text: str) -> list[str]:
    """The refused characters `text` holds, each once, in the order they first appear."""
    return list(dict.fromkeys(_REFUSED.findall(text)))


def without_refused(text: str) -> str:
    """`text` with the refused characters taken out (what a form gives back to correct)."""
    return _REFUSED.sub("", text)


def code_points(chars: list[str]) -> str:
    """Characters a reader cannot see, named by code point: "U+202E, U+0000"."""
    return ", ".join(f"U+{ord(char):04X}" for char in chars)
