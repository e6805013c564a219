"""Console sessions gain an index on their CSRF token.

A form sent without its session cookie (a tab left open after signing out in another) names
its session by the token alone (`serving.console.sessions.ConsoleSessions.drawn_under`); the
lookup scanned every session ever signed in, which only grows.

Revision ID: r0007_session_csrf_index
Revises: r0006_session_generation
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "r0007_session_csrf_index"
down_revision = "r0006_session_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index `console_sessions.csrf`."""
    op.create_index(op.f("ix_console_sessions_csrf"), "console_sessions", ["csrf"], unique=False)


def downgrade() -> None:
    """Drop what `upgrade` added."""
    op.drop_index(op.f("ix_console_sessions_csrf"), table_name="console_sessions")
