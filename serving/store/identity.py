"""Entity ids encrypted at rest (AES-256-GCM), for audited re-identification only.

A warning keeps its entity id as ciphertext beside the HMAC pseudonym: `key_id` names the key
(so keys can rotate: new warnings use the current key, old ones keep theirs), and the
ciphertext is bound to the warning's pseudonym as associated data, so a ciphertext
copied onto another warning does not decrypt. The plain id is never stored; only
`WarningStore.reveal` decrypts, for an actor the policy allows, with an audited purpose.

The service's cipher follows the secrets file (`EntityCipher.following`): `riskloop secrets
rotate` runs in another process while the service runs, and its new key must reach the
warnings raised after it without a restart, as a revoked API key stops working at once
(`serving.auth.KeyRing`). Only the encryption keys are followed: the pseudonym key is read
once, since pseudonyms are how warnings, outcomes and labels find each other.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from models.secret_keys import SecretsFileError, load_secrets, secrets_path
from models.settings import Settings

logger = logging.getLogger("riskloop.serving")

_NONCE_BYTES = 12
#: How often, at most, a following cipher looks at the secrets file (one `stat`) as it
#: encrypts: a rotation reaches new warnings within this long, and a large request's
#: thousands of warnings cost one look, not one per id.
KEY_LOOK_INTERVAL_S = 1.0

_Stamp = tuple[int, int, int, int]


class IdentityUnavailable(LookupError):
    """No id to reveal: purged by retention, made without a key, or its key is gone."""


class KeyNotHeld(IdentityUnavailable):
    """The key a ciphertext names is not in the secrets file (another installation's file, a
    start-over)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"encryption key {key_id!r} is not in the secrets file")
        self.key_id = key_id


@dataclass(frozen=True)
class _KeySet:
    """One reading of the keys; `stamp` is the secrets file's as it was read (None: not read
    from a file, or the file was gone)."""

    aead: Mapping[str, AESGCM]
    current_key_id: str
    stamp: _Stamp | None = None

    @classmethod
    def of(cls, keys: Mapping[str, bytes], current_key_id: str, stamp: _Stamp | None) -> _KeySet:
        if current_key_id not in keys:
            raise ValueError(f"current key {current_key_id!r} is not among the keys")
        if any(len(key) != 32 for key in keys.values()):
            raise ValueError("encryption keys must be 32 bytes (AES-256)")
        aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        return cls(aead, current_key_id, stamp)


def _stamp(path: Path) -> _Stamp | None:
    """What changes when the file is replaced (`os.replace` brings a new inode), rewritten or
    has its mode changed; None when it is gone."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


class EntityCipher:
    """Encrypts and decrypts entity ids with the current key / the key a ciphertext names."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        self._keys = _KeySet.of(keys, current_key_id, None)
        self._followed: tuple[Settings, Path] | None = None  # set by `following`
        self._installation = ""  # the followed file's (`Secrets.installation`)
        self._next_look = 0.0
        self._reread_lock = threading.Lock()
        self._last_encryption = threading.local()

    @classmethod
    def following(cls, settings: Settings) -> EntityCipher:
        """The secrets file's keys, followed while the process runs.

        A look at the file is one `stat`, at most every `KEY_LOOK_INTERVAL_S` as ids are
        encrypted, and the file is re-read only when it changed. A re-read that fails (the
        file gone, made readable by others, malformed) keeps the keys already held, as a
        failed model reload keeps the served model, and says so once in the log.
        """
        path = secrets_path(settings)
        stamp = _stamp(path)
        secrets = load_secrets(settings, create=False)
        cipher = cls(secrets.encryption_keys, secrets.current_key_id)
        cipher._keys = replace(cipher._keys, stamp=stamp)
        cipher._followed = (settings, path)
        cipher._installation = secrets.installation
        return cipher

    @property
    def current_key_id(self) -> str:
        """The key of this thread's latest `encrypt` (the current key before any).

        A warning's `key_id` is read just after its id is encrypted (`WarningStore`'s
        `prepare_scores`); another thread may see a rotation in between, and the column
        must still name the key that sealed the id beside it.
        """
        keys: _KeySet | None = getattr(self._last_encryption, "keys", None)
        return (keys or self._keys_now()).current_key_id

    @staticmethod
    def _context(entity_hash: str) -> bytes:
        return f"riskloop:{entity_hash}".encode()

    def encrypt(self, entity_id: str, *, entity_hash: str, nonce: bytes | None = None) -> str:
        """`base64(nonce || ciphertext+tag)` under the current key; `nonce`, when given, is a
        fresh one from `nonces` (never reuse one)."""
        if nonce is None:
            nonce = os.urandom(_NONCE_BYTES)
        elif len(nonce) != _NONCE_BYTES:
            raise ValueError(f"a nonce is {_NONCE_BYTES} bytes")
        keys = self._last_encryption.keys = self._keys_now()
        sealed = keys.aead[keys.current_key_id].encrypt(
            nonce, entity_id.encode(), self._context(entity_hash)
        )
        return base64.b64encode(nonce + sealed).decode("ascii")

    @staticmethod
    def nonces(count: int) -> Iterator[bytes]:
        """`count` fresh random nonces from one call to the OS generator: a request's warnings
        are encrypted together, and one system call per id (which also hands the GIL to the
        service's other threads each time) cost more than the encryption itself."""
        pool = os.urandom(_NONCE_BYTES * count)
        return (pool[i : i + _NONCE_BYTES] for i in range(0, len(pool), _NONCE_BYTES))

    def decrypt(self, token: str | None, key_id: str | None, *, entity_hash: str) -> str:
        """The plain id; raises `IdentityUnavailable` saying why it cannot be had.

        A key this process does not hold yet is looked for in the file at once: another
        worker may have seen a rotation first and sealed an id under the new key.
        """
        if token is None or key_id is None:
            raise IdentityUnavailable("this warning keeps no encrypted id (purged or never kept)")
        aead = self._keys_now().aead.get(key_id)
        if aead is None:
            aead = self._keys_now(look=True).aead.get(key_id)
        if aead is None:
            raise KeyNotHeld(key_id)
        raw = base64.b64decode(token)
        try:
            plain = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._context(entity_hash))
        except InvalidTag:
            raise IdentityUnavailable("the encrypted id does not belong to this warning") from None
        return plain.decode()

    def _keys_now(self, *, look: bool = False) -> _KeySet:
        """The keys as the secrets file holds them now, for a following cipher; `look` looks
        at the file even if it was looked at less than `KEY_LOOK_INTERVAL_S` ago."""
        keys = self._keys
        if self._followed is None:
            return keys
        now = time.monotonic()
        if not look and now < self._next_look:
            return keys
        self._next_look = now + KEY_LOOK_INTERVAL_S
        settings, path = self._followed
        stamp = _stamp(path)
        if stamp == keys.stamp:
            return keys
        with self._reread_lock:  # one thread re-reads; the others wait for its keys
            if self._keys.stamp != stamp:
                self._keys = self._reread(settings, stamp)
            return self._keys

    def _reread(self, settings: Settings, stamp: _Stamp | None) -> _KeySet:
        """The file's keys, read after `stamp` was taken (a change made during the read is
        seen at the next look); on failure the keys held, marked with `stamp` so a file
        that stays broken is reported once."""
        try:
            secrets = load_secrets(settings, create=False)
            if secrets.installation != self._installation:
                # `secrets rotate` keeps the file's pseudonym key: this is another
                # installation's file (or a new one), whose keys the store's backup lacks
                raise SecretsFileError(
                    "it now belongs to another installation (another pseudonym key); restore "
                    "the file this service started with"
                )
            return _KeySet.of(secrets.encryption_keys, secrets.current_key_id, stamp)
        except (SecretsFileError, OSError, ValueError) as exc:
            logger.warning(
                "the secrets file could not be re-read, keeping encryption keys %s (current %s): "
                "%s",
                sorted(self._keys.aead),
                self._keys.current_key_id,
                exc,
            )
            return replace(self._keys, stamp=stamp)
