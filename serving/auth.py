"""API keys: named, scoped, stored only as salted hashes in one JSON file.

A key looks like `rk_<key id>_<secret>`. The key id (8 hex characters) is stored in clear so a
request finds its record in one dictionary lookup; the secret (256 random bits) is stored only as
`sha256(salt + secret)` with a per-key salt, compared in constant time. A fast hash is enough
because the secret is random, not a password a person chose. The file is rewritten atomically
(temporary file + `os.replace`) under an exclusive lock, so the CLI can create or revoke keys
while the service runs; the service notices the change by the file's modification time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from models.departments import UnknownDepartmentError, get_department
from models.settings import get_settings
from serving.secret_files import locked, write_json_atomically
from serving.store.pseudonym import looks_like_identifier

SCOPES: tuple[str, ...] = ("score", "review", "feedback", "reveal", "audit", "admin")
#: The scopes a key bound to a department cannot hold, each with why: what they reach spans
#: every department (the service refuses them to such a key made before, `serving.policy`).
DEPARTMENT_WIDE_SCOPES: dict[str, str] = {
    "audit": "the audit log spans every department",
    "admin": "administration (reloading every task's models, managing people) spans every "
    "department",
}
KEY_PREFIX = "rk"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY_PATTERN = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{43}})$")

logger = logging.getLogger("riskloop.serving")


class KeyManagementError(ValueError):
    """A key-management request that cannot be honoured (bad name, unknown scope, duplicate)."""


class AuthError(Exception):
    """A request that is not allowed: `status` is 401 (who are you?) or 403 (not permitted).

    `who`: the audit actor the refused credentials do name (`key:NAME` of a revoked key whose
    secret matched), whose attempt is put on the record with `rule` (the message, or more:
    a revoked key's id, as a later key may carry its name); None for credentials naming
    nobody, which are not (anyone could fill the log with them)."""

    def __init__(
        self, status: int, message: str, who: str | None = None, rule: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.who = who
        self.rule = rule or message


@dataclass(frozen=True)
class KeyRecord:
    """One stored key: never holds the secret itself."""

    name: str
    key_id: str
    scopes: tuple[str, ...]
    salt: str
    secret_hash: str
    created_at: str
    revoked_at: str | None = None
    # a key bound to a department sees and works only that department's warnings
    department: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, object]:
        """What `riskloop keys list` shows: no salt, no hash."""
        return {
            "name": self.name,
            "key_id": self.key_id,
            "scopes": list(self.scopes),
            "department": self.department,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _default_path() -> Path:
    return get_settings().keys_file


def _hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("ascii")).hexdigest()


def _secret_matches(record: KeyRecord, secret: str) -> bool:
    return hmac.compare_digest(record.secret_hash, _hash_secret(record.salt, secret))


def _read(path: Path) -> list[KeyRecord]:
    """The keys in the file at `path`; none when there is no file (a new deployment, whose
    first `keys create` writes it). A folder, an unreadable file, an empty one (0 bytes: no
    keys file riskloop writes is) or a malformed one is a `KeyManagementError`: never read as
    "no keys", which the next `keys create` would write over."""
    if not path.exists():
        return []
    if path.is_dir():
        raise KeyManagementError(
            f"keys file {path} is a directory, not a keys file; set RISKLOOP_KEYS_FILE to the "
            "keys file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyManagementError(
            f"cannot read the keys file {path}: {exc.strerror or exc}"
        ) from None
    try:
        if not text.strip():
            raise ValueError("it is empty")
        raw = json.loads(text)
        if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list):
            # not a keys file (a typo, another tool's file): never read as empty, which the
            # next `keys create` would write over
            raise ValueError('no "keys" list at the top level')
        return [KeyRecord(**{**item, "scopes": tuple(item["scopes"])}) for item in raw["keys"]]
    except KeyError as exc:
        raise KeyManagementError(
            f"keys file {path} is malformed (a key has no {exc.args[0]!r} field); restore it "
            "from the backup"
        ) from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise KeyManagementError(
            f"keys file {path} is malformed ({exc}); restore it from the backup"
        ) from None


def _write_atomically(path: Path, records: Iterable[KeyRecord]) -> None:
    payload = {"version": 1, "keys": [asdict(r) | {"scopes": list(r.scopes)} for r in records]}
    write_json_atomically(path, payload)


def parse_scopes(text: str) -> tuple[str, ...]:
    """`"score,review"` -> `("score", "review")`, refusing unknown or empty scopes."""
    scopes = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not scopes:
        raise KeyManagementError(
            f"at least one scope is required (choose from {', '.join(SCOPES)})"
        )
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise KeyManagementError(
            f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}"
        )
    return scopes


def create_key(
    name: str, scopes: Iterable[str], path: Path | None = None, department: str | None = None
) -> str:
    """Create a key and return its secret form; only its hash is stored, so show it once.

    `department` (a code from `models.departments`) binds the key to that department's
    warnings (see `serving.policy`).
    """
    return issue_key(name, scopes, path, department)[0]


def issue_key(
    name: str, scopes: Iterable[str], path: Path | None = None, department: str | None = None
) -> tuple[str, KeyRecord]:
    """`create_key`, answering the stored record too (what the key's audit row names)."""
    path = path or _default_path()
    if department is not None:
        try:
            get_department(department)
        except UnknownDepartmentError as exc:
            raise KeyManagementError(str(exc)) from None
    if not _NAME_PATTERN.match(name):
        raise KeyManagementError(
            f"invalid key name {name!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if looks_like_identifier(name):
        raise KeyManagementError(
            "a key name must not hold a phone, identity-card or account number: the name is "
            "kept in the audit log, where no raw identifier may be"
        )
    scope_tuple = parse_scopes(",".join(scopes))
    wide = [scope for scope in scope_tuple if scope in DEPARTMENT_WIDE_SCOPES]
    if department is not None and wide:
        raise KeyManagementError(
            f"{DEPARTMENT_WIDE_SCOPES[wide[0]]}: a key with the {wide[0]!r} scope cannot be "
            "bound to one (create it without --department, or drop the scope)"
        )
    _read(path)  # a keys file that cannot be used: refused before its lock file is made
    with locked(path):
        records = _read(path)
        if any(r.name == name and r.active for r in records):
            raise KeyManagementError(
                f"an active key named {name!r} already exists; revoke it first"
            )
        taken = {r.key_id for r in records}
        key_id = secrets.token_hex(4)
        while key_id in taken:
            key_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        record = KeyRecord(
            name=name,
            key_id=key_id,
            scopes=scope_tuple,
            salt=salt,
            secret_hash=_hash_secret(salt, secret),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            department=department,
        )
        _write_atomically(path, [*records, record])
    return f"{KEY_PREFIX}_{key_id}_{secret}", record


def list_keys(path: Path | None = None) -> list[KeyRecord]:
    """Every key ever created, revoked ones included (revocation is kept for the record)."""
    return _read(path or _default_path())


def revoke_key(name: str, path: Path | None = None) -> KeyRecord:
    """Revoke the active key called `name`; requests with it get 401 from then on."""
    path = path or _default_path()
    _read(path)  # a keys file that cannot be used: refused before its lock file is made
    with locked(path):
        records = _read(path)
        matches = [r for r in records if r.name == name and r.active]
        if not matches:
            raise KeyManagementError(f"no active key named {name!r}")
        revoked_at = datetime.now(UTC).isoformat(timespec="seconds")
        updated = [
            KeyRecord(**{**asdict(r), "revoked_at": revoked_at})
            if r.name == name and r.active
            else r
            for r in records
        ]
        _write_atomically(path, updated)
    return next(r for r in updated if r.key_id == matches[0].key_id)


class KeyRing:
    """The service's view of the keys file, re-read only when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._by_id: dict[str, KeyRecord] = {}
        # revoked keys, to name the one a refused request still carries (key ids are unique)
        self._revoked_by_id: dict[str, KeyRecord] = {}

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp or (stamp is None and self._by_id):
            try:
                records = _read(self.path)
            except KeyManagementError as exc:
                # a hand-edit gone wrong: no key is taken until the file is repaired (closed,
                # not open; one log line per change of the file), and no request fails with 500
                logger.error("%s; no API key is accepted until it is repaired", exc)
                records = []
            self._by_id = {r.key_id: r for r in records if r.active}
            self._revoked_by_id = {r.key_id: r for r in records if not r.active}
            self._stamp = stamp

    def active_count(self) -> int:
        self._refresh()
        return len(self._by_id)

    def authenticate(self, header: str | None, scope: str | None = None) -> KeyRecord:
        """Check an `Authorization` header value; `scope=None` accepts any valid key.

        Raises:
            AuthError: 401 for a missing, malformed, unknown or revoked key (a revoked key's
                secret matching: "API key revoked", naming the key in `who`); 403 for a valid
                key without `scope`.
        """
        if not header:
            raise AuthError(401, "missing API key: send 'Authorization: Bearer <key>'")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise AuthError(401, "malformed Authorization header: expected 'Bearer <key>'")
        match = _KEY_PATTERN.match(token.strip())
        if match is None:
            raise AuthError(401, "unknown API key")
        key_id, secret = match.groups()
        self._refresh()
        record = self._by_id.get(key_id)
        if record is None:
            revoked = self._revoked_by_id.get(key_id)
            if revoked is not None and _secret_matches(revoked, secret):
                # the row names the key's id: a key created later may carry the same name
                raise AuthError(
                    401,
                    "API key revoked",
                    who=f"key:{revoked.name}",
                    rule=f"API key revoked (key id {revoked.key_id})",
                )
        if record is None or not _secret_matches(record, secret):
            raise AuthError(401, "unknown API key")
        if scope is not None and scope not in record.scopes:
            raise AuthError(403, f"key {record.name!r} lacks the {scope!r} scope")
        return record


def authenticate(
    header: str | None, scope: str | None = None, path: Path | None = None
) -> KeyRecord:
    """One-off check of a header against the keys file (the service keeps a `KeyRing`)."""
    return KeyRing(path or _default_path()).authenticate(header, scope)
