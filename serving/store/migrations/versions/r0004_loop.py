"""The loop: response deadlines on warnings, the notification outbox, department webhooks.

Revision ID: r0004_loop
Revises: r0003_console
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0004_loop"
down_revision = "r0003_console"
branch_labels = None
depends_on = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add `due_at`/`overdue_noted_at` to warnings; create `outbox` and `department_webhooks`."""
    with op.batch_alter_table("warnings") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("overdue_noted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_warnings_due_at", "warnings", ["due_at"])

    op.create_table(
        "outbox",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("warning_id", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index("ix_outbox_department", "outbox", ["department"])
    op.create_index("ix_outbox_warning_id", "outbox", ["warning_id"])
    op.create_index(
        "ix_outbox_delivered_at_dead_at_next_attempt_at",
        "outbox",
        ["delivered_at", "dead_at", "next_attempt_at"],
    )

    op.create_table(
        "department_webhooks",
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("department", name="pk_department_webhooks"),
    )


def downgrade() -> None:
    """Drop what `upgrade` added."""
    op.drop_table("department_webhooks")
    op.drop_index("ix_outbox_delivered_at_dead_at_next_attempt_at", table_name="outbox")
    op.drop_index("ix_outbox_warning_id", table_name="outbox")
    op.drop_index("ix_outbox_department", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_warnings_due_at", table_name="warnings")
    with op.batch_alter_table("warnings") as batch:
        batch.drop_column("overdue_noted_at")
        batch.drop_column("due_at")
