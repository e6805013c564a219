"""People: departments and users; warnings gain `version` and the encrypted entity id.

Revision ID: r0002_people
Revises: r0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0002_people"
down_revision = "r0001"
branch_labels = None
depends_on = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create departments and users; add version, entity_cipher and key_id to warnings.

    The departments' rows are not seeded here: `WarningStore` brings them in line with
    `models.departments` at every start, so a renamed department needs no migration.
    """
    op.create_table(
        "departments",
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("tasks", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_departments"),
    )
    op.create_table(
        "users",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("department", sa.String(40), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lang", sa.String(2), server_default="zh", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
        sa.ForeignKeyConstraint(
            ["department"],
            ["departments.code"],
            name="fk_users_department_departments",
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint(
            "role IN ('officer', 'supervisor', 'auditor', 'admin')", name="ck_users_role"
        ),
        sa.CheckConstraint("lang IN ('zh', 'en')", name="ck_users_lang"),
    )
    with op.batch_alter_table("warnings") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("entity_cipher", sa.Text(), nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(40), nullable=True))


def downgrade() -> None:
    """Drop what `upgrade` added (a development aid: the product never downgrades)."""
    with op.batch_alter_table("warnings") as batch:
        batch.drop_column("key_id")
        batch.drop_column("entity_cipher")
        batch.drop_column("version")
    op.drop_table("users")
    op.drop_table("departments")
