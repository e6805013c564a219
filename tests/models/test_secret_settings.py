"""Secrets in settings: every URL secret masked where riskloop prints a URL, and a pseudonym
key nobody guesses.

`hide_password` masked only `user:password@`: a `?password=` or `?token=` was printed in clear
(and `riskloop bundle` printed such a store URL on its serve line), an unencoded `@` in the
password showed the half after it, a password holding a space was printed in clear (URL text
ended at the space), and RISKLOOP_PSEUDONYM_SECRET took `x`, a space or nothing
(an empty one: a traceback from every store command).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.secret_keys import load_secrets
from models.settings import get_settings, hide_password, weak_secret
from tests.processes import free_port
from training.cli import app
from training.commands.scale import serve_instructions


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:pw@db:5432/x", "postgresql+psycopg://u:***@db:5432/x"),
        (
            "postgresql+psycopg://127.0.0.1:1/riskloop?password=Sup3rS3cretPW",
            "postgresql+psycopg://127.0.0.1:1/riskloop?password=***",
        ),
        ("http://127.0.0.1:1/?token=MLTOKENSECRET", "http://127.0.0.1:1/?token=***"),
        (
            "postgresql+psycopg://rl:Sup3r@S3cretPW@127.0.0.1/riskloop",
            "postgresql+psycopg://rl:***@127.0.0.1/riskloop",
        ),
        (
            "postgresql://rl:pa/ss@db/x?sslmode=require&SSLPassword=a&PWD=b&api_key=c&Access_Token=d",
            "postgresql://rl:***@db/x?sslmode=require&SSLPassword=***&PWD=***&api_key=***"
            "&Access_Token=***",
        ),
        ("https://h/x?passwd=a;secret=b&apikey=c", "https://h/x?passwd=***;secret=***&apikey=***"),
        ("http://u:p@host/path/a@b?x=1", "http://u:***@host/path/a@b?x=1"),
        # a database's URL: an @ past the host ends the password (read as host `pw`)
        ("postgresql://rl:Secret@pw/1@h:5/rl", "postgresql://rl:***@h:5/rl"),
        ("postgresql://rl:Secret@pw?1@h:5/rl", "postgresql://rl:***@h:5/rl"),
        ("postgresql://rs:my secret pw@h:1/x", "postgresql://rs:***@h:1/x"),
        ("postgresql://rs:12 34@h/x", "postgresql://rs:***@h/x"),  # a whole URL: no port
        ("postgresql://rl:hunter@2:Secret99@h:1/rl", "postgresql://rl:***@h:1/rl"),
        ("postgresql://rl:Pw%25/x@y:z#q?1@h:1/rl", "postgresql://rl:***@h:1/rl"),
        ("postgresql://h/x?password=my pw&sslmode=a", "postgresql://h/x?password=***&sslmode=a"),
        # in other text (a log line) a URL with a spaced password ends at its host
        (
            "store postgresql://rs:my secret@h/x is down; ask ops@city.gov",
            "store postgresql://rs:***@h/x is down; ask ops@city.gov",
        ),
        (
            "http://mlflow:5000 is down; ask ops@city.gov, db postgresql://u:p w@h/x",
            "http://mlflow:5000 is down; ask ops@city.gov, db postgresql://u:***@h/x",
        ),
    ],
)
def test_every_secret_in_a_url_is_masked(url: str, shown: str) -> None:
    assert hide_password(url) == shown


def test_what_is_no_secret_stays() -> None:
    for unchanged in (
        "http://mlflow:5000/a@b",
        "http://[::1]:5000/a@b",
        "sqlite:////srv/x.db",
        "sqlite:////srv/My Documents/x.db",
        "see http://mlflow:5000/x or mail ops@city.gov",
        "a:b c@d, no URL",
        "postgresql://u@db/x?sslmode=require&connect_timeout=5",
        "bad",
    ):
        assert hide_password(unchanged) == unchanged


@pytest.fixture()
def here(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield isolated_env
    monkeypatch.undo()
    get_settings.cache_clear()


def test_bundle_reads_a_query_password_from_the_shell(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://127.0.0.1:32001/riskloop?password=Sup3rS3cretPW"
    monkeypatch.setenv("RISKLOOP_STORE_URL", url)
    get_settings.cache_clear()
    printed = "\n".join(serve_instructions("riskloop:abc123"))
    assert "Sup3rS3cretPW" not in printed, printed
    assert 'RISKLOOP_STORE_URL="$RISKLOOP_STORE_URL"' in printed
    assert "riskloop?password=***) there first" in printed


def test_bundle_reads_a_password_with_spaces_from_the_shell(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_STORE_URL", "postgresql+psycopg://rs:my S3cret pw@db:5432/rl")
    get_settings.cache_clear()
    printed = "\n".join(serve_instructions("riskloop:abc123"))
    assert "S3cret" not in printed, printed
    assert 'RISKLOOP_STORE_URL="$RISKLOOP_STORE_URL"' in printed
    assert "(postgresql+psycopg://rs:***@db:5432/rl) there first" in printed


def test_an_mlflow_token_is_not_printed(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", f"http://127.0.0.1:{free_port()}/?token=MLTOKEN")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    get_settings.cache_clear()
    done = CliRunner().invoke(app, ["models"])
    assert done.exit_code != 0
    assert "?token=***" in done.stderr and "MLTOKEN" not in done.output, done.output


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://rl:Sup3r@2:S3cret99@127.0.0.1:1/rl",  # the parser quoted 'S3cret99@...'
        "postgresql+psycopg://rl:Pa@S3cret99@127.0.0.1:1/rl",  # the driver: host 'S3cret99@...'
    ],
)
def test_an_mlflow_database_url_with_an_unencoded_at_is_refused_in_one_line(
    here: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """As the warnings store's URL is: before anything connects, nothing of the password."""
    monkeypatch.setenv("RISKLOOP_MLFLOW_URI", url)
    get_settings.cache_clear()
    done = CliRunner().invoke(app, ["models"])
    assert done.exit_code == 2, done.output
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "its password holds an unencoded @" in line, line
    assert "S3cret" not in done.output and "Sup3r" not in done.output, done.output


def test_an_unreadable_url_without_a_password_is_not_blamed_on_one() -> None:
    from models.settings import database_url_problem

    assert database_url_problem("postgresql+psycopg://rl:pw@127.0.0.1:5432/rl") is None
    typo = database_url_problem("postgresql+psycopg://127.0.0.1:54x2/rl")
    assert typo is not None and "percent-encode" not in typo, typo
    assert "unencoded @" in str(database_url_problem("postgresql+psycopg://a:b@c@h:1/d"))


@pytest.mark.parametrize(
    "weak", ["x", " ", "", "a" * 40, "0123456789" * 3, "s3cret pseudonym key 2026"]
)
def test_a_weak_pseudonym_key_is_refused_in_one_line(
    weak: str, here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", weak)
    get_settings.cache_clear()
    for args in (["users", "list"], ["serve", "--port", str(free_port())]):
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 2, done.output
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("error: invalid setting RISKLOOP_PSEUDONYM_SECRET: "), line
        assert "pseudonym key" in line and "openssl rand -hex 32" in line, line


def test_strong_and_generated_keys_pass(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert CliRunner().invoke(app, ["store", "upgrade"]).exit_code == 0
    generated = load_secrets().pseudonym_secret  # the secrets file's, made by riskloop
    for n, key in enumerate((generated, secrets.token_urlsafe(32), secrets.token_hex(16))):
        assert weak_secret(key, "pseudonym key") is None
        monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", key)
        # a store of each key's own: a store refuses a key other than the one it was made with
        monkeypatch.setenv("RISKLOOP_STORE_URL", f"sqlite:///{here / f'store-{n}.db'}")
        get_settings.cache_clear()
        assert load_secrets().pseudonym_secret == key
        assert CliRunner().invoke(app, ["store", "upgrade"]).exit_code == 0
        listed = CliRunner().invoke(app, ["users", "list"])
        assert listed.exit_code == 0, listed.output


def test_a_refused_setting_is_never_repeated_in_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic's error (the traceback a bare `bentoml serve` prints on its first request)
    names the variable and the rule, never the value: a weak secret stays out of the log."""
    from pydantic import ValidationError

    monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", "weak-but-private-secret")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValidationError) as refused:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert "pseudonym_secret" in str(refused.value)
    assert "weak-but-private-secret" not in str(refused.value)
