"""How the CLI reports a user's mistake: one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import typer


class UserError(Exception):
    """A problem the user can fix (bad path, unknown task, malformed data): no traceback."""


def parse_as_of(text: str) -> Any:
    """A command's `--as-of`: a day written YYYY-MM-DD, as that day's midnight (a pandas
    Timestamp). A month (`2025-12`), a time (`2026-01-01T00:00`), a week date or a date
    without its dashes is a `UserError`, not read as some day the user did not write."""
    import pandas as pd

    problem = UserError(f"--as-of {text!r} is not a date (expected YYYY-MM-DD)")
    if not _DAY.fullmatch(text):
        raise problem
    try:
        return pd.Timestamp(date.fromisoformat(text))
    except ValueError:  # 2026-02-30
        raise problem from None


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_output_file(path: Path, option: str, expected: str) -> None:
    """Refuse, before any work, an output file `path` (given as `option`) that is a folder or
    whose folder cannot be made; `expected` says what to give instead ("a .json file path").

    Nothing is created here: a missing folder is made by the write itself, so a command
    refused later (bad input, no store) leaves no empty folder behind. The nearest folder that
    exists must be a folder this process may create entries in.
    """
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give {expected}")
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # `exists` is False through a file too: stopped at the file
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: Not a directory ({folder} is a file)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: Permission denied ({folder})")


def require_store(store_url: str | None = None) -> None:
    """Refuse, in one line, a SQLite warnings store whose file is not there or is empty
    (`store_url`, default the settings'). Opening it would create an empty store (and the command a new
    secrets file: a new pseudonym key) in the folder the command ran from, and the command
    would answer, or write, as if that were the deployment's store. A command that reads or
    changes the store checks this before any work (`training.commands.people.
    open_existing_store` opens the store after it)."""
    from models.settings import get_settings, sqlite_file

    url = get_settings().store_url if store_url is None else store_url
    path = sqlite_file(url)  # a malformed URL: WarningStore says so
    if path is None or (path.is_file() and path.stat().st_size > 0):
        return
    # an empty file is no store either: SQLite would write a new one into it
    why = "" if not path.exists() else "it is a folder; " if path.is_dir() else "it is empty; "
    raise UserError(
        f"no warnings store at {path.absolute()} (RISKLOOP_STORE_URL={url}): {why}run riskloop "
        "from the folder it was set up in or set RISKLOOP_STORE_URL; `riskloop run` or "
        "`riskloop store upgrade` creates a store"
    )


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


def _is_secrets_file_error(exc: BaseException) -> bool:
    """True for `models.secret_keys.SecretsFileError` (a secrets file readable by others, or
    malformed), without importing it on every CLI start: if it is one, its module is loaded."""
    secret_keys = sys.modules.get("models.secret_keys")
    return secret_keys is not None and isinstance(exc, secret_keys.SecretsFileError)


def _store_outage(exc: BaseException) -> str | None:
    """What to say of a warnings store that stopped answering during a command (its server
    restarted or went away: `serving.store.is_outage`), None for any other error; without
    importing the store on every CLI start (if it is one, its module is loaded)."""
    common = sys.modules.get("serving.store.common")
    if common is None or not common.is_outage(exc):
        return None
    return (
        f"the warnings store stopped answering ({common.outage_cause(exc)}); what the command "
        "had not committed was not written: run it again once the store answers"
    )


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn `UserError`, malformed raw tables (`RawDataError`), a warnings store that cannot
    be opened (`StoreUnavailable`) or stops answering (an outage), and an unusable secrets
    file (`SecretsFileError`) into `error: ...`, exit 2."""
    try:
        yield
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except (ValueError, RuntimeError) as exc:
        if not (
            _is_raw_data_error(exc) or _is_store_unavailable(exc) or _is_secrets_file_error(exc)
        ):
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:
        said = _store_outage(exc)
        if said is None:
            raise
        typer.echo(f"error: {said}", err=True)
        raise typer.Exit(2) from None


def check_raw_folder(root: Path, hint: str = "") -> None:
    """Raise `UserError` unless `root` is a folder, saying whether it is missing (with `hint`,
    what to do, after it) or a file."""
    if root.is_dir():
        return
    if root.exists():
        raise UserError(f"raw data folder {root} is a file, not a folder")
    raise UserError(f"raw data folder {root} does not exist" + (f"; {hint}" if hint else ""))
