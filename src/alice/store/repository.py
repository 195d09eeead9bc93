"""Tenant-scoped access to conversations and messages.

Every query filters on the repository's tenant, so a route cannot forget to. Methods
return frozen records, not ORM objects, so nothing lazy-loads outside a session.
Database failures surface as `StorageError`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alice.errors import ConversationNotFoundError, StorageError
from alice.store.models import DEFAULT_TENANT, Conversation, Message, utcnow

__all__ = [
    "AnswerRecord",
    "ConversationRecord",
    "ConversationRepository",
    "MessageRecord",
    "TurnStart",
    "new_id",
]

_TITLE_CHARS = 80


def new_id() -> str:
    """A new random public id."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A stored message."""

    id: str
    conversation_id: str
    role: str
    content: str
    status: str
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int | None
    first_token_ms: int | None
    error_code: str | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, row: Message) -> MessageRecord:
        """Copy an ORM row."""
        return cls(
            id=row.id,
            conversation_id=row.conversation_id,
            role=row.role,
            content=row.content,
            status=row.status,
            model=row.model,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            latency_ms=row.latency_ms,
            first_token_ms=row.first_token_ms,
            error_code=row.error_code,
            created_at=row.created_at,
            completed_at=row.completed_at,
        )


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """A stored conversation, with its messages when they were asked for."""

    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    messages: tuple[MessageRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class TurnStart:
    """What `ConversationRepository.begin_turn` committed and read."""

    conversation_id: str
    message_id: str
    history: tuple[MessageRecord, ...]
    created: bool


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """An assistant answer to store."""

    conversation_id: str
    content: str
    model: str
    status: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    first_token_ms: int | None
    error_code: str | None = None


class ConversationRepository:
    """Conversations and messages of one tenant."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, tenant_id: str = DEFAULT_TENANT
    ) -> None:
        self._sessions = sessions
        self.tenant_id = tenant_id

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._sessions() as session, session.begin():
                yield session
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            # OSError: drivers raise connection failures (refused, reset) unwrapped.
            raise StorageError() from exc

    async def _require(self, session: AsyncSession, conversation_id: str) -> Conversation:
        row = await session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.tenant_id == self.tenant_id
            )
        )
        if row is None:
            raise ConversationNotFoundError(field="conversation_id")
        return row

    async def begin_turn(
        self, conversation_id: str | None, text: str, *, history_limit: int
    ) -> TurnStart:
        """Commit the user's message (creating the conversation if needed).

        Returns the ids and up to ``history_limit`` earlier messages, oldest first, read
        in the same transaction.

        Raises:
            ConversationNotFoundError: ``conversation_id`` is not this tenant's.
            StorageError: the database failed; nothing was stored.
        """
        now = utcnow()
        message_id = new_id()
        history: tuple[MessageRecord, ...] = ()
        async with self._transaction() as session:
            # Core statements, not the ORM unit of work: this runs before every model
            # call, and the ORM's bookkeeping was a measurable share of the latency.
            if conversation_id is None:
                conversation_id = new_id()
                created = True
                await session.execute(
                    insert(Conversation).values(
                        id=conversation_id,
                        tenant_id=self.tenant_id,
                        title=_title(text),
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                created = False
                touched = await session.execute(
                    update(Conversation)
                    .where(
                        Conversation.id == conversation_id,
                        Conversation.tenant_id == self.tenant_id,
                    )
                    .values(updated_at=now)
                )
                if touched.rowcount != 1:  # type: ignore[attr-defined]
                    raise ConversationNotFoundError(field="conversation_id")
                if history_limit > 0:
                    rows = await session.scalars(
                        select(Message)
                        .where(
                            Message.conversation_id == conversation_id,
                            Message.tenant_id == self.tenant_id,
                            Message.status == "complete",
                        )
                        .order_by(Message.seq.desc())
                        .limit(history_limit)
                    )
                    history = tuple(MessageRecord.of(r) for r in reversed(rows.all()))
            await session.execute(
                insert(Message).values(
                    id=message_id,
                    conversation_id=conversation_id,
                    tenant_id=self.tenant_id,
                    role="user",
                    content=text,
                    status="complete",
                    created_at=now,
                    completed_at=now,
                )
            )
        return TurnStart(conversation_id, message_id, history, created)

    async def add_answer(self, answer: AnswerRecord) -> MessageRecord:
        """Commit an assistant answer and return it as stored."""
        now = utcnow()
        record = MessageRecord(
            id=new_id(),
            conversation_id=answer.conversation_id,
            role="assistant",
            content=answer.content,
            status=answer.status,
            model=answer.model,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            latency_ms=answer.latency_ms,
            first_token_ms=answer.first_token_ms,
            error_code=answer.error_code,
            created_at=now,
            completed_at=now,
        )
        async with self._transaction() as session:
            await session.execute(
                insert(Message).values(tenant_id=self.tenant_id, **_fields(record))
            )
            await session.execute(
                update(Conversation)
                .where(
                    Conversation.id == answer.conversation_id,
                    Conversation.tenant_id == self.tenant_id,
                )
                .values(updated_at=now)
            )
        return record

    async def get(self, conversation_id: str) -> ConversationRecord:
        """One conversation with all its messages.

        Raises:
            ConversationNotFoundError: no such conversation for this tenant.
        """
        async with self._transaction() as session:
            conversation = await self._require(session, conversation_id)
            rows = await session.scalars(
                select(Message)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.tenant_id == self.tenant_id,
                )
                .order_by(Message.seq)
            )
            messages = tuple(MessageRecord.of(r) for r in rows)
            return ConversationRecord(
                id=conversation.id,
                title=conversation.title,
                created_at=conversation.created_at,
                updated_at=conversation.updated_at,
                message_count=len(messages),
                messages=messages,
            )

    async def list(self, *, limit: int = 50, offset: int = 0) -> Sequence[ConversationRecord]:
        """This tenant's conversations, most recently active first."""
        counts = (
            select(Message.conversation_id, func.count(Message.seq).label("n"))
            .where(Message.tenant_id == self.tenant_id)
            .group_by(Message.conversation_id)
            .subquery()
        )
        query = (
            select(Conversation, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.conversation_id == Conversation.id)
            .where(Conversation.tenant_id == self.tenant_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id)
            .limit(limit)
            .offset(offset)
        )
        async with self._transaction() as session:
            result = await session.execute(query)
            return [
                ConversationRecord(
                    id=c.id,
                    title=c.title,
                    created_at=c.created_at,
                    updated_at=c.updated_at,
                    message_count=int(n),
                )
                for c, n in result
            ]

    async def delete(self, conversation_id: str) -> None:
        """Delete a conversation and its messages.

        Raises:
            ConversationNotFoundError: no such conversation for this tenant.
        """
        async with self._transaction() as session:
            await self._require(session, conversation_id)
            # Explicit, so it holds even where the database ignores ON DELETE CASCADE.
            await session.execute(
                delete(Message).where(
                    Message.conversation_id == conversation_id,
                    Message.tenant_id == self.tenant_id,
                )
            )
            await session.execute(
                delete(Conversation).where(
                    Conversation.id == conversation_id, Conversation.tenant_id == self.tenant_id
                )
            )


def _fields(record: MessageRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in MessageRecord.__slots__}


def _title(text: str) -> str:
    first_line = " ".join(text.split())
    if len(first_line) <= _TITLE_CHARS:
        return first_line
    return first_line[: _TITLE_CHARS - 1].rstrip() + "…"
