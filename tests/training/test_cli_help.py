"""`riskloop … --help` reads as one text on an 80-column terminal."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from training.cli import app


@pytest.mark.parametrize("command", [["report"], ["generate"], ["promote"], ["bundle"]])
def test_a_commands_help_paragraphs_fill_the_terminals_width(command: list[str]) -> None:
    """A docstring is wrapped at 96 columns in the code: its own line breaks, kept, broke each
    line of an 80-column terminal in two (a full line, then a few words). The paragraphs are
    reflowed: every line of a paragraph but its last is nearly full."""
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    text = result.output.split("╭")[0]  # the description, before the options' box
    paragraphs: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            paragraphs[-1].append(line.rstrip())
        elif paragraphs[-1]:
            paragraphs.append([])
    described = [lines for lines in paragraphs[1:] if lines]  # after the usage line
    assert len(described) >= 2, text
    for lines in described:
        assert all(len(line) <= 80 for line in lines), lines
        assert all(len(line) >= 60 for line in lines[:-1]), lines


@pytest.mark.parametrize(
    ("command", "placeholder"),
    [
        ("generate", "<task>/<table>.parquet"),
        ("generate", "<data dir>/city"),
        ("build-dataset", "<task>/<table>.parquet"),
        ("monitor", "reports/monitor/<task>.json"),
        ("train", "<task>_units.parquet"),
        ("report", "<task>-v<N>.html"),
        ("screen", "<RISKLOOP_DATA_DIR>/city"),
    ],
)
def test_placeholders_in_a_commands_help_are_shown(command: str, placeholder: str) -> None:
    """Help is read as Markdown (its paragraphs reflow), where `<task>` alone is an HTML tag
    and vanished: "Folder to write into (/.parquet, …)". Each placeholder is shown."""
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert placeholder in result.output, result.output
