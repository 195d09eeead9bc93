"""Retention: conversations idle longer than their tenant's limit are deleted, on a schedule.

Each tenant's limit is its own ``retention_days`` or else ``ALICE_RETENTION_DAYS`` (unset:
kept until deleted). A conversation's age is counted from its last message
(``updated_at``). Deletion runs in batches of short transactions (messages first, then
the conversation rows) so chat keeps going meanwhile; every replica may run the job,
the deletes are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import structlog
from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Connection

from alice.privacy.audit import record_in
from alice.store.database import Database
from alice.store.models import Conversation, Message, utcnow
from alice.store.tenants import KeyStore

__all__ = ["RetentionJob", "apply_retention"]

log = structlog.get_logger("alice.privacy")

_conversations: Table = Conversation.__table__  # type: ignore[assignment]
_messages: Table = Message.__table__  # type: ignore[assignment]
_BATCH = 200


def _delete_batch(conn: Connection, tenant: str, cutoff: datetime) -> tuple[int, int]:
    ids = list(
        conn.execute(
            select(_conversations.c.id)
            .where(_conversations.c.tenant_id == tenant, _conversations.c.updated_at < cutoff)
            .limit(_BATCH)
        ).scalars()
    )
    if not ids:
        return 0, 0
    messages = conn.execute(
        delete(_messages).where(
            _messages.c.tenant_id == tenant, _messages.c.conversation_id.in_(ids)
        )
    ).rowcount
    # Re-checked: a conversation that got a message since it was selected stays.
    conversations = conn.execute(
        delete(_conversations).where(
            _conversations.c.tenant_id == tenant,
            _conversations.c.id.in_(ids),
            _conversations.c.updated_at < cutoff,
        )
    ).rowcount
    return conversations, messages


async def apply_retention(
    database: Database,
    keys: KeyStore,
    *,
    default_days: int | None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete every tenant's expired conversations; conversations deleted per tenant."""
    moment = now or utcnow()
    deleted: dict[str, int] = {}
    for tenant in await keys.list_tenants():
        days = tenant.retention_days or default_days
        if days is None:
            continue
        cutoff = moment - timedelta(days=days)
        total = 0
        while True:
            conversations, messages = await database.run(
                partial(_delete_batch, tenant=tenant.id, cutoff=cutoff)
            )
            if conversations == 0 and messages == 0:
                break
            total += conversations
        if total:
            log.info("retention.deleted", tenant=tenant.id, conversations=total, days=days)
            await database.run(
                partial(
                    record_in,
                    tenant_id=tenant.id,
                    actor="retention",
                    action="retention.delete",
                    detail={"conversations": total, "days": days},
                )
            )
        deleted[tenant.id] = total
    return deleted


class RetentionJob:
    """Runs `apply_retention` every ``interval_s`` (first run shortly after start)."""

    def __init__(
        self,
        database: Database,
        keys: KeyStore,
        *,
        default_days: int | None,
        interval_s: float,
        first_run_s: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._keys = keys
        self._default_days = default_days
        self._interval_s = interval_s
        self._first_run_s = first_run_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def start(self) -> None:
        """Start the schedule."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="alice-retention")

    async def run_once(self) -> dict[str, int]:
        """One pass now."""
        deleted = await apply_retention(
            self._database, self._keys, default_days=self._default_days, now=self._clock()
        )
        self.runs += 1
        return deleted

    async def _loop(self) -> None:
        await asyncio.sleep(self._first_run_s)
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # database down: try again next time; never crash
                log.warning("retention.failed", error_class=type(exc).__name__)
            await asyncio.sleep(self._interval_s)

    async def stop(self) -> None:
        """Stop the schedule."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
