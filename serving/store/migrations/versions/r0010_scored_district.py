"""Districts on scored records: monitoring's units scored and warning rate by district.

Warnings have kept the unit's district since r0005, but the scored records (monitoring's
population) did not, so `riskloop monitor` could count warnings by district and not the units
scored there. Records scored before this revision stay without one (the group `missing`).

Revision ID: r0010_scored_district
Revises: r0009_audit_no_replace
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0010_scored_district"
down_revision = "r0009_audit_no_replace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable `district` column (a place, not a personal identifier)."""
    with op.batch_alter_table("scored_records") as batch:
        batch.add_column(sa.Column("district", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop what `upgrade` added."""
    with op.batch_alter_table("scored_records") as batch:
        batch.drop_column("district")
