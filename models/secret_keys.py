"""riskloop's secrets: the pseudonym key, the entity-encryption keys and the session key.

No secret value lives in the code. On first use riskloop generates them into a JSON secrets
file (path from `RISKLOOP_SECRETS_FILE`; default beside the keys file) created with mode 0600;
`RISKLOOP_PSEUDONYM_SECRET` in the environment overrides the file's pseudonym key (several
machines must agree on pseudonyms; `Settings` refuses a guessable one, `weak_secret`). A
secrets file readable by group or others is refused: anyone who can read it can recompute
pseudonyms and decrypt identities.

Losing the file loses re-identification (the encrypted ids cannot be decrypted) and, unless
the pseudonym key comes from the environment, the link between new and old pseudonyms: back
it up with the database (docs/privacy.md says how, and how `riskloop secrets rotate` adds a
new encryption key while keeping the old ones for the ciphertexts made under them).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from models.settings import Settings, get_settings

FILE_MODE = 0o600
_KEY_BYTES = 32  # AES-256


class SecretsFileError(RuntimeError):
    """The secrets file cannot be used (readable by others, malformed); one clear line."""


@dataclass(frozen=True)
class Secrets:
    """The secrets one process uses; `encryption_keys` maps key id -> 32-byte AES key.
    `installation` tells one secrets file from another's (a digest of the file's own pseudonym
    key, which no command changes): a file copied in from another installation has another."""

    pseudonym_secret: str
    session_secret: str
    encryption_keys: dict[str, bytes]
    current_key_id: str
    installation: str = ""

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Secrets(key_ids={sorted(self.encryption_keys)}, current={self.current_key_id})"


def secrets_path(settings: Settings | None = None) -> Path:
    """Where the secrets file lives: `RISKLOOP_SECRETS_FILE`, else beside the keys file."""
    settings = settings or get_settings()
    if settings.secrets_file is not None:
        return settings.secrets_file
    return settings.keys_file.with_name("riskloop-secrets.json")


def _new_key_id() -> str:
    return f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def _generated() -> dict[str, object]:
    key_id = _new_key_id()
    return {
        "version": 1,
        "pseudonym_secret": secrets.token_urlsafe(32),
        "session_secret": secrets.token_urlsafe(32),
        "encryption_keys": {key_id: base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode()},
        "current_key_id": key_id,
    }


def _write_new(path: Path, payload: dict[str, object]) -> None:
    """Write the file atomically with mode 0600 from its first byte (never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_file_mode(path: Path) -> None:
    """Refuse a secrets file that group or others may read or write."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretsFileError(
            f"secrets file {path} is readable by group or others (mode {mode:04o}); "
            f"run `chmod 600 {path}` and check who has read it"
        )


def _read(path: Path) -> dict[str, object]:
    """The secrets file's contents; a folder, a file others may read, an unreadable or a
    malformed file is a `SecretsFileError`."""
    if path.is_dir():
        raise SecretsFileError(
            f"secrets file {path} is a directory, not a secrets file; set "
            "RISKLOOP_SECRETS_FILE to the secrets file"
        )
    check_file_mode(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretsFileError(
            f"cannot read the secrets file {path}: {exc.strerror or exc}"
        ) from None
    try:
        payload = json.loads(text)
        keys = payload["encryption_keys"]
        if payload["current_key_id"] not in keys or not payload["pseudonym_secret"]:
            raise KeyError("current_key_id")
    except (ValueError, KeyError, TypeError) as exc:
        raise SecretsFileError(
            f"secrets file {path} is malformed ({exc}); restore it from the backup"
        ) from None
    return dict(payload)


def _create_once(path: Path) -> None:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
    import fcntl

    with os.fdopen(fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two workers starting together write one file
        if not path.exists():
            _write_new(path, _generated())


def existing_store(settings: Settings) -> str | None:
    """The configured warnings store, named for a message (password hidden), when riskloop
    has made it already (its `alembic_version` table is there); None when there is none yet.
    A server that does not answer is refused (`SecretsFileError`): what keys its rows were
    made under is not known. Opens nothing for writing and creates nothing."""
    import sqlite3

    from models.settings import (
        database_url_problem,
        hide_password,
        postgres_connect_args,
        sqlite_file,
    )

    url = settings.store_url
    path = sqlite_file(url)
    if path is not None:
        if not path.is_file() or path.stat().st_size == 0:
            return None
        try:
            with contextlib.closing(
                sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
            ) as db:
                found = db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
                ).fetchone()
        except sqlite3.Error:
            return None  # not a database: opening the store says so
        return str(path) if found else None
    if url.startswith("sqlite"):
        return None  # in memory
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    problem = database_url_problem(url)
    if problem is not None:  # said before any driver reads it (its messages quote the host)
        raise SecretsFileError(
            f"cannot open the warnings store {hide_password(url)} (RISKLOOP_STORE_URL): {problem}"
        )
    try:
        engine = create_engine(url, connect_args=postgres_connect_args(url))
    except (SQLAlchemyError, ImportError, ValueError):
        return None  # a URL SQLAlchemy cannot read: opening the store says so
    try:
        with engine.connect() as connection:
            made = inspect(connection).has_table("alembic_version")
    except (SQLAlchemyError, OSError) as exc:
        cause = hide_password(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0])
        raise SecretsFileError(
            f"cannot open the warnings store {hide_password(url)} (RISKLOOP_STORE_URL): "
            f"{cause}; no secrets file is made before it answers (its keys may be the store's)"
        ) from None
    finally:
        engine.dispose()
    return hide_password(url) if made else None


def load_secrets(settings: Settings | None = None, *, create: bool = True) -> Secrets:
    """The secrets, generating the file on first use (`create=False`: refuse instead).

    First use is a deployment without a warnings store yet: where the store exists
    (`existing_store`), a missing file is refused, never made anew. A new file would hold new
    keys: pseudonyms that meet none of the store's (the store refuses them too), and ids a
    running service would seal under a key the restored backup does not hold.
    """
    settings = settings or get_settings()
    path = secrets_path(settings)
    if not path.exists():
        if not create:
            raise SecretsFileError(f"no secrets file at {path}")
        store = existing_store(settings)
        if store is not None:
            raise SecretsFileError(
                f"no secrets file at {path.absolute()}, but the warnings store {store} exists: "
                "restore the secrets file backed up with it (docs/privacy.md), or set "
                "RISKLOOP_SECRETS_FILE to where it is; a new file would hold keys the store "
                "does not know, so none was made (with no backup at all: riskloop secrets "
                "start-over)"
            )
        try:
            _create_once(path)
        except OSError as exc:  # e.g. a file where its folder should be, or a read-only disk
            raise SecretsFileError(
                f"cannot create the secrets file {path}: {exc.strerror or exc}"
            ) from None
    payload = _read(path)
    env_secret = settings.pseudonym_secret
    keys = {
        str(key_id): base64.b64decode(str(value))
        for key_id, value in dict(payload["encryption_keys"]).items()  # type: ignore[call-overload]
    }
    return Secrets(
        pseudonym_secret=(
            env_secret.get_secret_value()
            if env_secret is not None
            else str(payload["pseudonym_secret"])
        ),
        session_secret=str(payload["session_secret"]),
        encryption_keys=keys,
        current_key_id=str(payload["current_key_id"]),
        installation=hashlib.sha256(
            b"riskloop installation\0" + str(payload["pseudonym_secret"]).encode()
        ).hexdigest()[:16],
    )


def make_secrets_anew(settings: Settings | None = None) -> Path:
    """A new secrets file though the warnings store exists: `riskloop secrets start-over`,
    where the store's own file is lost for good. Never over a file that is there (another
    installation's copied in, or the store's own found again: neither is to be replaced
    unseen).

    Raises:
        SecretsFileError: a file is there, or it cannot be made.
    """
    path = secrets_path(settings or get_settings())
    if path.exists():
        raise SecretsFileError(
            f"a secrets file is at {path.absolute()}: start over only where the store's is "
            "lost; if that file is not the store's (another installation's), move it away first"
        )
    try:
        _create_once(path)
    except OSError as exc:
        raise SecretsFileError(
            f"cannot create the secrets file {path}: {exc.strerror or exc}"
        ) from None
    return path


def rotate_encryption_key(settings: Settings | None = None) -> str:
    """Add a new encryption key and make it current; old keys stay to decrypt old ids."""
    path = secrets_path(settings or get_settings())
    load_secrets(settings)  # creates and checks the file
    payload = _read(path)
    key_id = _new_key_id()
    keys = dict(payload["encryption_keys"])  # type: ignore[call-overload]
    while key_id in keys:
        key_id = _new_key_id()
    keys[key_id] = base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode()
    _write_new(path, {**payload, "encryption_keys": keys, "current_key_id": key_id})
    return key_id
