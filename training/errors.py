"""How the CLI reports a user's mistake: one clear line on stderr and a non-zero exit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer


class UserError(Exception):
    """A problem the user can fix (bad path, unknown task, malformed data): no traceback."""


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn `UserError` (and features' `RawDataError`-style ValueErrors) into `error: ...`, exit 2."""
    try:
        yield
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
