"""The receivers' helper: signatures made by `sign` verify, anything altered or stale does not,
and the module imports only the standard library so a receiving system can copy it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from serving import webhooks
from serving.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, SignatureError, sign, verify

SECRET = "department-signing-secret-0123456789"
BODY = b'{"event_id":"E-1","type":"warning.raised"}'
NOW = 1_800_000_000


def _headers(value: str) -> dict[str, str]:
    return {SIGNATURE_HEADER: value, EVENT_ID_HEADER: "E-1"}


def test_a_signed_body_verifies_with_any_header_case() -> None:
    value = sign(SECRET, BODY, timestamp=NOW)
    assert value.startswith(f"t={NOW},v1=")
    assert verify(SECRET, _headers(value), BODY, now=NOW + 10) == NOW
    assert verify(SECRET, {"x-riskloop-signature": value}, BODY, now=NOW) == NOW


@pytest.mark.parametrize(
    ("secret", "body", "now", "message"),
    [
        ("another-secret-0123456789abcdef", BODY, NOW, "does not match"),
        (SECRET, BODY + b" ", NOW, "does not match"),
        (SECRET, BODY, NOW + 301, "more than 300 s"),
        (SECRET, BODY, NOW - 301, "more than 300 s"),
    ],
)
def test_wrong_secret_altered_body_or_stale_timestamp_is_refused(
    secret: str, body: bytes, now: int, message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(secret, _headers(sign(SECRET, BODY, timestamp=NOW)), body, now=now)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing"),
        (_headers("v1=abc"), "must look like"),
        (_headers(f"t={NOW}"), "must look like"),
        (_headers("t=soon,v1=abc"), "not an integer"),
    ],
)
def test_malformed_headers_are_refused(headers: dict[str, str], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(SECRET, headers, BODY, now=NOW)


def test_a_replayed_signature_with_a_new_timestamp_fails() -> None:
    """The timestamp is inside the signed text: moving it breaks the signature."""
    value = sign(SECRET, BODY, timestamp=NOW)
    forged = value.replace(f"t={NOW}", f"t={NOW + 1000}")
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, _headers(forged), BODY, now=NOW + 1000)


def test_the_helper_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(webhooks.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported
