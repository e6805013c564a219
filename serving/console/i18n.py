"""The console's words: one message catalog per language (`messages/zh.json`, `en.json`).

Chinese is the default; English is one click away and remembered per person. A key missing
from a catalog is a bug a test catches (both catalogs must hold the same keys), never a blank.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"


def as_lang(value: object) -> Lang:
    """`en` for "en", otherwise the default Chinese."""
    return "en" if value == "en" else DEFAULT_LANG


@cache
def catalog(lang: Lang) -> dict[str, str]:
    """The flat key -> text catalog of one language."""
    text = resources.files("serving.console").joinpath(f"messages/{lang}.json").read_text("utf-8")
    loaded: dict[str, str] = json.loads(text)
    return loaded


class Messages:
    """`t(key, **values)` for one language; what templates call."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self._catalog = catalog(lang)

    def __call__(self, key: str, **values: Any) -> str:
        text = self._catalog[key]
        return text.format(**values) if values else text

    def word(self, group: str, value: object) -> str:
        """A level, status, outcome or event name; an unknown value shows as it is."""
        if value is None or value == "":
            return "–"
        return self._catalog.get(f"{group}.{value}", str(value))


def outside_bodies_spellings() -> frozenset[str]:
    """Every spelling (letter case folded) a department filter reads as all the outside bodies
    (`models.departments.OUTSIDE_BODIES`): that code, and the console's label for them in
    either language, whole or its short name before the explanation in brackets (外部机构,
    "Outside bodies"). The console's queue filter and `riskloop overdue --department` read
    these."""
    from models.departments import OUTSIDE_BODIES

    spellings = {OUTSIDE_BODIES.casefold()}
    for lang in LANGS:
        label = Messages(lang)("filter.outside_bodies")
        short = label.split("（", 1)[0].split("(", 1)[0].strip()
        spellings |= {label.casefold(), short.casefold()}
    return frozenset(spellings)
