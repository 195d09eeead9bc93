"""GDPR: a person's (or a whole tenant's) data out, and a person's data gone.

``export`` returns everything Alice stores about a data subject (the conversations a
client started naming that ``user``, decrypted, and the audit entries about them) or,
without a user, about a whole tenant (its policy, its API keys' metadata, every
conversation and its audit log). ``forget`` hard-deletes a subject's conversations and
messages in one transaction and purges their cached answers. Both are recorded in the
audit log, in the same transaction as what they did (forget) or before the data is
handed out (export).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from alice.cache import ResponseCache
from alice.errors import InvalidRequestError, StorageError
from alice.privacy.audit import AuditLog, record_in
from alice.privacy.subjects import SubjectIndex
from alice.store.database import Database
from alice.store.models import Conversation, Message, utcnow
from alice.store.repository import ConversationRepository
from alice.store.tenants import KeyStore

__all__ = ["MAX_USER_CHARS", "ForgetReport", "Gdpr"]

log = structlog.get_logger("alice.privacy")

MAX_USER_CHARS = 256
_conversations: Table = Conversation.__table__  # type: ignore[assignment]
_messages: Table = Message.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ForgetReport:
    """What an erasure deleted."""

    subject: str
    conversations: int
    messages: int
    cached_answers: int


def _check_user(user: str) -> str:
    if not user or not user.strip() or len(user) > MAX_USER_CHARS:
        raise InvalidRequestError(
            f"user is 1 to {MAX_USER_CHARS} characters, not only whitespace.", field="user"
        )
    return user


class Gdpr:
    """Export and erasure for data subjects and tenants."""

    def __init__(
        self,
        database: Database,
        *,
        subjects: SubjectIndex,
        keys: KeyStore,
        cache: ResponseCache | None,
    ) -> None:
        self._database = database
        self._subjects = subjects
        self._keys = keys
        self._cache = cache
        self._audit = AuditLog(database)

    @property
    def database(self) -> Database:
        """The database this works on."""
        return self._database

    @property
    def keys(self) -> KeyStore:
        """The tenant store."""
        return self._keys

    def subject(self, tenant_id: str, user: str) -> str:
        """The stored reference of ``user`` in ``tenant_id``."""
        return self._subjects.ref(tenant_id, _check_user(user))

    async def _run(self, work: Any) -> Any:
        try:
            return await self._database.run(work)
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError() from exc

    async def export(self, tenant_id: str, *, user: str | None, actor: str) -> dict[str, Any]:
        """Everything stored about ``user`` (or, with None, about the whole tenant)."""
        subject = self.subject(tenant_id, user) if user is not None else None
        query = (
            select(_conversations.c.id)
            .where(_conversations.c.tenant_id == tenant_id)
            .order_by(_conversations.c.created_at, _conversations.c.id)
        )
        if subject is not None:
            query = query.where(_conversations.c.subject == subject)
        ids = await self._run(lambda conn: list(conn.execute(query).scalars()))
        repo = ConversationRepository(self._database, tenant_id=tenant_id)
        conversations = []
        messages = 0
        for conversation_id in ids:
            record = await repo.get(conversation_id)
            messages += len(record.messages)
            conversations.append(
                {
                    "id": record.id,
                    "title": record.title,
                    "created_at": record.created_at.isoformat(),
                    "updated_at": record.updated_at.isoformat(),
                    "messages": [
                        {
                            "id": m.id,
                            "role": m.role,
                            "content": m.content,
                            "status": m.status,
                            "model": m.model,
                            "created_at": m.created_at.isoformat(),
                        }
                        for m in record.messages
                    ],
                }
            )
        # Recorded before the data leaves: an export nobody can account for never happens.
        await self._audit.record(
            tenant_id,
            actor,
            "gdpr.export",
            subject=subject,
            detail={"conversations": len(conversations), "messages": messages},
        )
        audit = await self._audit.entries(tenant_id, subject=subject, limit=100_000)
        document: dict[str, Any] = {
            "format": "alice-gdpr-export/1",
            "exported_at": utcnow().isoformat(),
            "tenant": tenant_id,
            "user": user,
            "subject": subject,
            "conversations": conversations,
            "audit_log": [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "detail": dict(e.detail),
                }
                for e in audit
            ],
        }
        if user is None:
            tenant = await self._keys.get_tenant(tenant_id)
            document["tenant_policy"] = {
                "created_at": tenant.created_at.isoformat(),
                "pii_masking": tenant.pii_masking,
                "retention_days": tenant.retention_days,
            }
            document["api_keys"] = [
                {
                    "id": k.id,
                    "name": k.name,
                    "prefix": k.prefix,
                    "scopes": list(k.scopes),
                    "created_at": k.created_at.isoformat(),
                    "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                }
                for k in await self._keys.list_keys(tenant_id)
            ]
        log.info(
            "gdpr.exported",
            tenant=tenant_id,
            subject=subject,
            conversations=len(conversations),
            actor=actor,
        )
        return document

    async def forget(self, tenant_id: str, *, user: str, actor: str) -> ForgetReport:
        """Hard-delete everything stored about ``user`` and purge their cached answers."""
        subject = self.subject(tenant_id, user)

        def work(conn: Connection) -> tuple[int, int]:
            ids = list(
                conn.execute(
                    select(_conversations.c.id).where(
                        _conversations.c.tenant_id == tenant_id,
                        _conversations.c.subject == subject,
                    )
                ).scalars()
            )
            messages = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                messages += conn.execute(
                    delete(_messages).where(
                        _messages.c.tenant_id == tenant_id, _messages.c.conversation_id.in_(chunk)
                    )
                ).rowcount
                conn.execute(
                    delete(_conversations).where(
                        _conversations.c.tenant_id == tenant_id, _conversations.c.id.in_(chunk)
                    )
                )
            record_in(
                conn,
                tenant_id,
                actor,
                "gdpr.forget",
                subject=subject,
                detail={"conversations": len(ids), "messages": messages},
            )
            return len(ids), messages

        conversations, messages = await self._run(work)
        cached = 0
        if self._cache is not None:
            cached = await self._cache.purge(f"{tenant_id}/{subject}")
        log.info(
            "gdpr.forgotten",
            tenant=tenant_id,
            subject=subject,
            conversations=conversations,
            messages=messages,
            cached_answers=cached,
            actor=actor,
        )
        return ForgetReport(subject, conversations, messages, cached)
