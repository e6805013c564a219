"""Departments' webhook signing secrets, kept like the API keys: one 0600 JSON file.

The database knows each department's endpoint URL (`department_webhooks`); the secret that signs
its notifications lives only here, outside the warnings database and its backups, and is never
printed. Like the main secrets file, it is refused when group or others may read it. The file
is rewritten atomically under a lock (the keys file's helpers), so
`riskloop departments set-webhook` may run while the service delivers; readers notice a change
by the file's modification time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from models.secret_keys import check_file_mode
from models.settings import get_settings
from serving.secret_files import locked, write_json_atomically
from serving.store.free_text import repeats_one_unit

MIN_SECRET_CHARS = 24
# "aaaa...", "abab..." or a keyboard row repeated is guessed before it is brute-forced: a
# secret that repeats one unit, or holds fewer than this many different characters, is
# refused. A random one never is: 32 hex digits (`openssl rand -hex 16`) show fewer than 6 of
# their 16 about once in 10^12 draws (a floor of 10, as first written, refused about one in
# 14,000: a test drawing 200 failed about one run in 70)
MIN_DISTINCT_CHARS = 6
_SECRET_PATTERN = re.compile(r"^[\x21-\x7e]+$")


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
    """The secret without surrounding whitespace, refused if weak or not printable ASCII."""
    clean = secret.strip()
    if len(clean) < MIN_SECRET_CHARS or not _SECRET_PATTERN.match(clean):
        raise WebhookSecretError(
            f"a webhook secret must be at least {MIN_SECRET_CHARS} printable ASCII characters "
            "without spaces"
        )
    repeats = repeats_one_unit(clean)  # the same unit over and over
    if repeats or len(set(clean)) < MIN_DISTINCT_CHARS:
        raise WebhookSecretError(
            f"this webhook secret {'repeats one pattern' if repeats else 'has only'}"
            f"{'' if repeats else f' {len(set(clean))} different characters'} (a repeated "
            f"pattern, or fewer than {MIN_DISTINCT_CHARS} different characters, is guessed); "
            "delete the file to have a random one generated, or write one from "
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
