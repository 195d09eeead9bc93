"""Tenant-scoped access to conversations and messages.

Every query filters on the repository's tenant, so a route cannot forget to. Methods
return frozen records, not ORM objects, so nothing lazy-loads outside a transaction.
Database failures surface as `StorageError`.

The statements are SQLAlchemy Core, built once at import and run with parameters, each
unit of work a synchronous function handed to `Database.run`: a chat turn runs these
before and after every model call, and the ORM's unit of work (and rebuilding statements
per call) was a measurable share of the latency Alice adds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from alice.errors import ConversationNotFoundError, StorageError
from alice.store.database import Database
from alice.store.models import DEFAULT_TENANT, Conversation, Message, utcnow

__all__ = [
    "AnswerRecord",
    "ConversationRecord",
    "ConversationRepository",
    "MessageRecord",
    "TurnStart",
    "new_id",
]

T = TypeVar("T")

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
class AnswerRecord:
    """An assistant answer to store."""

    content: str
    model: str
    status: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    first_token_ms: int | None
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class TurnStart:
    """What `ConversationRepository.begin_turn` committed."""

    conversation_id: str
    message_id: str
    created: bool
    answer: MessageRecord | None = None


_conversations: Table = Conversation.__table__  # type: ignore[assignment]
_messages: Table = Message.__table__  # type: ignore[assignment]
# A message row as read: the record's columns, then the key that sealed its content.
_MESSAGE_COLUMNS = (
    *(_messages.c[name] for name in MessageRecord.__slots__),
    _messages.c.content_key,
)
_CONTENT = MessageRecord.__slots__.index("content")

_INSERT_CONVERSATION = insert(_conversations)
_INSERT_MESSAGE = insert(_messages)
_TOUCH_CONVERSATION = (
    update(_conversations)
    .where(
        _conversations.c.id == bindparam("conversation"),
        _conversations.c.tenant_id == bindparam("tenant"),
    )
    .values(updated_at=bindparam("now"))
)
_CONVERSATION = select(_conversations).where(
    _conversations.c.id == bindparam("conversation"),
    _conversations.c.tenant_id == bindparam("tenant"),
)
_HISTORY = (
    select(*_MESSAGE_COLUMNS)
    .where(
        _messages.c.conversation_id == bindparam("conversation"),
        _messages.c.tenant_id == bindparam("tenant"),
        _messages.c.status == "complete",
    )
    .order_by(_messages.c.seq.desc())
    .limit(bindparam("limit"))
)
_ALL_MESSAGES = (
    select(*_MESSAGE_COLUMNS)
    .where(
        _messages.c.conversation_id == bindparam("conversation"),
        _messages.c.tenant_id == bindparam("tenant"),
    )
    .order_by(_messages.c.seq)
)
_DELETE_MESSAGE = delete(_messages).where(
    _messages.c.id == bindparam("message"),
    _messages.c.tenant_id == bindparam("tenant"),
)
_DELETE_MESSAGES = delete(_messages).where(
    _messages.c.conversation_id == bindparam("conversation"),
    _messages.c.tenant_id == bindparam("tenant"),
)
_DELETE_CONVERSATION = delete(_conversations).where(
    _conversations.c.id == bindparam("conversation"),
    _conversations.c.tenant_id == bindparam("tenant"),
)
_LIST = (
    select(
        _conversations,
        select(func.count(_messages.c.seq))
        .where(
            _messages.c.conversation_id == _conversations.c.id,
            _messages.c.tenant_id == _conversations.c.tenant_id,
        )
        .scalar_subquery()
        .label("message_count"),
    )
    .where(_conversations.c.tenant_id == bindparam("tenant"))
    .order_by(_conversations.c.updated_at.desc(), _conversations.c.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)


class ConversationRepository:
    """Conversations and messages of one tenant."""

    def __init__(self, database: Database, *, tenant_id: str = DEFAULT_TENANT) -> None:
        self._database = database
        self.tenant_id = tenant_id
        # Seals message contents and titles on write, opens them on read.
        self._cipher = database.config.cipher

    def _message(self, row: Sequence[Any]) -> MessageRecord:
        values = list(row[:-1])
        values[_CONTENT] = self._cipher.open(values[_CONTENT], row[-1])
        return MessageRecord(*values)

    def _title(self, row: Any) -> str:
        return self._cipher.open(row.title, row.title_key)

    async def _run(self, work: Callable[[Connection], T]) -> T:
        try:
            return await self._database.run(work)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            # OSError: drivers raise connection failures (refused, reset) unwrapped.
            raise StorageError() from exc

    async def history(self, conversation_id: str, *, limit: int) -> tuple[MessageRecord, ...]:
        """Up to ``limit`` newest complete messages of a conversation, oldest first.

        Raises:
            ConversationNotFoundError: ``conversation_id`` is not this tenant's.
            StorageError: the database failed.
        """
        keys = {"conversation": conversation_id, "tenant": self.tenant_id}

        def work(conn: Connection) -> tuple[MessageRecord, ...]:
            if conn.execute(_CONVERSATION, keys).first() is None:
                raise ConversationNotFoundError(field="conversation_id")
            if limit <= 0:
                return ()
            rows = conn.execute(_HISTORY, {**keys, "limit": limit}).all()
            return tuple(self._message(row) for row in reversed(rows))

        return await self._run(work)

    async def begin_turn(
        self,
        conversation_id: str | None,
        text: str,
        *,
        answer: AnswerRecord | None = None,
        subject: str | None = None,
    ) -> TurnStart:
        """Commit the user's message, creating the conversation when ``None``.

        With ``answer`` (known before the turn starts, e.g. from the response cache) the
        answer is committed in the same transaction. ``subject`` (a data subject's
        reference, see `alice.privacy.subjects`) is recorded on a new conversation.

        Raises:
            ConversationNotFoundError: ``conversation_id`` is not this tenant's.
            StorageError: the database failed; nothing was stored.
        """
        now = utcnow()
        created = conversation_id is None
        conversation = new_id() if conversation_id is None else conversation_id
        seal = self._cipher.seal
        message = _message_row(self.tenant_id, conversation, "user", seal(text), now)
        answer_row = (
            _answer_row(self.tenant_id, conversation, answer, seal(answer.content), now)
            if answer is not None
            else None
        )
        title, title_key = seal(_title(text)) if created else ("", None)

        def work(conn: Connection) -> None:
            if created:
                conn.execute(
                    _INSERT_CONVERSATION,
                    {
                        "id": conversation,
                        "tenant_id": self.tenant_id,
                        "title": title,
                        "title_key": title_key,
                        "subject": subject,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            else:
                touched = conn.execute(
                    _TOUCH_CONVERSATION,
                    {"conversation": conversation, "tenant": self.tenant_id, "now": now},
                )
                if touched.rowcount != 1:
                    raise ConversationNotFoundError(field="conversation_id")
            conn.execute(_INSERT_MESSAGE, message)
            if answer_row is not None:
                conn.execute(_INSERT_MESSAGE, answer_row)

        await self._run(work)
        return TurnStart(
            conversation_id=conversation,
            message_id=message["id"],
            created=created,
            answer=_record(answer_row, answer.content)
            if answer_row is not None and answer is not None
            else None,
        )

    async def add_answer(self, conversation_id: str, answer: AnswerRecord) -> MessageRecord:
        """Commit an assistant answer and return it as stored."""
        now = utcnow()
        row = _answer_row(
            self.tenant_id, conversation_id, answer, self._cipher.seal(answer.content), now
        )

        def work(conn: Connection) -> None:
            conn.execute(_INSERT_MESSAGE, row)
            conn.execute(
                _TOUCH_CONVERSATION,
                {"conversation": conversation_id, "tenant": self.tenant_id, "now": now},
            )

        await self._run(work)
        return _record(row, answer.content)

    async def discard_turn(self, turn: TurnStart) -> None:
        """Remove a turn that was refused before any answer (and its new conversation)."""
        keys = {"conversation": turn.conversation_id, "tenant": self.tenant_id}

        def work(conn: Connection) -> None:
            conn.execute(_DELETE_MESSAGE, {"message": turn.message_id, "tenant": self.tenant_id})
            if turn.created:
                conn.execute(_DELETE_MESSAGES, keys)
                conn.execute(_DELETE_CONVERSATION, keys)

        await self._run(work)

    async def get(self, conversation_id: str) -> ConversationRecord:
        """One conversation with all its messages.

        Raises:
            ConversationNotFoundError: no such conversation for this tenant.
        """
        keys = {"conversation": conversation_id, "tenant": self.tenant_id}

        def work(conn: Connection) -> ConversationRecord:
            conversation = conn.execute(_CONVERSATION, keys).first()
            if conversation is None:
                raise ConversationNotFoundError(field="conversation_id")
            messages = tuple(self._message(row) for row in conn.execute(_ALL_MESSAGES, keys))
            return ConversationRecord(
                id=conversation.id,
                title=self._title(conversation),
                created_at=conversation.created_at,
                updated_at=conversation.updated_at,
                message_count=len(messages),
                messages=messages,
            )

        return await self._run(work)

    async def list(self, *, limit: int = 50, offset: int = 0) -> Sequence[ConversationRecord]:
        """This tenant's conversations, most recently active first."""
        params = {"tenant": self.tenant_id, "limit": limit, "offset": offset}

        def work(conn: Connection) -> list[ConversationRecord]:
            return [
                ConversationRecord(
                    id=row.id,
                    title=self._title(row),
                    created_at=row.created_at,
                    updated_at=row.updated_at,
                    message_count=int(row.message_count),
                )
                for row in conn.execute(_LIST, params)
            ]

        return await self._run(work)

    async def delete(
        self, conversation_id: str, *, also: Callable[[Connection], None] | None = None
    ) -> None:
        """Delete a conversation and its messages.

        ``also`` runs in the same transaction after the delete (the audit entry), so the
        deletion and its record commit together or not at all.

        Raises:
            ConversationNotFoundError: no such conversation for this tenant.
        """
        keys = {"conversation": conversation_id, "tenant": self.tenant_id}

        def work(conn: Connection) -> None:
            # Messages explicitly, so it holds even where ON DELETE CASCADE is ignored.
            conn.execute(_DELETE_MESSAGES, keys)
            if conn.execute(_DELETE_CONVERSATION, keys).rowcount != 1:
                raise ConversationNotFoundError(field="conversation_id")
            if also is not None:
                also(conn)

        await self._run(work)


def _message_row(
    tenant_id: str,
    conversation_id: str,
    role: str,
    sealed: tuple[str, str | None],
    now: datetime,
) -> dict[str, Any]:
    # Every column, always: one compiled INSERT serves every message.
    return {
        "id": new_id(),
        "conversation_id": conversation_id,
        "tenant_id": tenant_id,
        "role": role,
        "content": sealed[0],
        "content_key": sealed[1],
        "status": "complete",
        "model": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "latency_ms": None,
        "first_token_ms": None,
        "error_code": None,
        "created_at": now,
        "completed_at": now,
    }


def _answer_row(
    tenant_id: str,
    conversation_id: str,
    answer: AnswerRecord,
    sealed: tuple[str, str | None],
    now: datetime,
) -> dict[str, Any]:
    row = _message_row(tenant_id, conversation_id, "assistant", sealed, now)
    row.update(
        status=answer.status,
        model=answer.model,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        latency_ms=answer.latency_ms,
        first_token_ms=answer.first_token_ms,
        error_code=answer.error_code,
    )
    return row


def _record(row: dict[str, Any], content: str) -> MessageRecord:
    """The record of a row just written (``content``: the plaintext of its sealed column)."""
    return MessageRecord(
        **{**{name: row[name] for name in MessageRecord.__slots__}, "content": content}
    )


def _title(text: str) -> str:
    first_line = " ".join(text.split())
    if len(first_line) <= _TITLE_CHARS:
        return first_line
    return first_line[: _TITLE_CHARS - 1].rstrip() + "…"
