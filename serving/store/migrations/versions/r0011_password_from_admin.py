"""Accounts say whether their password is one an administrator set.

`riskloop users create` and `users reset-password` set a password the administrator knows; a
person's own change in the console (`/console/password`) replaces it with one only they know.
The console asks a person whose password an administrator set to change it. An account made
before this revision holds an administrator's password unless its latest password event in the
audit log is a change of its own (`user_password_changed`, the person as actor `user:<name>`),
not a reset (`user_password_reset`).

Revision ID: r0011_password_from_admin
Revises: r0010_scored_district
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0011_password_from_admin"
down_revision = "r0010_scored_district"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `password_from_admin`, set from each account's latest password event on record."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "password_from_admin", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    users = sa.table(
        "users", sa.column("name", sa.String()), sa.column("password_from_admin", sa.Boolean())
    )
    audit = sa.table(
        "audit_log",
        sa.column("id", sa.Integer()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("detail", sa.JSON()),
    )
    bind = op.get_bind()
    events = bind.execute(
        sa.select(audit.c.actor, audit.c.action, audit.c.detail)
        .where(audit.c.action.in_(["user_password_changed", "user_password_reset"]))
        .order_by(audit.c.id)
    )
    own: dict[str, bool] = {}  # account -> whether its latest password event is its own change
    for actor, action, detail in events:
        if action == "user_password_changed" and str(actor).startswith("user:"):
            own[str(actor).removeprefix("user:")] = True
        elif isinstance(detail, dict) and isinstance(detail.get("user"), str):
            own[detail["user"]] = False
    names = [str(row[0]) for row in bind.execute(sa.select(users.c.name))]
    from_admin = [name for name in names if not own.get(name, False)]
    if from_admin:
        bind.execute(
            users.update().where(users.c.name.in_(from_admin)).values(password_from_admin=True)
        )


def downgrade() -> None:
    """Drop what `upgrade` added."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_from_admin")
