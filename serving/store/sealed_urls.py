"""Department webhook URLs sealed at rest.

A webhook URL may carry a credential in its path or query (a chat robot's `access_token=`, a
receiver's token) or its userinfo. The log and the audit log show such a URL by scheme, host and
port only (`outbox.shown_url`, `outbox._endpoint`); in the database it is sealed with the key
that seals entity ids (`EntityCipher`, AES-GCM, the department bound in as associated data), so
a copy of the database or a backup does not hand the credential over. A key rotation keeps the
old keys, so a URL sealed before it still opens.

A store opened without the secrets' keys (a tool that never raises warnings) keeps a URL plain,
as a URL set before this module existed is; `riskloop store upgrade` seals those
(`Outbox.seal_plain_webhooks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from serving.store.identity import IdentityUnavailable, KeyNotHeld

if TYPE_CHECKING:
    from serving.store.identity import EntityCipher

#: A sealed URL's stored form: `sealed1:<key id>:<base64(nonce || ciphertext + tag)>`.
SEALED_PREFIX = "sealed1:"
#: The longest webhook URL taken: sealed (base64 of the URL and 28 bytes, its prefix and key
#: id), it fits the column's 2,000 characters.
MAX_URL_CHARS = 1200


def _context(department: str) -> str:
    """The associated data a URL is sealed under: a sealed URL opens for its department only."""
    return f"webhook:{department}"


def seal(cipher: EntityCipher | None, department: str, url: str) -> str:
    """`url` as the store keeps it: sealed under the current key, plain without a cipher."""
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"a webhook URL is at most {MAX_URL_CHARS} characters ({len(url)} given)")
    if cipher is None:
        return url
    token = cipher.encrypt(url, entity_hash=_context(department))
    return f"{SEALED_PREFIX}{cipher.current_key_id}:{token}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def open_url(cipher: EntityCipher | None, department: str, stored: str) -> str:
    """The URL a stored value holds.

    Raises:
        IdentityUnavailable: a sealed URL that cannot be opened here, saying why (no keys, a
            key the secrets file does not hold, or a value that is not this department's).
    """
    if not is_sealed(stored):
        return stored
    if cipher is None:
        raise IdentityUnavailable(
            "its URL is sealed and this process holds no encryption keys (RISKLOOP_SECRETS_FILE)"
        )
    key_id, _, token = stored.removeprefix(SEALED_PREFIX).rpartition(":")
    try:
        return cipher.decrypt(token, key_id, entity_hash=_context(department))
    except KeyNotHeld:
        raise IdentityUnavailable(
            f"its URL is sealed with encryption key {key_id!r}, which the secrets file does "
            "not hold"
        ) from None
    except IdentityUnavailable:
        raise IdentityUnavailable(_DAMAGED) from None
    except ValueError:  # not base64: a value no riskloop wrote
        raise IdentityUnavailable(_DAMAGED) from None


_DAMAGED = "its sealed URL is damaged or was sealed for another department"
