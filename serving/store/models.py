"""The warnings store's tables: warnings, their history, the audit log and scored records.

The Alembic migrations under `migrations/versions/` create these tables; a test compares the
migrated schema with this metadata so the two never drift apart. Identifiers are stored only as
keyed hashes (`entity_hash`), never raw.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from models.spec import WARNING_LEVELS as WARNING_LEVELS  # one definition; re-exported

STATUSES = ("open", "dispatched", "in_progress", "closed")
OUTCOMES = ("confirmed", "prevented", "false_alarm", "unreachable")
ROLES = ("officer", "supervisor", "auditor", "admin")
LANGS = ("zh", "en")

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RiskWarning(Base):
    """One warning: an entity whose score reached `yellow` or above for a task and month.

    `period` (first day of the as-of month) makes re-scoring idempotent: one warning per task,
    entity and period, updated in place while it is not closed.
    """

    __tablename__ = "warnings"
    __table_args__ = (
        UniqueConstraint("task", "entity_hash", "period"),
        CheckConstraint(f"status IN ({_quoted(STATUSES)})", name="status"),
        CheckConstraint(f"outcome IS NULL OR outcome IN ({_quoted(OUTCOMES)})", name="outcome"),
        CheckConstraint(f"risk_level IN ({_quoted(WARNING_LEVELS)})", name="risk_level"),
        CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)", name="closed_has_outcome"),
        Index(None, "task", "status"),
        Index(None, "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    task: Mapped[str] = mapped_column(String(40))
    entity_hash: Mapped[str] = mapped_column(String(64), index=True)
    period: Mapped[date] = mapped_column(Date)
    as_of: Mapped[date] = mapped_column(Date)
    score: Mapped[float] = mapped_column(Float)
    risk_level: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(200))
    # the unit's district (from the scored row's `audit_district`; None when not sent)
    district: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the response deadline the case is now racing (None once handling has started), and when
    # an `overdue` event was written for that deadline (cleared when a disposition moves it)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    overdue_noted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # +1 on every change, so a person's form can say which state it was filled against
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    # the entity id encrypted (AES-256-GCM) under the key named `key_id`; purged with retention
    entity_cipher: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(40))


class WarningEvent(Base):
    """One step in a warning's life (raised, score update, disposition), appended in order."""

    __tablename__ = "warning_history"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    warning_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("warnings.id", ondelete="RESTRICT"), index=True
    )
    event: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditEntry(Base):
    """One row of the append-only audit log; database triggers refuse UPDATE and DELETE (and,
    on SQLite, an insert over an existing row: `INSERT OR REPLACE`, revision r0009)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64), index=True)
    task: Mapped[str | None] = mapped_column(String(40))
    model_version: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class ScoredRecord(Base):
    """A scored request's record (pseudonymised) with its features: the monitoring sample."""

    __tablename__ = "scored_records"
    __table_args__ = (Index(None, "task", "created_at"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(40))
    entity_hash: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[date] = mapped_column(Date)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    risk_level: Mapped[str] = mapped_column(String(10))
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: the unit's district as scored (a place, not a personal identifier), so monitoring has
    #: units scored and a warning rate by district; None when the record came without one
    district: Mapped[str | None] = mapped_column(String(64))


class OutboxEvent(Base):
    """A notification for a department, written in the same transaction as the change it
    reports (transactional outbox): a crash can neither lose nor invent one.

    The delivery worker posts it until the receiver answers 2xx (`delivered_at`), retrying with
    exponential backoff; after the configured attempts it is dead-lettered (`dead_at`).
    """

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "delivered_at", "dead_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(64), index=True)
    warning_id: Mapped[str] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))


class DepartmentWebhook(Base):
    """A department's notification endpoint; its signing secret lives in the 0600 secrets
    file (`serving.webhook_secrets`), never in the database."""

    __tablename__ = "department_webhooks"

    department: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Department(Base):
    """A department that handles warnings; seeded from `models.departments` by migration."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    tasks: Mapped[list[str]] = mapped_column(JSON)
    capacity: Mapped[int | None] = mapped_column(Integer)


class User(Base):
    """A person who signs in: one department, one role, an Argon2 password hash."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({_quoted(ROLES)})", name="role"),
        CheckConstraint(f"lang IN ({_quoted(LANGS)})", name="lang"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(
        String(40), ForeignKey("departments.code", ondelete="RESTRICT")
    )
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lang: Mapped[str] = mapped_column(String(2), server_default="zh")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # +1 at each disable: part of the credential stamp a session token carries, so a token
    # signed in before a disable is not let back in when the account is enabled again
    session_generation: Mapped[int] = mapped_column(Integer, server_default="0")
    # the password is one an administrator set (`users create`, `users reset-password`), not
    # one the person chose in the console: the console asks them to change it (r0011)
    password_from_admin: Mapped[bool] = mapped_column(Boolean, server_default=false())


class ConsoleSession(Base):
    """A signed-in console session, kept server-side so sign-out and time-outs really end it.

    The browser holds a random token; only its SHA-256 is stored (`id`), so a copy of the
    database cannot be replayed as a cookie. `csrf` is the token every console form carries.
    """

    __tablename__ = "console_sessions"
    # by CSRF token: a form sent without its session cookie names its session by the token
    # alone (`drawn_under`), which scanned every session ever signed in
    __table_args__ = (Index(None, "user_name"), Index(None, "csrf"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(200))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_why: Mapped[str | None] = mapped_column(String(16))


class KeyCheck(Base):
    """A check of a key the store's rows depend on: an HMAC of a fixed text under the key,
    never the key (`serving.store.pseudonym.key_check`). One row, `pseudonym`."""

    __tablename__ = "key_checks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    check_value: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
