"""The store, run against SQLite and the real PostgreSQL server alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC

import pytest
from sqlalchemy import text

from alice.app import database_config
from alice.errors import ConversationNotFoundError, StorageError
from alice.settings import Settings
from alice.store import ConversationRepository, Database, migrate
from alice.store.repository import AnswerRecord


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_config(Settings(_env_file=None, database_url=database_url)))  # type: ignore[call-arg]
    await migrate(db)
    yield db
    await db.aclose()


def _answer(conversation_id: str, content: str = "Stockholm.") -> AnswerRecord:
    return AnswerRecord(
        conversation_id=conversation_id,
        content=content,
        model="m",
        status="complete",
        prompt_tokens=10,
        completion_tokens=3,
        latency_ms=40,
        first_token_ms=12,
    )


async def test_a_turn_creates_a_conversation_and_commits_the_user_message(
    database: Database,
) -> None:
    repo = ConversationRepository(database.sessions)
    turn = await repo.begin_turn(None, "Vad är huvudstaden i Sverige?", history_limit=10)
    assert turn.created
    assert turn.history == ()
    async with database.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, role, content FROM messages"))).all()
    assert [tuple(r) for r in rows] == [(turn.message_id, "user", "Vad är huvudstaden i Sverige?")]
    stored = await repo.get(turn.conversation_id)
    assert stored.title == "Vad är huvudstaden i Sverige?"


async def test_answers_and_history_come_back_in_order_with_their_costs(
    database: Database,
) -> None:
    repo = ConversationRepository(database.sessions)
    first = await repo.begin_turn(None, "fråga 1", history_limit=10)
    await repo.add_answer(_answer(first.conversation_id, "svar 1"))
    second = await repo.begin_turn(first.conversation_id, "fråga 2", history_limit=10)
    assert [(m.role, m.content) for m in second.history] == [
        ("user", "fråga 1"),
        ("assistant", "svar 1"),
    ]
    answer = await repo.add_answer(_answer(first.conversation_id, "svar 2"))
    conversation = await repo.get(first.conversation_id)
    assert [m.content for m in conversation.messages] == ["fråga 1", "svar 1", "fråga 2", "svar 2"]
    last = conversation.messages[-1]
    assert last.id == answer.id
    assert (last.model, last.prompt_tokens, last.completion_tokens) == ("m", 10, 3)
    assert (last.latency_ms, last.first_token_ms) == (40, 12)
    assert last.created_at.tzinfo == UTC
    assert conversation.message_count == 4


async def test_history_is_limited_to_the_newest_complete_messages(database: Database) -> None:
    repo = ConversationRepository(database.sessions)
    turn = await repo.begin_turn(None, "q0", history_limit=0)
    for i in range(1, 4):
        await repo.add_answer(_answer(turn.conversation_id, f"a{i - 1}"))
        await repo.begin_turn(turn.conversation_id, f"q{i}", history_limit=0)
    failed = replace(
        _answer(turn.conversation_id, "half an answer"), status="error", error_code="upstream-error"
    )
    await repo.add_answer(failed)
    latest = await repo.begin_turn(turn.conversation_id, "q4", history_limit=3)
    assert [m.content for m in latest.history] == ["q2", "a2", "q3"]


async def test_list_is_newest_first_with_message_counts(database: Database) -> None:
    repo = ConversationRepository(database.sessions)
    old = await repo.begin_turn(None, "gammal", history_limit=0)
    new = await repo.begin_turn(None, "ny", history_limit=0)
    await repo.add_answer(_answer(new.conversation_id))
    listed = await repo.list()
    assert [(c.id, c.message_count) for c in listed] == [
        (new.conversation_id, 2),
        (old.conversation_id, 1),
    ]
    assert [c.id for c in await repo.list(limit=1, offset=1)] == [old.conversation_id]


async def test_delete_removes_the_conversation_and_its_messages(database: Database) -> None:
    repo = ConversationRepository(database.sessions)
    turn = await repo.begin_turn(None, "radera mig", history_limit=0)
    await repo.add_answer(_answer(turn.conversation_id))
    await repo.delete(turn.conversation_id)
    with pytest.raises(ConversationNotFoundError):
        await repo.get(turn.conversation_id)
    async with database.engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM messages"))).scalar_one()
    assert count == 0
    with pytest.raises(ConversationNotFoundError):
        await repo.delete(turn.conversation_id)


async def test_another_tenant_sees_nothing(database: Database) -> None:
    mine = ConversationRepository(database.sessions, tenant_id="a")
    theirs = ConversationRepository(database.sessions, tenant_id="b")
    turn = await mine.begin_turn(None, "hemligt", history_limit=0)
    with pytest.raises(ConversationNotFoundError):
        await theirs.get(turn.conversation_id)
    with pytest.raises(ConversationNotFoundError):
        await theirs.begin_turn(turn.conversation_id, "intrång", history_limit=5)
    with pytest.raises(ConversationNotFoundError):
        await theirs.delete(turn.conversation_id)
    assert await theirs.list() == []
    assert (await mine.get(turn.conversation_id)).message_count == 1


async def test_unknown_conversation_is_not_found_and_stores_nothing(database: Database) -> None:
    repo = ConversationRepository(database.sessions)
    with pytest.raises(ConversationNotFoundError):
        await repo.begin_turn("no-such-id", "hej", history_limit=5)
    async with database.engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM messages"))).scalar_one()
    assert count == 0


async def test_an_unreachable_database_is_a_storage_error() -> None:
    settings = Settings(_env_file=None, database_url="postgresql://postgres@127.0.0.1:1/none")  # type: ignore[call-arg]
    db = Database(database_config(settings))
    try:
        with pytest.raises(StorageError):
            await ConversationRepository(db.sessions).begin_turn(None, "hej", history_limit=0)
        assert (await db.health()).state == "unhealthy"
    finally:
        await db.aclose()
