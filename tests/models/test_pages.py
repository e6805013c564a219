"""The shared page templates escape every value and keep pages self-contained."""

from __future__ import annotations

import base64
import io
import re

from jinja2 import Environment
from PIL import Image

from models import pages
from models.explain_plots import Contribution, waterfall_png

MACROS = '{% import "macros.html" as ui %}'


def _render(source: str, **context: object) -> str:
    return pages.environment().from_string(MACROS + source).render(**context)


def test_values_are_escaped_and_macro_markup_passes_through() -> None:
    hostile = '<script>alert("x")</script>'
    fragment = _render('<td title="{{ v }}">{{ v }}</td>', v=hostile)
    assert "<script>" not in fragment
    assert "&lt;script&gt;" in fragment
    assert 'title="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"' in fragment
    badge = _render("{{ ui.definition_list([('level', ui.level_badge('red', v))]) }}", v=hostile)
    assert '<dd><span class="level level-red">&lt;script&gt;' in badge


def test_table_formats_numbers_and_highlights_cells() -> None:
    rendered = _render(
        "{{ ui.data_table(['group', 'rate'], rows) }}",
        rows=[["<a>", 0.12345], ["b", pages.Cell(0.5, "flag")], [1234, True]],
    )
    assert "<td>&lt;a&gt;</td>" in rendered
    assert '<td class="num">0.123</td>' in rendered
    assert '<td class="flag">0.500</td>' in rendered
    assert '<td class="num">1,234</td><td>yes</td>' in rendered


def test_reason_row_puts_the_signed_contribution_where_asked() -> None:
    row = _render("{{ ui.reason_row(-0.0714, ['label', 'sentence'], contribution_at=1) }}")
    assert row == '<tr><td>label</td><td class="num">-0.071</td><td>sentence</td></tr>'


def test_layout_is_self_contained_and_images_decode() -> None:
    png = waterfall_png([Contribution("a", "甲", "1", 0.5)], -2.0)
    page = (
        pages.environment()
        .from_string(
            '{% extends "layout.html" %}{% import "macros.html" as ui %}'
            '{% block content %}{% call ui.section("s", "S") %}'
            '{{ ui.waterfall_figure(png, "chart", "note <b>") }}{% endcall %}{% endblock %}'
        )
        .render(title="t <1>", lang="zh", png=png)
    )
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in page
    assert "default-src &#39;none&#39;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<title>t &lt;1&gt;</title>" in page
    assert '<section id="s">' in page and "note &lt;b&gt;" in page
    assert ".level-red" in page  # the shared stylesheet is inlined
    (encoded,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    image.verify()
    assert image.format == "PNG"


def test_one_environment_with_autoescape_and_package_templates_first() -> None:
    env = pages.environment("serving")
    assert isinstance(env, Environment) and env is pages.environment("serving")
    assert env.autoescape("anything.html") is True
    assert env.get_template("explanation.html") is not None  # serving's own
    assert env.get_template("layout.html") is not None  # the shared layout
    assert ".level-red" in pages.stylesheet()


def _luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a #rrggbb (or #rgb) colour."""
    digits = colour[1:] if len(colour) == 7 else "".join(c * 2 for c in colour[1:])
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_level_badges_meet_wcag_aa_contrast_in_the_shared_stylesheet() -> None:
    """Every page with a level badge (reports, explanation pages, the console) uses the one
    stylesheet's colours: each level's text on its background must reach 4.5:1."""
    css = pages.stylesheet()
    base_text = re.search(r"\.level \{[^}]*?color: (#[0-9a-f]{6}|#[0-9a-f]{3})\b", css)
    assert base_text is not None
    for level in ("red", "orange", "yellow", "green"):
        rule = re.search(rf"\.level-{level} \{{([^}}]*)\}}", css)
        assert rule is not None, level
        background = re.search(r"background: (#[0-9a-f]{6})\b", rule[1])
        text = re.search(r"(?<!-)color: (#[0-9a-f]{6})\b", rule[1])
        assert background is not None, level
        fg = _luminance((text or base_text)[1])
        bg = _luminance(background[1])
        ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
        assert ratio >= 4.5, (level, round(ratio, 2))


def test_a_reports_editions_are_named_apart_and_read_back() -> None:
    assert pages.report_file_name("wage-arrears", 3) == "wage-arrears-v3.html"
    assert pages.report_file_name("wage-arrears", "3", "zh") == "wage-arrears-v3.zh.html"
    for lang in pages.REPORT_LANGS:
        name = pages.report_file_name("telecom-fraud", 12, lang)
        assert pages.report_edition(name) == ("telecom-fraud-v12.html", lang)
    assert pages.report_edition("notes.html") == ("notes.html", "en")
