"""Alembic environment: runs on the connection `WarningStore` hands over (no alembic.ini).

`WarningStore` opens one connection, takes a lock (a write transaction on SQLite, an advisory
lock on PostgreSQL) so concurrent service workers migrate once, and passes it here through
`config.attributes["connection"]`. Given only a URL (`sqlalchemy.url`), it opens its own.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from models.settings import postgres_connect_args
from serving.store.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the caller's connection, or one opened from `sqlalchemy.url`."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url set")
    engine = create_engine(url, connect_args=postgres_connect_args(url))
    with engine.begin() as own_connection:
        _run(own_connection)
    engine.dispose()


run_migrations_online()
