"""Store fixtures: a fresh store on SQLite, and on PostgreSQL too when a server is given.

Set `RISKLOOP_TEST_PG_URL` to an admin URL of a running PostgreSQL server (for example
`postgresql+psycopg://postgres@127.0.0.1:55432/postgres`), or to `auto` to have the session
start a private server from the Debian package's binaries (/usr/lib/postgresql/*/bin) on a free
loopback port; every store test then also runs against a fresh database created for it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from serving.store import WarningStore
from tests.processes import PrivatePostgres

PG_URL_ENV = "RISKLOOP_TEST_PG_URL"
SECRET = "test-pseudonym-secret"
BACKENDS = ["sqlite", "postgresql"] if os.environ.get(PG_URL_ENV) else ["sqlite"]


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """The PostgreSQL admin URL: the one given, or a private server started for the session."""
    given = os.environ[PG_URL_ENV]
    if given != "auto":
        yield given
        return
    server = PrivatePostgres()
    try:
        yield server.admin_url
    finally:
        server.remove()


@contextmanager
def _pg_database(admin_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of `template` when given) for the block; its URL."""
    admin = make_url(admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    copied = f' TEMPLATE "{template}"' if template else ""
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copied}'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a temp SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with _pg_database(request.getfixturevalue("pg_admin_url"), "riskloop_test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once per session, copied for each test that wants a migrated
    store (the migrations run on an empty file in the tests of `store_url`)."""
    path = tmp_path_factory.mktemp("store-template") / "store.db"
    WarningStore(f"sqlite:///{path}", SECRET).close()
    _forget_key_check(f"sqlite:///{path}")
    return path


def _forget_key_check(url: str) -> None:
    """A template's copies are opened under several test keys: each takes its first opener's
    key, as a store made before the check does (`serving.store.key_check.hold_key_check`)."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM key_checks"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    """A PostgreSQL database migrated once per session, the template of each test's database
    that wants a migrated store (`CREATE DATABASE ... TEMPLATE`); its name."""
    with _pg_database(pg_admin_url, "riskloop_template") as url:
        WarningStore(url, SECRET).close()
        _forget_key_check(url)
        yield str(make_url(url).database)


@pytest.fixture(params=BACKENDS)
def migrated_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a migrated database no test has written to: a copy of the session's template
    (the migrations, tens of milliseconds a database, run once per backend)."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    admin_url = request.getfixturevalue("pg_admin_url")
    with _pg_database(admin_url, "riskloop_test", template) as url:
        yield url


@pytest.fixture()
def store(migrated_store_url: str) -> Iterator[WarningStore]:
    """A migrated, empty store."""
    with WarningStore(migrated_store_url, SECRET) as opened:
        yield opened


def _scored(entity_id: str, score: float, level: str, **extra: object) -> dict[str, object]:
    return {
        "entity_id": entity_id,
        "score": score,
        "risk_level": level,
        "reasons": [
            {
                "feature": "si_arrears_months_6m",
                "label": "unpaid social-insurance months in the last 6",
                "value": 3,
                "contribution": 0.8,
                "direction": "raises",
                "actionable": True,
                "sentence": "3 unpaid social-insurance months in the last 6 (raises risk)",
            }
        ],
        "actions": [{"department": "labour inspection", "text": "Visit the employer."}],
        "features": {"si_arrears_months_6m": 3, "sector": "construction", "score_hint": score},
        **extra,
    }


@pytest.fixture()
def scored() -> Callable[..., dict[str, object]]:
    """Builds one scored record as the service hands it to `record_scores`."""
    return _scored
