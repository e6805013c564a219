"""Departments' webhook signing secrets, kept like the API keys: one 0600 JSON file.

The database knows each department's endpoint URL (`department_webhooks`); the secret that signs
its notifications lives only here, outside the warnings database and its backups, and is never
printed. Like the main secrets file, it is refused when group or others may read it. The file
is rewritten atomically under a lock (the keys file's helpers), so `riskloop departments
set-webhook` and `remove-webhook` may run while the service delivers; readers notice a change
by the file's modification time.
"""

from __future__ import annotations

import json
from pathlib import Path

from models.secret_keys import check_file_mode
from models.settings import get_settings, weak_secret
from serving.secret_files import locked, write_json_atomically


class WebhookSecretError(ValueError):
    """A secret that cannot be used (too short, not printable ASCII)."""


def _default_path() -> Path:
    return get_settings().webhook_secrets_file


def _read(path: Path) -> dict[str, str]:
    """The secrets by department; a file group or others may read is refused (`SecretsFileError`)."""
    if not path.exists():
        return {}
    check_file_mode(path)
    raw = json.loads(path.read_text(encoding="utf-8") or "{}")
    return {str(k): str(v) for k, v in raw.get("secrets", {}).items()}


def check_secret(secret: str) -> str:
    """The secret without surrounding whitespace, refused if weak (`weak_secret`: too short,
    not printable ASCII, a repeated pattern)."""
    clean = secret.strip()
    problem = weak_secret(clean, "webhook secret")
    if problem:
        raise WebhookSecretError(
            f"{problem}; delete the file to have a random one generated, or write one from "
            "`openssl rand -hex 32`"
        )
    return clean


def set_secret(department: str, secret: str, path: Path | None = None) -> None:
    """Store (or replace) a department's signing secret."""
    target = path or _default_path()
    clean = check_secret(secret)
    with locked(target):
        secrets = _read(target)
        secrets[department] = clean
        write_json_atomically(target, {"version": 1, "secrets": secrets})


def remove_secret(department: str, path: Path | None = None) -> bool:
    """Delete a department's signing secret (its webhook was removed); False when it had none.

    A secret is never kept for an endpoint that is gone: setting a webhook again generates or
    reads one anew (`riskloop departments set-webhook --secret-file`).
    """
    target = path or _default_path()
    if not target.exists():
        return False
    with locked(target):
        secrets = _read(target)
        if secrets.pop(department, None) is None:
            return False
        write_json_atomically(target, {"version": 1, "secrets": secrets})
    return True


class SecretBook:
    """The delivery worker's view of the secrets file, re-read only when it changes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or _default_path()
        self._stamp: tuple[int, int] | None = None
        self._secrets: dict[str, str] = {}

    def get(self, department: str) -> str | None:
        """The department's secret, or None when it has none."""
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._secrets = _read(self.path) if stamp is not None else {}
            self._stamp = stamp
        return self._secrets.get(department)
