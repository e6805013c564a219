"""Signing and verifying riskloop's webhook requests: standard library only, copy freely.

Every notification is a POST of a JSON body with two headers:

    X-Riskloop-Event-Id: E-<32 hex>           the event's id: deduplicate on it
    X-Riskloop-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

The scheme is the one payment providers use (a timestamp inside the signed text stops a
captured request being replayed later). A receiving system copies this file, or just `verify`,
and calls it with its department's secret, the request headers and the raw body bytes:

    from webhooks import verify, SignatureError
    try:
        verify(secret, request.headers, body)          # default tolerance: 300 s
    except SignatureError:
        return 400
    if event_id_seen(request.headers["X-Riskloop-Event-Id"]):   # at-least-once delivery
        return 200

This module imports nothing of riskloop's on purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Riskloop-Signature"
EVENT_ID_HEADER = "X-Riskloop-Event-Id"
SCHEME = "v1"


class SignatureError(ValueError):
    """The request is not signed by the expected secret, or its timestamp is too old."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>." + body` under `secret`."""
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `X-Riskloop-Signature` header value for `body` (timestamp: now)."""
    moment = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={moment},{SCHEME}={signature(secret, moment, body)}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (works for dicts and HTTP libraries' header maps)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: int = 300,
    now: float | None = None,
) -> int:
    """Check a request's signature; returns its timestamp, raises `SignatureError` if bad.

    Args:
        secret: the department's signing secret.
        headers: the request's headers (any mapping; names are matched case-insensitively).
        body: the raw body bytes exactly as received (before any JSON parsing).
        tolerance_s: how old (or how far in the future) the timestamp may be, in seconds.
        now: the current unix time (default: the clock), for tests.
    """
    value = _header(headers, SIGNATURE_HEADER)
    if not value:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(item)
            except ValueError:
                raise SignatureError("the signature's timestamp is not an integer") from None
        elif key == SCHEME:
            candidates.append(item)
    if timestamp is None or not candidates:
        raise SignatureError(f"{SIGNATURE_HEADER} must look like t=<unix>,{SCHEME}=<hex>")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"the signature's timestamp is more than {tolerance_s} s away")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("the signature does not match the body")
    return timestamp
