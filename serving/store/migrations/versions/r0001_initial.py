"""Initial schema: warnings, warning_history, audit_log (append-only), scored_records.

Revision ID: r0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_APPEND_ONLY_MESSAGE = "audit_log is append-only"

_SQLITE_TRIGGERS = (
    f"""
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END
    """,
    f"""
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END
    """,
)

_POSTGRESQL_TRIGGERS = (
    f"""
    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{_APPEND_ONLY_MESSAGE}'; END
    $$
    """,
    """
    CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
    """,
    """
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
    """,
)


def upgrade() -> None:
    """Create the four tables and make audit_log append-only in the database itself."""
    op.create_table(
        "warnings",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("task", sa.String(40), nullable=False),
        sa.Column("entity_hash", sa.String(64), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("risk_level", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("department", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_warnings"),
        sa.UniqueConstraint(
            "task", "entity_hash", "period", name="uq_warnings_task_entity_hash_period"
        ),
        sa.CheckConstraint(
            "status IN ('open', 'dispatched', 'in_progress', 'closed')", name="ck_warnings_status"
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('confirmed', 'prevented', 'false_alarm', 'unreachable')",
            name="ck_warnings_outcome",
        ),
        sa.CheckConstraint(
            "risk_level IN ('yellow', 'orange', 'red')", name="ck_warnings_risk_level"
        ),
        sa.CheckConstraint(
            "(status = 'closed') = (outcome IS NOT NULL)", name="ck_warnings_closed_has_outcome"
        ),
    )
    op.create_index("ix_warnings_entity_hash", "warnings", ["entity_hash"])
    op.create_index("ix_warnings_task_status", "warnings", ["task", "status"])
    op.create_index("ix_warnings_created_at", "warnings", ["created_at"])

    op.create_table(
        "warning_history",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("warning_id", sa.String(40), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_warning_history"),
        sa.ForeignKeyConstraint(
            ["warning_id"],
            ["warnings.id"],
            name="fk_warning_history_warning_id_warnings",
            ondelete="RESTRICT",
        ),
    )
    op.create_index("ix_warning_history_warning_id", "warning_history", ["warning_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("task", sa.String(40), nullable=True),
        sa.Column("model_version", sa.String(40), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_action", "audit_log", ["action"])

    op.create_table(
        "scored_records",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("task", sa.String(40), nullable=False),
        sa.Column("entity_hash", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("risk_level", sa.String(10), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scored_records"),
    )
    op.create_index("ix_scored_records_task_created_at", "scored_records", ["task", "created_at"])

    dialect = op.get_bind().dialect.name
    triggers = {"sqlite": _SQLITE_TRIGGERS, "postgresql": _POSTGRESQL_TRIGGERS}.get(dialect, ())
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    """Drop everything (a development aid: the product itself never downgrades)."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_change()")
    for table in ("scored_records", "audit_log", "warning_history", "warnings"):
        op.drop_table(table)
