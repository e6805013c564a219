"""Scale-out fixtures: a Dask cluster, and a private PostgreSQL server when one is asked for.

Set `RISKLOOP_TEST_PG_URL` to an admin URL of a running PostgreSQL server, or to `auto` to start
a private one from the Debian package's binaries on a free loopback port (as the store tests
do); without it the shared-database tests run on SQLite files.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.processes import PrivatePostgres

PG_URL_ENV = "RISKLOOP_TEST_PG_URL"


@pytest.fixture(scope="session")
def scale_pg_admin_url() -> Iterator[str | None]:
    """The PostgreSQL admin URL (given, or a private server for the session); None if unset."""
    given = os.environ.get(PG_URL_ENV)
    if not given:
        yield None
        return
    if given != "auto":
        yield given
        return
    server = PrivatePostgres(prefix="riskloop-scale-pg-")
    try:
        yield server.admin_url
    finally:
        server.remove()


@pytest.fixture()
def new_shared_db(scale_pg_admin_url: str | None, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes empty databases several processes can share: new PostgreSQL databases, or SQLite
    files; dropped when the test ends."""
    if scale_pg_admin_url is None:
        files = itertools.count()
        yield lambda: f"sqlite:///{tmp_path / f'shared-{next(files)}.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(scale_pg_admin_url)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def make() -> str:
        name = f"riskloop_scale_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return admin_url.set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def shared_db_url(new_shared_db: Callable[[], str]) -> str:
    """An empty database several processes can share: a new PostgreSQL database, or SQLite."""
    return new_shared_db()
