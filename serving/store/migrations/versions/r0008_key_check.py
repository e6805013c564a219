"""The store keeps a check of the pseudonym key it was made with.

A store whose secrets file was lost (or a machine with another `RISKLOOP_PSEUDONYM_SECRET`)
made pseudonyms under a new key without a word: new scores, warnings and outcomes no longer
met the old ones. The check is an HMAC of a fixed text under the key (never the key); a store
opened under another key is refused (`serving.store.repository.WarningStore`). A store made
before this revision takes the key it is next opened with.

Revision ID: r0008_key_check
Revises: r0007_session_csrf_index
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0008_key_check"
down_revision = "r0007_session_csrf_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `key_checks` (empty: the next opening writes the check)."""
    op.create_table(
        "key_checks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("check_value", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_key_checks")),
    )


def downgrade() -> None:
    """Drop what `upgrade` added."""
    op.drop_table("key_checks")
