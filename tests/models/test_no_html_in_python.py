"""Pages come from templates: no Python module of the product writes HTML tags itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "models", "training", "serving")
TAG = re.compile(
    r"</?(html|head|body|div|span|p|a|table|tr|td|th|ul|ol|li|h[1-6]|img|figure|section|form|input|button|style|script|meta|title|nav|article|dl|dt|dd|code|br)\b[^>]*>(?![./])",
    re.IGNORECASE,
)


def html_tags(source: str) -> list[str]:
    """HTML tags written in a module's string literals (docstrings included)."""
    return [
        match.group(0)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        for match in TAG.finditer(node.value)
    ]


def test_the_check_sees_a_tag() -> None:
    assert html_tags("PAGE = f\"<td class='num'>{1}</td>\"") == ["<td class='num'>", "</td>"]
    assert html_tags('TEXT = "a < b and c > d"') == []
    assert html_tags('HELP = "<task>/<table>.parquet files"') == []  # placeholders, not tags


@pytest.mark.parametrize(
    "path",
    sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_html_tag_literals(path: Path) -> None:
    assert html_tags(path.read_text(encoding="utf-8")) == [], path.relative_to(ROOT)
