"""A switch among the model's parameters reads 是 / 否 in the Chinese report: its 模型参数 table
showed `extra_trees no` (table cells were left out of the edition's English-word check)."""

from __future__ import annotations

import html
import re

import pytest

# the table under its heading, in the box it scrolls in on a phone
_TABLE_AFTER = r"<h3>{heading}</h3>\s*<div class=\"table-scroll\"[^>]*>\s*<table>(.*?)</table>"
_ROW = re.compile(r"<tr><td>(.*?)</td><td[^>]*>(.*?)</td></tr>")
_CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)


def _parameters(page: str, heading: str) -> dict[str, str]:
    table = re.search(_TABLE_AFTER.format(heading=heading), page, re.S)
    assert table is not None, heading
    return {name: html.unescape(value) for name, value in _ROW.findall(table.group(1))}


@pytest.mark.parametrize(
    ("edition", "heading", "no"), [("zh", "模型参数", "否"), ("en", "Parameters", "no")]
)
def test_a_switch_reads_yes_or_no_in_the_reports_language(
    synthetic_reports: dict[str, str], edition: str, heading: str, no: str
) -> None:
    parameters = _parameters(synthetic_reports[edition], heading)
    assert parameters["extra_trees"] == no, parameters
    assert parameters["num_leaves"] == "15"  # numbers and codes as they are
    assert parameters["calibration"] in ("platt", "isotonic")


def test_no_cell_of_the_chinese_report_says_yes_or_no_in_english(
    synthetic_report_zh: str,
) -> None:
    cells = [html.unescape(cell).strip() for cell in _CELL.findall(synthetic_report_zh)]
    english = [cell for cell in cells if cell.lower() in ("yes", "no", "true", "false")]
    assert english == [], english
