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


def cli_actor() -> str:
    """Who runs a command, as the audit log records it: `RISKLOOP_ACTOR` (set by a scheduler,
    CI or an operator's shell profile), else the operating-system login.

    A bare name, as `riskloop promote` has always recorded: `riskloop audit --actor NAME`
    finds it beside the same person's console rows (`user:NAME`).
    """
    import getpass
    import os

    actor = os.environ.get("RISKLOOP_ACTOR", "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return f"uid-{os.getuid()}"
