"""The audit log: who read, exported or deleted which data, append-only.

Rows name the tenant, the actor (an API key id, ``cli`` or ``retention``), the action,
and what it touched: a conversation id or a data subject's reference (the keyed hash,
never the user's id), with counts in ``detail``. Never content. The table refuses UPDATE
and DELETE (triggers, migration 0005); the log outlives the data it describes, which is
the point of it: it proves an erasure happened without keeping what was erased.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from alice.errors import StorageError
from alice.store.database import Database
from alice.store.models import AuditEntry, utcnow

__all__ = ["AuditLog", "AuditRecord", "record_in"]

_audit: Table = AuditEntry.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit entry."""

    seq: int
    at: datetime
    tenant_id: str
    actor: str
    action: str
    subject: str | None
    target: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)


def record_in(
    conn: Connection,
    tenant_id: str,
    actor: str,
    action: str,
    *,
    subject: str | None = None,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append an entry in the caller's transaction (so it commits with what it records)."""
    conn.execute(
        insert(_audit),
        {
            "at": utcnow(),
            "tenant_id": tenant_id,
            "actor": actor,
            "action": action,
            "subject": subject,
            "target": target,
            "detail": orjson.dumps(dict(detail or {})).decode(),
        },
    )


class AuditLog:
    """Appends and reads audit entries."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def record(
        self,
        tenant_id: str,
        actor: str,
        action: str,
        *,
        subject: str | None = None,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append an entry in its own transaction.

        Raises:
            StorageError: the database failed (the caller decides whether that fails
                the action it records; reads of personal data do fail, see the routes).
        """
        try:
            await self._database.run(
                lambda conn: record_in(
                    conn, tenant_id, actor, action, subject=subject, target=target, detail=detail
                )
            )
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError() from exc

    async def entries(
        self,
        tenant_id: str,
        *,
        after: int = 0,
        limit: int = 100,
        subject: str | None = None,
    ) -> list[AuditRecord]:
        """A tenant's entries after ``after`` (a ``seq``), oldest first."""
        query = (
            select(_audit)
            .where(_audit.c.tenant_id == tenant_id, _audit.c.seq > after)
            .order_by(_audit.c.seq)
            .limit(limit)
        )
        if subject is not None:
            query = query.where(_audit.c.subject == subject)
        try:
            rows = await self._database.run(lambda conn: conn.execute(query).all())
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError() from exc
        return [
            AuditRecord(
                seq=row.seq,
                at=row.at,
                tenant_id=row.tenant_id,
                actor=row.actor,
                action=row.action,
                subject=row.subject,
                target=row.target,
                detail=orjson.loads(row.detail),
            )
            for row in rows
        ]
