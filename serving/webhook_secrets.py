"""Departments' webhook signing secrets, kept like the API keys: one 0600 JSON file.

The database knows each department's endpoint URL (`department_webhooks`); the secret that signs
its notifications lives only here, outside the warnings database and its backups, and is never
printed. Like the main secrets file, it is refused in one line when group or others may read it
or it is damaged (`SecretsFileError`): a command stops there, the delivery worker holds the
events until it is repaired. The file is rewritten atomically under a lock (the keys file's
helpers), so `riskloop departments set-webhook` and `remove-webhook` may run while the service
delivers; readers notice a change by the file's modification time.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from models.secret_keys import SecretsFileError, check_file_mode
from models.settings import get_settings, weak_secret
from serving.secret_files import locked, write_json_atomically


class WebhookSecretError(ValueError):
    """A secret that cannot be used (too short, not printable ASCII)."""


def _default_path() -> Path:
    return get_settings().webhook_secrets_file


def _read(path: Path) -> dict[str, str]:
    """The secrets by department (none when there is no file). A folder, a file group or
    others may read, one that cannot be read or is not `{"secrets": {department: secret}}` is
    refused in one line (`SecretsFileError`, as the main secrets file: the CLI prints it,
    exit 2; the delivery worker holds the events until it is repaired). The line names the
    file and what is wrong with it, never a secret."""
    if not path.exists():
        return {}
    if path.is_dir():
        raise SecretsFileError(
            f"webhook secrets file {path} is a directory, not a secrets file; set "
            "RISKLOOP_WEBHOOK_SECRETS_FILE to the webhook secrets file"
        )
    check_file_mode(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _unreadable(path, exc) from None
    except UnicodeDecodeError as exc:
        raise _malformed(path, str(exc)) from None
    try:
        raw = json.loads(text or "{}")
    except ValueError as exc:  # a file cut short, or not JSON at all
        raise _malformed(path, f"not JSON: {exc}") from None
    found = raw.get("secrets", {}) if isinstance(raw, dict) else None
    if not isinstance(found, dict):
        raise _malformed(path, 'not a JSON object holding a "secrets" object')
    wrong = sorted(
        department for department, secret in found.items() if not isinstance(secret, str)
    )
    if wrong:
        raise _malformed(path, f"the secret of {', '.join(wrong)} is not a string")
    return dict(found)


def _unreadable(path: Path, exc: OSError) -> SecretsFileError:
    return SecretsFileError(f"cannot read the webhook secrets file {path}: {exc.strerror or exc}")


def _malformed(path: Path, why: str) -> SecretsFileError:
    return SecretsFileError(
        f"webhook secrets file {path} is malformed ({why}); restore it from the backup"
    )


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
    """The delivery worker's view of the secrets file, re-read only when it changes.
    Thread-safe: departments are delivered side by side."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or _default_path()
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._secrets: dict[str, str] = {}

    def check(self) -> None:
        """Read the file again if it changed since it was last read: its contents, or its mode
        (its change time): made readable by group or others while the worker runs, it was
        kept in use (QA, 2026-12-07), as a file first read so never is.

        Raises:
            SecretsFileError: it cannot be used (`_read`); it is read again at the next call,
                so a repaired file is taken as soon as it is back.
        """
        try:
            stat = self.path.stat()
            stamp: tuple[int, ...] | None = (
                stat.st_ino,
                stat.st_size,
                stat.st_mtime_ns,
                stat.st_ctime_ns,
                stat.st_mode,
            )
        except (FileNotFoundError, NotADirectoryError):  # no file there: no secrets yet
            stamp = None
        except OSError as exc:
            raise _unreadable(self.path, exc) from None
        with self._lock:
            if stamp != self._stamp:
                self._secrets = _read(self.path) if stamp is not None else {}
                self._stamp = stamp

    def get(self, department: str) -> str | None:
        """The department's secret, or None when it has none (raises as `check`)."""
        self.check()
        with self._lock:
            return self._secrets.get(department)
