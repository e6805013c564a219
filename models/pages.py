"""The one Jinja2 environment every riskloop page renders through.

The model report (training/), the explanation page (serving/) and the console
(serving/console/) all extend one layout (`layout.html`), use one stylesheet (`riskloop.css`)
and share small macros (`macros.html`: level badge, reason row, waterfall figure, tables),
all kept as package data under `models/templates/`. A package with its own templates passes
its name to `environment(...)`: its `templates/` folder is searched first, then the shared one,
so its pages can `{% extends "layout.html" %}` and `{% import "macros.html" as ui %}`.

Autoescape is on for every template, so a value is escaped unless it is `Markup` built on
purpose (a macro's output is), and an undefined variable raises instead of rendering empty.
Filters: `num` (a number as the report shows it), `share` (a percentage), `png_uri` (a PNG as
a `data:` URI); tests: `cell`, `real_number`. Reports and warning pages are read on machines without internet and may be archived
as evidence: by default the layout inlines the stylesheet and pages embed their images as
`data:` URIs, and a Content-Security-Policy of `default-src 'none'` makes any stray reference
fail loudly. A served page that links the stylesheet instead overrides the `stylesheet` block.
"""

from __future__ import annotations

import base64
import math
import numbers
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

#: The policy a self-contained page declares for itself: nothing loads, images are `data:`.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLESHEET = "riskloop.css"

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "Cell",
    "Markup",
    "environment",
    "format_share",
    "format_value",
    "png_data_uri",
    "render",
    "report_edition",
    "report_file_name",
    "stylesheet",
]


@dataclass(frozen=True)
class Cell:
    """A table cell with a CSS class (`num` right-aligns, `flag` highlights)."""

    value: object
    css_class: str | None = None


#: The model report's editions; the English file's name has no language suffix.
REPORT_LANGS: tuple[str, ...] = ("en", "zh")


def report_file_name(task: str, version: object, lang: str = "en") -> str:
    """A model report's file: `<task>-v<N>.html` in English, `<task>-v<N>.zh.html` in Chinese.

    `riskloop report` writes these names and the console reads them, so both ask here.
    """
    return f"{task}-v{version}" + ("" if lang == "en" else f".{lang}") + ".html"


def report_edition(name: str) -> tuple[str, str]:
    """A report file's English name and its language (`a-v1.zh.html` -> `a-v1.html`, `zh`)."""
    for lang in REPORT_LANGS[1:]:
        suffix = f".{lang}.html"
        if name.endswith(suffix):
            return name.removesuffix(suffix) + ".html", lang
    return name, "en"


CITY_TIME = ZoneInfo("Asia/Shanghai")  # the simulated city's clock (UTC+8)


def local_time(moment: str | datetime | None) -> str:
    """A stored UTC time as the city reads it (Asia/Shanghai, UTC+8), to the minute."""
    if not moment:
        return "–"
    parsed = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(CITY_TIME).strftime("%Y-%m-%d %H:%M")


def format_value(value: object, digits: int = 3) -> str:
    """A short, human reading of a value (missing numbers as an en dash, ints with commas)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        if math.isnan(float(value)):
            return "–"
        return f"{float(value):.{digits}f}"
    return str(value)


def format_share(value: float | None, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage (missing as an en dash)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}%}"


def png_data_uri(png: bytes) -> str:
    """A PNG as a `data:` URI, so a page carries its images."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def code_parts(text: str) -> list[tuple[bool, str]]:
    """A sentence in parts, each `(is_code, text)`: its `backticked` parts are commands or
    names, which the `code_spans` macro draws as code (a report's limits named
    `riskloop monitor` with its backticks on the page)."""
    return [(index % 2 == 1, part) for index, part in enumerate(text.split("`")) if part]


def _is_real_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_cell(value: object) -> bool:
    return isinstance(value, Cell)


@cache
def environment(*packages: str) -> Environment:
    """The shared environment, searching each package's `templates/` before the shared ones.

    Args:
        packages: importable packages with a `templates/` folder (`training`, `serving`,
            `serving.console`); their templates may extend the shared layout.
    """
    loaders = [PackageLoader(package, "templates") for package in packages]
    env = Environment(
        loader=ChoiceLoader([*loaders, PackageLoader("models", "templates")]),
        autoescape=select_autoescape(("html", "htm", "xml"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = format_value
    env.filters["share"] = format_share
    env.filters["png_uri"] = png_data_uri
    env.filters["code_parts"] = code_parts
    env.tests["cell"] = _is_cell
    env.tests["real_number"] = _is_real_number
    env.globals["content_security_policy"] = CONTENT_SECURITY_POLICY
    return env


def render(template: str, *, packages: tuple[str, ...] = (), **context: Any) -> str:
    """Render one template of the shared environment (plus `packages`' own templates)."""
    return environment(*packages).get_template(template).render(**context)


def stylesheet() -> str:
    """The shared stylesheet's text, for a server that serves it as a file."""
    return resources.files("models").joinpath("templates", STYLESHEET).read_text("utf-8")
