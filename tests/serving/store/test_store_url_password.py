"""A store URL's password reaches PostgreSQL intact and never reaches an error line.

A percent-encoded password (`%2F`, as a URL needs for `/ ? # @ %`) crashed every command and
the service with a traceback printing the whole URL: Alembic reads its options with
configparser's interpolation. A `?password=` in the query was printed in clear, and an
unencoded `@` in the password showed the half after it. An unencoded `@` followed by `:` showed
part of the password in SQLAlchemy's parser message (`invalid literal for int()`), and a password
holding a space (which SQLAlchemy reads and the server takes) was printed in clear.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from models.settings import get_settings
from serving.store import StoreUnavailable, WarningStore
from tests.processes import PrivatePostgres, free_port
from tests.secrets_files import write_secrets_file
from training.cli import app

# the module's stores live in one database, opened by the tests and by the CLI: one pseudonym
# key for all of them (the store refuses another, `serving.store.key_check.hold_key_check`)
SECRET = "test-pseudonym-secret-of-the-pw-module"
ROLE = "rl_pct"
PASSWORD = "Sup3r%/S3cret@PW#?x"  # every character a URL's password must percent-encode
SPACED_ROLE = "rl_space"
SPACED_PASSWORD = "my S3cret pw"  # works unencoded: a space ends no part of a URL


@pytest.fixture(scope="module")
def checked_server() -> Iterator[PrivatePostgres]:
    """A private server that checks `ROLE`'s password (the session's trusts every role)."""
    server = PrivatePostgres(prefix="riskloop-pw-pg-")
    try:
        admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            # DDL takes no bound parameter; the password holds no quote
            for role, password in [(ROLE, PASSWORD), (SPACED_ROLE, SPACED_PASSWORD)]:
                connection.execute(
                    text(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{password}'")
                )
        admin.dispose()
        hba = server.folder / "data" / "pg_hba.conf"  # rewritten in place: its owner stays
        checked = "".join(
            f"host all {role} 127.0.0.1/32 scram-sha-256\n" for role in (ROLE, SPACED_ROLE)
        )
        hba.write_text(checked + hba.read_text())
        server.stop()
        server.start()
        yield server
    finally:
        server.remove()


def _url(server: PrivatePostgres, password: str) -> str:
    return (
        f"postgresql+psycopg://{ROLE}:{quote(password, safe='')}@127.0.0.1:{server.port}/postgres"
    )


def test_a_percent_encoded_password_reaches_the_server(checked_server: PrivatePostgres) -> None:
    with WarningStore(_url(checked_server, PASSWORD), SECRET) as store:
        assert store.engine.url.password == PASSWORD
        with store.engine.connect() as connection:
            assert connection.execute(text("SELECT current_user")).scalar() == ROLE
    wrong = "Wr0ng%/S3cret@PW"
    with pytest.raises(StoreUnavailable) as refused:
        WarningStore(_url(checked_server, wrong), SECRET)
    assert "password authentication failed" in str(refused.value)
    assert "Wr0ng" not in str(refused.value) and "S3cret" not in str(refused.value)


def _one_error_line(args: list[str], *expected: str) -> str:
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2, done.output
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and all(part in line for part in expected), line
    return line


def test_the_cli_opens_such_a_store_and_never_prints_a_password(
    checked_server: PrivatePostgres, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", SECRET)
    write_secrets_file(isolated_env / "riskloop-secrets.json")  # the store came first
    monkeypatch.setenv("RISKLOOP_STORE_URL", _url(checked_server, PASSWORD))
    get_settings.cache_clear()
    upgraded = CliRunner().invoke(app, ["store", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    listed = CliRunner().invoke(app, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert "S3cret" not in upgraded.output + listed.output
    # the password as a query value: `store upgrade` names the store with it masked
    in_query = (
        f"postgresql+psycopg://{ROLE}@127.0.0.1:{checked_server.port}/postgres"
        f"?password={quote(PASSWORD, safe='')}"
    )
    monkeypatch.setenv("RISKLOOP_STORE_URL", in_query)
    get_settings.cache_clear()
    upgraded = CliRunner().invoke(app, ["store", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "?password=***" in upgraded.output and "S3cret" not in upgraded.output
    closed = free_port()
    shown = f"postgresql+psycopg://127.0.0.1:{closed}/riskloop?password=***"
    for url, expected in [
        (f"postgresql+psycopg://rl:Sup3r%2FS3cretPW@127.0.0.1:{closed}/riskloop", "rl:***@"),
        (f"postgresql+psycopg://127.0.0.1:{closed}/riskloop?password=S3cretPW", shown),
        (f"postgresql+psycopg://rl:Sup3r@S3cretPW@127.0.0.1:{closed}/riskloop", "unencoded @"),
    ]:
        monkeypatch.setenv("RISKLOOP_STORE_URL", url)
        get_settings.cache_clear()
        line = _one_error_line(["users", "list"], "RISKLOOP_STORE_URL", expected)
        assert not re.search("S3cret|Sup3r", line), line
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://rl:Sup3r@2:S3cret99@127.0.0.1:{port}/rl",  # the rest reads as a port
        "postgresql+psycopg://rl:Sup3r%25/x@y:S3c#q?1@127.0.0.1:{port}/rl",
    ],
)
@pytest.mark.parametrize(
    "args", [["users", "list"], ["store", "upgrade"], ["audit", "--actor", "someone"]]
)
def test_an_unreadable_url_is_refused_without_quoting_it(
    url: str, args: list[str], isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_STORE_URL", url.format(port=free_port()))
    get_settings.cache_clear()
    line = _one_error_line(
        args, "RISKLOOP_STORE_URL", "rl:***@", "its password holds an unencoded @"
    )
    assert not re.search("S3c|Sup3r|int\\(", line), line
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "url",
    [
        # an @ then a / in the password: read as host `Pw` and a path, the driver saying
        # "failed to resolve host 'Pw'" and the message showing `Pw/1@...` (QA round 60)
        "postgresql+psycopg://rl:S3cret@Pw/1@127.0.0.1:{port}/rl",
        "postgresql+psycopg://rl:S3cret@Pw?1@127.0.0.1:{port}/rl",  # an @, then a ?
    ],
)
def test_a_password_running_past_its_host_is_refused_without_quoting_it(
    url: str, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_STORE_URL", url.format(port=free_port()))
    get_settings.cache_clear()
    line = _one_error_line(
        ["users", "list"], "RISKLOOP_STORE_URL", "rl:***@", "its password holds an unencoded @"
    )
    assert not re.search("S3c|Sup3r|Pw", line), line
    get_settings.cache_clear()


def test_a_postgres_scheme_is_named_with_the_one_to_write(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`postgres://` (libpq's spelling) gave SQLAlchemy's "Can't load plugin:
    sqlalchemy.dialects:postgres", with no word of what to write instead."""
    monkeypatch.setenv("RISKLOOP_STORE_URL", f"postgres://rl:S3cret@127.0.0.1:{free_port()}/rl")
    get_settings.cache_clear()
    line = _one_error_line(["users", "list"], "rl:***@", "write postgresql+psycopg://")
    assert "S3cret" not in line and "plugin" not in line
    get_settings.cache_clear()


def test_a_password_with_spaces_works_and_is_never_printed(
    checked_server: PrivatePostgres, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+psycopg://{SPACED_ROLE}:{{}}@127.0.0.1:{checked_server.port}/postgres"
    monkeypatch.setenv("RISKLOOP_PSEUDONYM_SECRET", SECRET)
    write_secrets_file(isolated_env / "riskloop-secrets.json")  # the store came first
    monkeypatch.setenv("RISKLOOP_STORE_URL", url.format(SPACED_PASSWORD))
    get_settings.cache_clear()
    upgraded = CliRunner().invoke(app, ["store", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"{SPACED_ROLE}:***@127.0.0.1" in upgraded.output
    assert "S3cret" not in upgraded.output
    monkeypatch.setenv("RISKLOOP_STORE_URL", url.format("my Wr0ng pw"))
    get_settings.cache_clear()
    line = _one_error_line(["users", "list"], "password authentication failed", "rl_space:***@")
    assert "Wr0ng" not in line, line
    get_settings.cache_clear()
