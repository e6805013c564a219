"""A minimal builder for self-contained HTML pages: escaped values, inline CSS, inline images.

Reports and warning pages are read on machines without internet and may be archived as
evidence, so a page carries everything it shows (images as `data:` URIs, CSS in a `<style>`
element), loads nothing (a Content-Security-Policy of `default-src 'none'` makes any stray
reference fail loudly) and needs no script. Every value is escaped unless it is `Markup`, the
type of fragments this module itself built.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

BASE_CSS = """
body { font-family: "DejaVu Sans", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif;
       margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-top: 1.2rem; }
section { margin-bottom: 1.5rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.flag, tr.flag td { background: #fde2dd; font-weight: bold; }
dl.card { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dl.card dt { font-weight: bold; }
dl.card dd { margin: 0; }
img { max-width: 100%; height: auto; display: block; margin: 0.5rem 0; }
figure { margin: 0.8rem 0; }
figcaption { font-size: 0.85rem; color: #555; }
.grid { display: flex; flex-wrap: wrap; gap: 0.8rem; }
.grid figure { flex: 0 1 24rem; }
.note { background: #fff6e0; border-left: 4px solid #e0a000; padding: 0.4rem 0.8rem; }
.pass { color: #1e7b34; font-weight: bold; }
.fail { color: #b03020; font-weight: bold; }
.level { display: inline-block; padding: 0.1rem 0.6rem; border-radius: 0.3rem; color: #fff; }
.level-red { background: #c0392b; } .level-orange { background: #e67e22; }
.level-yellow { background: #d4ac0d; } .level-green { background: #27ae60; }
.muted { color: #666; font-size: 0.85rem; }
"""


class Markup(str):
    """A fragment of HTML that is already safe to insert as is."""

    __slots__ = ()


def escape(value: object) -> Markup:
    """Escape a value for HTML text or attributes; `Markup` passes through unchanged."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[object], separator: str = "\n") -> Markup:
    """Concatenate fragments, escaping any that are not `Markup`."""
    return Markup(separator.join(escape(part) for part in parts))


def tag(name: str, *children: object, **attributes: object) -> Markup:
    """One element with escaped children and attributes.

    Attribute names use `class_` for `class`, underscores become hyphens; `None` and `False`
    attributes are left out and `True` ones written bare.
    """
    rendered = []
    for key, value in attributes.items():
        if value is None or value is False:
            continue
        attribute = key.rstrip("_").replace("_", "-")
        rendered.append(attribute if value is True else f'{attribute}="{escape(value)}"')
    opening = " ".join([name, *rendered])
    return Markup(f"<{opening}>{join(children, '')}</{name}>")


def image(png: bytes, alt: str, *, caption: str | None = None) -> Markup:
    """A PNG embedded as a `data:` URI, inside a figure with an optional caption."""
    encoded = base64.b64encode(png).decode("ascii")
    element = Markup(f'<img src="data:image/png;base64,{encoded}" alt="{escape(alt)}">')
    if caption is None:
        return tag("figure", element)
    return tag("figure", element, tag("figcaption", caption))


@dataclass(frozen=True)
class Cell:
    """A table cell with an optional CSS class (`num` right-aligns, `flag` highlights)."""

    value: object
    css_class: str | None = None


def format_value(value: object, digits: int = 3) -> str:
    """A short, human reading of a number (missing values as an en dash)."""
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
    """A share in [0, 1] as a percentage."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}%}"


def table(
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    *,
    row_classes: Sequence[str | None] | None = None,
    caption: str | None = None,
) -> Markup:
    """A table; cells may be plain values, `Markup` or `Cell` (numbers are right-aligned)."""

    def cell(value: object) -> Markup:
        if isinstance(value, Cell):
            return tag("td", format_value(value.value), class_=value.css_class)
        if isinstance(value, Markup):
            return tag("td", value)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return tag("td", format_value(value), class_="num")
        return tag("td", format_value(value))

    body_rows = []
    for index, row in enumerate(rows):
        css = row_classes[index] if row_classes is not None else None
        body_rows.append(tag("tr", *(cell(value) for value in row), class_=css))
    parts: list[object] = []
    if caption:
        parts.append(tag("caption", caption))
    parts.append(tag("thead", tag("tr", *(tag("th", name) for name in header))))
    parts.append(tag("tbody", *body_rows))
    return tag("table", *parts)


def definition_list(pairs: Mapping[str, object] | Iterable[tuple[str, object]]) -> Markup:
    """Key/value pairs as a two-column card."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    children: list[Markup] = []
    for key, value in items:
        children.append(tag("dt", key))
        children.append(tag("dd", value if isinstance(value, Markup) else format_value(value)))
    return tag("dl", *children, class_="card")


def section(section_id: str, title: str, *children: object) -> Markup:
    """A top-level section with a stable `id`, so tests and links can find it."""
    return tag("section", tag("h2", title), *children, id=section_id)


def document(title: str, *body: object, lang: str = "en") -> str:
    """A complete HTML page: charset, CSP that forbids any network load, inline CSS."""
    head = join(
        [
            Markup('<meta charset="utf-8">'),
            Markup(
                f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
            ),
            Markup('<meta name="viewport" content="width=device-width, initial-scale=1">'),
            tag("title", title),
            Markup(f"<style>{BASE_CSS}</style>"),
        ]
    )
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html_lang}">\n<head>\n{head}\n</head>\n'
        f"<body>\n{join(body)}\n</body>\n</html>\n"
    )
