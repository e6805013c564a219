"""The audit log stays append-only against inserts over a row, and keeps a disposition's note.

Before: r0001's SQLite triggers refused UPDATE and DELETE, but `INSERT OR REPLACE` (or
`REPLACE INTO`) removes the row it conflicts with without firing DELETE triggers, so anyone
with the database file could rewrite an audit row's actor. Revision r0009 refuses an insert
over an existing id on SQLite; PostgreSQL's upsert is refused by r0001's UPDATE trigger.
And a disposition's audit row held no note: why a case was sent back or closed was in the
history only. It now holds the note as the history does (scrubbed, never a raw id).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from serving.store import WarningStore
from serving.store.identity import EntityCipher
from tests.migrations import upgrade_to

SECRET = "test-pseudonym-secret"
COLUMNS = "id, at, actor, action, task, model_version, detail"
FORGE = "SELECT id, at, 'user:forged', action, task, model_version, detail FROM audit_log"
# every way to write over row 1 through an insert, per backend
OVERWRITES = {
    "sqlite": [
        f"INSERT OR REPLACE INTO audit_log ({COLUMNS}) {FORGE} WHERE id = 1",
        f"REPLACE INTO audit_log ({COLUMNS}) {FORGE} WHERE id = 1",
        f"INSERT INTO audit_log ({COLUMNS}) {FORGE} WHERE id = 1 "
        "ON CONFLICT (id) DO UPDATE SET actor = excluded.actor",
    ],
    "postgresql": [
        f"INSERT INTO audit_log ({COLUMNS}) {FORGE} WHERE id = 1 "
        "ON CONFLICT (id) DO UPDATE SET actor = EXCLUDED.actor",
    ],
}


def _driver_connection(url: str) -> Any:
    """A plain DB-API connection (sqlite3 or psycopg), outside riskloop and SQLAlchemy."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return sqlite3.connect(str(parsed.database))
    return psycopg.connect(parsed.set(drivername="postgresql").render_as_string(False))


def _rows(url: str) -> list[tuple[Any, ...]]:
    with closing(_driver_connection(url)) as connection:
        return list(connection.execute(f"SELECT {COLUMNS} FROM audit_log ORDER BY id"))


def _assert_overwrites_refused(url: str) -> None:
    """Each overwrite of row 1 fails with the append-only message and leaves every row as it was."""
    before = _rows(url)
    assert before, "the store must hold audit rows to overwrite"
    for statement in OVERWRITES[make_url(url).get_backend_name()]:
        with closing(_driver_connection(url)) as connection:
            with pytest.raises(Exception, match="audit_log is append-only"):
                connection.execute(statement)
                connection.commit()
            connection.rollback()
        assert _rows(url) == before, statement


@pytest.fixture()
def cipher_store(migrated_store_url: str) -> Iterator[WarningStore]:
    """A migrated store that keeps each warning's id encrypted (a note can name the case)."""
    with WarningStore(
        migrated_store_url, SECRET, EntityCipher({"k-1": bytes(range(32))}, "k-1")
    ) as opened:
        yield opened


def test_an_insert_over_an_audit_row_is_refused_and_new_rows_still_go_in(
    store: WarningStore, migrated_store_url: str
) -> None:
    store.audit(actor="admin", action="model_reload", task="wage-arrears", model_version="1")
    store.audit(actor="cli:ops", action="model_promotion", detail={"decision": "first"})
    _assert_overwrites_refused(migrated_store_url)
    store.audit(actor="admin", action="model_reload", task="wage-arrears", model_version="2")
    assert [row["actor"] for row in store.audit_rows()] == ["admin", "cli:ops", "admin"]


def test_a_store_made_at_r0008_with_rows_upgrades_and_refuses_overwrites(store_url: str) -> None:
    upgrade_to(store_url, "r0008_key_check")
    engine = create_engine(store_url)
    with engine.begin() as connection:
        for actor in ("admin", "user:alice"):
            connection.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, detail) "
                    "VALUES (CURRENT_TIMESTAMP, :actor, 'model_reload', '{}')"
                ),
                {"actor": actor},
            )
    engine.dispose()
    before = _rows(store_url)

    with WarningStore(store_url, SECRET) as store:  # upgrades to head
        assert _rows(store_url) == before
        _assert_overwrites_refused(store_url)
        store.audit(actor="admin", action="model_reload")
        assert [row["actor"] for row in store.audit_rows()] == ["admin", "user:alice", "admin"]


def test_a_disposition_audit_row_keeps_its_note_scrubbed_as_the_history_does(
    cipher_store: WarningStore, scored: Callable[..., dict[str, object]]
) -> None:
    (warning_id,) = cipher_store.record_scores(
        actor="scorer",
        task="wage-arrears",
        model_name="m",
        model_version="1",
        results=[scored("EMP-0042", 0.9, "red")],
    )
    cipher_store.add_feedback(
        warning_id,
        actor="user:sup",
        status="dispatched",
        department="labour",
        outcome=None,
        note=None,
    )
    note = "EMP-0042 is not ours; the owner's phone 138 1234 5678 is off"
    history = cipher_store.send_back(warning_id, actor="user:officer", note=note)["history"]

    kept = history[-1]["note"]
    assert "1234" not in kept and "EMP-0042" not in kept and kept.count("[id:") == 2
    dispositions = [
        row["detail"]
        for row in cipher_store.audit_rows(warning_id=warning_id)
        if row["action"] == "disposition"
    ]
    assert "note" not in dispositions[0]  # a step without a note has none
    assert dispositions[1]["note"] == kept
    assert (dispositions[1]["from"], dispositions[1]["to"]) == ("dispatched", "open")
