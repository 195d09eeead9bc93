"""The store, run against SQLite and the real PostgreSQL server alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from alice.app import database_config
from alice.errors import ConversationNotFoundError, StorageError
from alice.settings import Settings
from alice.store import ConversationRepository, Database
from alice.store.repository import AnswerRecord


def _answer(content: str = "Stockholm.") -> AnswerRecord:
    return AnswerRecord(
        content=content,
        model="m",
        status="complete",
        prompt_tokens=10,
        completion_tokens=3,
        latency_ms=40,
        first_token_ms=12,
    )


def _rows(sql: str) -> Callable[[Connection], list[tuple[object, ...]]]:
    def work(conn: Connection) -> list[tuple[object, ...]]:
        return [tuple(r) for r in conn.execute(text(sql))]

    return work


async def test_a_turn_creates_a_conversation_and_commits_the_user_message(
    database: Database,
) -> None:
    repo = ConversationRepository(database)
    turn = await repo.begin_turn(None, "Vad är huvudstaden i Sverige?")
    assert turn.created
    assert turn.answer is None
    rows = await database.run(_rows("SELECT id, role, content, content_key FROM messages"))
    assert [row[:2] for row in rows] == [(turn.message_id, "user")]
    # Stored sealed (the suite's store runs encrypted), read back as written.
    assert "huvudstaden" not in str(rows[0][2])
    assert rows[0][3] == database.config.cipher.primary_id is not None
    stored = await repo.get(turn.conversation_id)
    assert stored.title == "Vad är huvudstaden i Sverige?"
    assert [m.content for m in stored.messages] == ["Vad är huvudstaden i Sverige?"]


async def test_answers_and_history_come_back_in_order_with_their_costs(
    database: Database,
) -> None:
    repo = ConversationRepository(database)
    first = await repo.begin_turn(None, "fråga 1")
    await repo.add_answer(first.conversation_id, _answer("svar 1"))
    history = await repo.history(first.conversation_id, limit=10)
    assert [(m.role, m.content) for m in history] == [("user", "fråga 1"), ("assistant", "svar 1")]
    second = await repo.begin_turn(first.conversation_id, "fråga 2")
    assert not second.created
    answer = await repo.add_answer(first.conversation_id, _answer("svar 2"))
    conversation = await repo.get(first.conversation_id)
    assert [m.content for m in conversation.messages] == ["fråga 1", "svar 1", "fråga 2", "svar 2"]
    last = conversation.messages[-1]
    assert last == answer
    assert (last.model, last.prompt_tokens, last.completion_tokens) == ("m", 10, 3)
    assert (last.latency_ms, last.first_token_ms) == (40, 12)
    assert last.created_at.tzinfo == UTC
    assert conversation.message_count == 4


async def test_an_answer_known_up_front_is_committed_with_the_question(
    database: Database,
) -> None:
    repo = ConversationRepository(database)
    turn = await repo.begin_turn(None, "Vad heter Sveriges huvudstad?", answer=_answer())
    assert turn.answer is not None
    stored = await repo.get(turn.conversation_id)
    assert [(m.id, m.role, m.content) for m in stored.messages] == [
        (turn.message_id, "user", "Vad heter Sveriges huvudstad?"),
        (turn.answer.id, "assistant", "Stockholm."),
    ]
    assert stored.messages[1] == turn.answer
    again = await repo.begin_turn(turn.conversation_id, "Och Norges?", answer=_answer("Oslo."))
    assert again.conversation_id == turn.conversation_id
    assert (await repo.get(turn.conversation_id)).message_count == 4


async def test_history_is_limited_to_the_newest_complete_messages(database: Database) -> None:
    repo = ConversationRepository(database)
    turn = await repo.begin_turn(None, "q0")
    for i in range(1, 4):
        await repo.add_answer(turn.conversation_id, _answer(f"a{i - 1}"))
        await repo.begin_turn(turn.conversation_id, f"q{i}")
    failed = replace(_answer("half an answer"), status="error", error_code="upstream-error")
    await repo.add_answer(turn.conversation_id, failed)
    history = await repo.history(turn.conversation_id, limit=3)
    assert [m.content for m in history] == ["q2", "a2", "q3"]
    assert await repo.history(turn.conversation_id, limit=0) == ()


async def test_list_is_newest_first_with_message_counts(database: Database) -> None:
    repo = ConversationRepository(database)
    old = await repo.begin_turn(None, "gammal")
    new = await repo.begin_turn(None, "ny")
    await repo.add_answer(new.conversation_id, _answer())
    listed = await repo.list()
    assert [(c.id, c.message_count) for c in listed] == [
        (new.conversation_id, 2),
        (old.conversation_id, 1),
    ]
    assert [c.id for c in await repo.list(limit=1, offset=1)] == [old.conversation_id]


async def test_delete_removes_the_conversation_and_its_messages(database: Database) -> None:
    repo = ConversationRepository(database)
    turn = await repo.begin_turn(None, "radera mig")
    await repo.add_answer(turn.conversation_id, _answer())
    await repo.delete(turn.conversation_id)
    with pytest.raises(ConversationNotFoundError):
        await repo.get(turn.conversation_id)
    assert await database.run(_rows("SELECT count(*) FROM messages")) == [(0,)]
    with pytest.raises(ConversationNotFoundError):
        await repo.delete(turn.conversation_id)


async def test_another_tenant_sees_nothing(database: Database) -> None:
    mine = ConversationRepository(database, tenant_id="a")
    theirs = ConversationRepository(database, tenant_id="b")
    turn = await mine.begin_turn(None, "hemligt")
    with pytest.raises(ConversationNotFoundError):
        await theirs.get(turn.conversation_id)
    with pytest.raises(ConversationNotFoundError):
        await theirs.history(turn.conversation_id, limit=5)
    with pytest.raises(ConversationNotFoundError):
        await theirs.begin_turn(turn.conversation_id, "intrång")
    with pytest.raises(ConversationNotFoundError):
        await theirs.delete(turn.conversation_id)
    assert await theirs.list() == []
    assert (await mine.get(turn.conversation_id)).message_count == 1


async def test_unknown_conversation_is_not_found_and_stores_nothing(database: Database) -> None:
    repo = ConversationRepository(database)
    with pytest.raises(ConversationNotFoundError):
        await repo.begin_turn("no-such-id", "hej", answer=_answer())
    with pytest.raises(ConversationNotFoundError):
        await repo.history("no-such-id", limit=5)
    assert await database.run(_rows("SELECT count(*) FROM messages")) == [(0,)]


async def test_a_failed_transaction_rolls_back_everything_it_wrote(database: Database) -> None:
    repo = ConversationRepository(database)
    turn = await repo.begin_turn(None, "hej")

    def half_then_fail(conn: Connection) -> None:
        conn.execute(text("DELETE FROM messages"))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await database.run(half_then_fail)
    assert (await repo.get(turn.conversation_id)).message_count == 1


async def test_an_unreachable_database_is_a_storage_error() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url="postgresql://postgres@127.0.0.1:1/none", encryption="off"
    )
    db = Database(database_config(settings))
    try:
        with pytest.raises(StorageError):
            await ConversationRepository(db).begin_turn(None, "hej")
        assert (await db.health()).state == "unhealthy"
    finally:
        await db.aclose()
