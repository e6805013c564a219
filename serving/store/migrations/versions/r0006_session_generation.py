"""Accounts gain `session_generation`: a disable ends every session for good.

A person's API session token carries the account's credential stamp, which was a digest of the
password hash alone: disabling refused the token, and enabling the account again let the same
token back in. The generation goes up at each disable and is part of the stamp, so tokens (and
console sessions, ended in the same transaction) signed in before a disable stay ended.

Revision ID: r0006_session_generation
Revises: r0005_district
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0006_session_generation"
down_revision = "r0005_district"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `session_generation`, 0 for every account (their tokens stay valid: at 0 the stamp
    is what it was)."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    """Drop what `upgrade` added."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
