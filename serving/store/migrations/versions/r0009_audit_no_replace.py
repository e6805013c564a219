"""SQLite refuses an insert over an existing audit row (`INSERT OR REPLACE`, `REPLACE INTO`).

r0001's triggers refuse UPDATE and DELETE, but SQLite's REPLACE removes the row it conflicts
with without firing DELETE triggers (unless `recursive_triggers` is on, which riskloop never
sets), so `INSERT OR REPLACE INTO audit_log ... id = 5` rewrote row 5. A BEFORE INSERT trigger
now aborts any insert whose id is already taken, with the same message as UPDATE's. An upsert
(`ON CONFLICT (id) DO UPDATE`) is refused by it too, and on PostgreSQL by the BEFORE UPDATE
trigger r0001 made (PostgreSQL has no REPLACE), so PostgreSQL needs nothing new.

Revision ID: r0009_audit_no_replace
Revises: r0008_key_check
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "r0009_audit_no_replace"
down_revision = "r0008_key_check"
branch_labels = None
depends_on = None

_APPEND_ONLY_MESSAGE = "audit_log is append-only"


def upgrade() -> None:
    """On SQLite, refuse an insert whose id names a row already in `audit_log`."""
    if op.get_bind().dialect.name != "sqlite":
        return
    # the id is the rowid: the lookup is one step down the table's own b-tree
    op.execute(
        f"""
        CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
        WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END
        """
    )


def downgrade() -> None:
    """Drop what `upgrade` added."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_replace")
