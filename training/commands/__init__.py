"""CLI command families, and what their output shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn
    from rich.table import Table

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


def transient_progress(*columns: str | ProgressColumn, console: Console | None = None) -> Progress:
    """A progress bar that disappears when the work is done, drawn on standard error (default)
    and only where that is a terminal. Results go to standard output, so `riskloop train |
    tee train.log` still shows the bar while the work runs (drawn on the output it showed
    nothing until done), and the log holds the results only; where standard error is a file or
    a pipe too, a bar would leave nothing but a blank line there, and a refusal after it would
    no longer be one line: nothing is drawn."""
    from rich.console import Console
    from rich.progress import Progress

    console = console or Console(stderr=True)
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


def print_table(console: Console, table: Table) -> None:
    """`table` with its title on a line of its own above it. Rich wraps a table's own title to
    the table's width, and a table of a few short columns (a screening's "level", "units",
    "share") is narrower than its title: "telecom-fraud screened as" over "of 2026-01-01: 3783
    units". A title line wraps only at the console's width; it is text, never markup."""
    from copy import copy

    from rich.text import Text

    title = table.title
    if title:
        console.print(title if isinstance(title, Text) else Text(str(title)))
        table = copy(table)
        table.title = None
    console.print(table)


#: The longest name `cli_actor` records (the audit column is wider).
MAX_ACTOR_NAME = 64


def actor_name(text: str) -> str:
    """A person's name as the audit log records it: letters kept, every run of spaces, line
    breaks and invisible (format, control) characters one space, at most `MAX_ACTOR_NAME`
    characters. `cli_actor` records it, `riskloop audit --actor` looks it up so."""
    import unicodedata

    kept = "".join(
        char if char.isprintable() and unicodedata.category(char) != "Cf" else " " for char in text
    )
    return " ".join(kept.split())[:MAX_ACTOR_NAME].strip()


def cli_actor() -> str:
    """Who runs a command, as the audit log records it: `cli:NAME`, NAME being
    `RISKLOOP_ACTOR` (set by a scheduler, CI or an operator's shell profile), else the
    operating-system login (also when `RISKLOOP_ACTOR` holds nothing visible).

    The `cli:` kind keeps a person at the server's shell apart from a console account or a
    key of the same name (`user:NAME`, `key:NAME`), and a value such as `user:bob` or
    `system:screen` in `RISKLOOP_ACTOR` cannot pass for that account or job: it is recorded
    as `cli:user:bob`. `riskloop audit --actor NAME` finds every kind of NAME, this one too.
    """
    import getpass
    import os

    name = actor_name(os.environ.get("RISKLOOP_ACTOR", ""))
    if not name:
        try:
            name = actor_name(getpass.getuser())
        except (OSError, KeyError):  # no login name and no passwd entry (some containers)
            name = ""
    return f"cli:{name or f'uid-{os.getuid()}'}"
