"""What a refused `riskloop` command answers, checked one way: exit 2 and one `error:` line."""

from __future__ import annotations

from typer.testing import Result


def one_error_line(result: Result, *expected: str) -> str:
    """The one `error: ...` line a refused command wrote to stderr (exit 2), holding each of
    `expected`."""
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and all(text in line for text in expected), line
    return line
