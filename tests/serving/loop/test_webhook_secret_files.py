"""A department's signing secret file is held to riskloop's own rule (owner-only), a guessable
secret is refused, and a token in the URL never reaches a command's output."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from models.settings import get_settings
from serving.webhook_secrets import WebhookSecretError, check_secret
from tests.serving.loop.receiver import Receiver
from training.cli import app

TOKEN = "tok-5f0c0e2a9c8b"
PASSWORD = "pw-77a1c3"


@pytest.fixture()
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISKLOOP_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("RISKLOOP_WEBHOOK_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("RISKLOOP_PUBLIC_URL", "https://riskloop.example.gov")
    get_settings.cache_clear()
    assert _run(["store", "upgrade"]).exit_code == 0  # a deployment's store, still empty
    yield tmp_path
    get_settings.cache_clear()


def _run(args: list[str]) -> Result:
    return CliRunner().invoke(app, args)


def _secret_file(folder: Path, text: str, mode: int) -> Path:
    path = folder / "petition.secret"
    path.write_text(text + "\n", encoding="utf-8")
    os.chmod(path, mode)
    return path


def _refused(result: Result, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert all(text in line for text in expected), line
    assert "0 webhook(s)" in _run(["departments", "webhooks"]).stdout  # nothing was set


@pytest.mark.parametrize(
    "weak",
    ["a" * 30, "ab" * 15, "qwerty" * 5, "Aa1!" * 8, "123456789" * 3, "0123456789abcdef" * 2],
)
def test_a_repeated_pattern_is_refused(weak: str) -> None:
    with pytest.raises(WebhookSecretError, match="repeats one pattern"):
        check_secret(weak)


def test_a_secret_of_few_different_characters_is_refused() -> None:
    with pytest.raises(WebhookSecretError, match="only 5 different characters"):
        check_secret("abcde" * 5 + "edcba")


def test_generated_and_hex_secrets_pass() -> None:
    """Random secrets always pass: a floor of ten different characters refused one of 32 hex
    digits (`f0e209d791ffd3771333e90d7f131d00` shows nine) about once in 14,000 draws."""
    assert check_secret("f0e209d791ffd3771333e90d7f131d00")
    for _ in range(2000):
        assert check_secret(secrets.token_urlsafe(32))
        assert check_secret(secrets.token_hex(16))
        assert check_secret(secrets.token_hex(12))


def test_a_secret_file_others_may_read_or_a_weak_secret_sets_no_webhook(cli_env: Path) -> None:
    url = f"http://127.0.0.1:3164/hook/petition?token={TOKEN}"
    readable = _secret_file(cli_env, secrets.token_urlsafe(32), 0o644)
    args = ["departments", "set-webhook", "petition", url, "--secret-file", str(readable)]
    _refused(_run(args), "readable by group or others", "chmod 600", "no webhook was set")
    os.chmod(readable, 0o600)
    readable.write_text("x" * 30 + "\n", encoding="utf-8")
    _refused(_run(args), "repeats one pattern", "no webhook was set")


def test_a_token_in_the_url_is_masked_in_every_output(cli_env: Path) -> None:
    secret = secrets.token_urlsafe(32)
    secret_file = _secret_file(cli_env, secret, 0o600)
    with Receiver(secret) as receiver:
        url = receiver.url.replace("http://", f"http://dept:{PASSWORD}@") + f"?token={TOKEN}"
        out = _run(
            ["departments", "set-webhook", "petition", url, "--secret-file", str(secret_file)]
        )
        assert out.exit_code == 0, out.output
        listing = _run(["departments", "webhooks"])
        ping = _run(["departments", "ping", "petition"])
        assert ping.exit_code == 0, ping.output
        receiver.always = 503
        failed = _run(["departments", "ping", "petition"])
        assert failed.exit_code == 2
    shown = receiver.url.replace("http://", "http://***@") + "?token=***"
    assert f"petition: webhook {shown}; signing secret read from" in out.stdout
    assert f"petition\t{shown}" in listing.stdout
    assert f"{shown} answered HTTP 200" in ping.stdout
    assert f"{shown} answered HTTP 503" in failed.stderr
    for result in (out, listing, ping, failed):
        text = result.stdout + result.stderr
        assert TOKEN not in text and PASSWORD not in text and secret not in text
    bad = _run(
        [
            "departments",
            "set-webhook",
            "petition",
            f"ftp://h/x?token={TOKEN}",
            "--secret-file",
            str(secret_file),
        ]
    )
    assert bad.exit_code == 2 and TOKEN not in bad.stderr and "token=***" in bad.stderr
