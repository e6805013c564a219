"""CLI command families, and what their output shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

#: Columns a table is laid out in when output goes to a file or a pipe (rich's own default
#: there is 80, which cut headers to "false_al…" and broke titles in two)
PIPED_WIDTH = 200


def table_console() -> Console:
    """A rich console for the commands' tables: the terminal's width, or `PIPED_WIDTH` columns
    when output is redirected (a log file, `| less`, a scheduler's capture) and `COLUMNS`
    does not say otherwise."""
    import os

    from rich.console import Console

    console = Console()
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(width=PIPED_WIDTH)
    return console
