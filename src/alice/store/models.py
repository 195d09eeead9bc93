"""SQLAlchemy table models: tenants, API keys, conversations and their messages.

Every row carries its ``tenant_id`` so that tenant scoping lives in the repository, not
in the routes. The caller's tenant comes from its API key (``default`` when auth is off).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "DEFAULT_TENANT",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Conversation",
    "Message",
    "Meta",
    "Tenant",
    "UtcDateTime",
    "utcnow",
]

DEFAULT_TENANT = "default"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, PostgreSQL does; this makes both return the same thing.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive times; store aware ones in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Read back as aware UTC, whatever the database kept."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of Alice's tables."""


class Tenant(Base):
    """A customer of this Alice: its keys and data are invisible to every other tenant.

    The ``default`` tenant is the operator's own; its admin keys manage every tenant.
    """

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Privacy policy; NULL: the server's default (ALICE_PII_MASKING, ALICE_RETENTION_DAYS).
    pii_masking: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApiKey(Base):
    """An API key, stored only as the SHA-256 of the key (the key itself is shown once)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), default="")
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The key's first characters, to tell keys apart in listings (not enough to use it).
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(200))
    rate_requests: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rate_burst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rate_window_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (Index("ix_api_keys_tenant", "tenant_id"),)


class Meta(Base):
    """One-time facts about this database (e.g. that the bootstrap key was issued)."""

    __tablename__ = "alice_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Conversation(Base):
    """A dialogue between one client and Alice."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    # Sealed (encrypted) when encryption is on; ``title_key`` names the key (NULL: plain).
    title: Mapped[str] = mapped_column(Text, default="")
    title_key: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The end user it is about, as a keyed hash (alice.privacy.subjects); NULL: none.
    subject: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Message.seq",
    )

    __table_args__ = (
        Index("ix_conversations_tenant_updated", "tenant_id", "updated_at"),
        Index("ix_conversations_tenant_subject", "tenant_id", "subject"),
    )


class Message(Base):
    """One message of a conversation, with what it cost to produce (for answers)."""

    __tablename__ = "messages"

    # ``seq`` orders messages exactly (timestamps can tie); ``id`` is the public id.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    conversation_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    tenant_id: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    role: Mapped[str] = mapped_column(String(16))
    # Sealed (encrypted) when encryption is on; ``content_key`` names the key (NULL: plain).
    content: Mapped[str] = mapped_column(Text)
    content_key: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="complete")
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    first_token_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")

    __table_args__ = (Index("ix_messages_conversation_seq", "conversation_id", "seq"),)


class AuditEntry(Base):
    """Who read, exported or deleted which data (append-only: triggers refuse changes)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    tenant_id: Mapped[str] = mapped_column(String(64))
    # An API key id, "cli" or "retention".
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # JSON: counts and names, never content.
    detail: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (Index("ix_audit_log_tenant_seq", "tenant_id", "seq"),)
