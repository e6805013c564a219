"""A secrets file for a test whose warnings store was made before it.

riskloop makes its secrets file on first use only, before any store exists: where the store
exists, a missing file is refused (`models.secret_keys.load_secrets`). A test that copies a
migrated template store (made under the fixtures' own key, with its key check forgotten) and
then runs the CLI or the service on it writes the file the way riskloop does on first use.
"""

from __future__ import annotations

from pathlib import Path


def write_secrets_file(path: Path | None = None) -> Path:
    """A new secrets file (0600) at `path`, default the settings' `secrets_path()`."""
    from models.secret_keys import _generated, _write_new, secrets_path

    target = path or secrets_path()
    _write_new(target, _generated())
    return target
