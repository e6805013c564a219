"""The HTML builder escapes every value and keeps pages self-contained."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

from models import html
from models.explain_plots import Contribution, waterfall_png


def test_values_are_escaped_and_markup_passes_through() -> None:
    hostile = '<script>alert("x")</script>'
    fragment = html.tag("td", hostile, title=hostile)
    assert "<script>" not in fragment
    assert "&lt;script&gt;" in fragment
    assert 'title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"' in fragment
    nested = html.tag("div", html.tag("b", "bold"))
    assert nested == "<div><b>bold</b></div>"


def test_table_formats_numbers_and_highlights_cells() -> None:
    rendered = html.table(["group", "rate"], [["<a>", 0.12345], ["b", html.Cell(0.5, "flag")]])
    assert "<td>&lt;a&gt;</td>" in rendered
    assert '<td class="num">0.123</td>' in rendered
    assert '<td class="flag">0.500</td>' in rendered


def test_document_is_self_contained_and_images_decode() -> None:
    png = waterfall_png([Contribution("a", "甲", "1", 0.5)], -2.0)
    page = html.document("t <1>", html.section("s", "S", html.image(png, "chart")), lang="zh")
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in page
    assert "default-src 'none'" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<title>t &lt;1&gt;</title>" in page
    (encoded,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    image.verify()
    assert image.format == "PNG"
