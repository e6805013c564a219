"""Entity ids encrypted at rest (AES-256-GCM), for audited re-identification only.

A warning keeps its entity id as ciphertext beside the HMAC pseudonym: `key_id` names the key
(so keys can rotate: new warnings use the current key, old ones keep theirs), and the
ciphertext is bound to the warning's pseudonym as associated data, so a ciphertext
copied onto another warning does not decrypt. The plain id is never stored; only
`WarningStore.reveal` decrypts, for an actor the policy allows, with an audited purpose.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


class IdentityUnavailable(LookupError):
    """No id to reveal: purged by retention, made without a key, or its key is gone."""


class EntityCipher:
    """Encrypts and decrypts entity ids with the current key / the key a ciphertext names."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        if current_key_id not in keys:
            raise ValueError(f"current key {current_key_id!r} is not among the keys")
        if any(len(key) != 32 for key in keys.values()):
            raise ValueError("encryption keys must be 32 bytes (AES-256)")
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current_key_id = current_key_id

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
        sealed = self._aead[self.current_key_id].encrypt(
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
        """The plain id; raises `IdentityUnavailable` saying why it cannot be had."""
        if token is None or key_id is None:
            raise IdentityUnavailable("this warning keeps no encrypted id (purged or never kept)")
        aead = self._aead.get(key_id)
        if aead is None:
            raise IdentityUnavailable(f"encryption key {key_id!r} is not in the secrets file")
        raw = base64.b64decode(token)
        try:
            plain = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._context(entity_hash))
        except InvalidTag:
            raise IdentityUnavailable("the encrypted id does not belong to this warning") from None
        return plain.decode()
