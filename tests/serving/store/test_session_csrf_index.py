"""A console form sent without its session cookie names its session by the CSRF token alone
(`ConsoleSessions.drawn_under`): the lookup is by an index, on both databases, instead of a
scan of every session ever signed in."""

from __future__ import annotations

from sqlalchemy import inspect

from serving.store import WarningStore


def test_console_sessions_are_indexed_by_csrf_token(store: WarningStore) -> None:
    indexes = inspect(store.engine).get_indexes("console_sessions")
    assert ["csrf"] in [index["column_names"] for index in indexes], indexes
