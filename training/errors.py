"""How the CLI reports a user's mistake: one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer


class UserError(Exception):
    """A problem the user can fix (bad path, unknown task, malformed data): no traceback."""


def _is_raw_data_error(exc: BaseException) -> bool:
    """True for `features.validation.RawDataError`, without importing pandera on every CLI start.

    If the exception is one, its module is necessarily loaded already.
    """
    schemas = sys.modules.get("features.validation")
    return schemas is not None and isinstance(exc, schemas.RawDataError)


def _is_store_unavailable(exc: BaseException) -> bool:
    """True for `serving.store.StoreUnavailable` (a bad or unreachable RISKLOOP_STORE_URL),
    without importing the store on every CLI start: if it is one, its module is loaded."""
    common = sys.modules.get("serving.store.common")
    return common is not None and isinstance(exc, common.StoreUnavailable)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn `UserError`, malformed raw tables (`RawDataError`) and a warnings store that cannot
    be opened (`StoreUnavailable`) into `error: ...`, exit 2."""
    try:
        yield
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:
        if not (_is_raw_data_error(exc) or _is_store_unavailable(exc)):
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
