"""Districts on warnings: the unit's district, so reviewers can filter their queue by it.

Revision ID: r0005_district
Revises: r0004_loop
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0005_district"
down_revision = "r0004_loop"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable `district` column (warnings raised before it stay without one)."""
    with op.batch_alter_table("warnings") as batch:
        batch.add_column(sa.Column("district", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop what `upgrade` added."""
    with op.batch_alter_table("warnings") as batch:
        batch.drop_column("district")
