"""The chat service: what is stored when, and what is refused before anything is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from alice.app import chat_config, database_config
from alice.chat import ChatService, TurnDelta, TurnFinished, TurnRequest, TurnStarted
from alice.errors import (
    ConversationNotFoundError,
    InvalidRequestError,
    MessageTooLongError,
    ModelNotFoundError,
    OverloadedError,
)
from alice.llm.backends import build_router
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.store import Database, migrate
from tests.conftest import SettingsFactory


@pytest.fixture
async def service(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> AsyncIterator[ChatService]:
    settings = make_settings(max_message_chars=100, max_tokens_limit=64, default_max_tokens=32)
    database = Database(database_config(settings))
    await migrate(database)
    router = build_router(settings, provider=llm)
    yield ChatService(router=router, database=database, config=chat_config(settings))
    await database.aclose()


async def test_a_turn_emits_started_deltas_finished_in_order(service: ChatService) -> None:
    events = [
        e
        async for e in service.stream(
            TurnRequest(text="Vad är huvudstaden i Sverige?", temperature=0)
        )
    ]
    assert isinstance(events[0], TurnStarted)
    assert isinstance(events[-1], TurnFinished)
    deltas = events[1:-1]
    assert deltas and all(isinstance(e, TurnDelta) for e in deltas)
    finished = events[-1]
    assert finished.text == "".join(e.text for e in deltas if isinstance(e, TurnDelta))
    assert "Stockholm" in finished.text
    assert finished.first_token_ms is not None and finished.latency_ms >= finished.first_token_ms


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (TurnRequest(text=""), InvalidRequestError),
        (TurnRequest(text="x" * 101), MessageTooLongError),
        (TurnRequest(text="hej", max_tokens=65), InvalidRequestError),
        (TurnRequest(text="hej", model="other"), ModelNotFoundError),
    ],
)
async def test_invalid_turns_are_refused_before_anything_is_stored(
    service: ChatService, request_: TurnRequest, error: type[Exception]
) -> None:
    with pytest.raises(error):
        async for _ in service.stream(request_):
            pass
    assert await service.repository().list() == []


async def test_an_abandoned_turn_stores_its_partial_answer_as_cancelled(
    service: ChatService,
) -> None:
    stream = service.stream(TurnRequest(text="Berätta en lång saga om en drake.", max_tokens=64))
    started = await anext(stream)
    assert isinstance(started, TurnStarted)
    first = await anext(stream)
    assert isinstance(first, TurnDelta)
    await stream.aclose()
    stored = await service.repository().get(started.conversation_id)
    assert [(m.role, m.status) for m in stored.messages] == [
        ("user", "complete"),
        ("assistant", "cancelled"),
    ]
    assert stored.messages[1].content.startswith(first.text)


async def test_a_cancelled_task_still_records_the_partial_answer(service: ChatService) -> None:
    started = asyncio.Event()
    conversation: list[str] = []

    async def consume() -> None:
        async for event in service.stream(TurnRequest(text="Berätta en saga.", max_tokens=64)):
            if isinstance(event, TurnStarted):
                conversation.append(event.conversation_id)
            if isinstance(event, TurnDelta):
                started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)  # the shielded write finishes on its own
    stored = await service.repository().get(conversation[0])
    assert [m.status for m in stored.messages] == ["complete", "cancelled"]


async def test_failed_and_cancelled_answers_are_not_context_for_later_turns(
    service: ChatService,
) -> None:
    stream = service.stream(TurnRequest(text="Berätta en saga.", max_tokens=64))
    started = await anext(stream)
    assert isinstance(started, TurnStarted)
    await anext(stream)
    await stream.aclose()
    result = await service.complete(
        TurnRequest(text="Hej!", conversation_id=started.conversation_id, max_tokens=8)
    )
    stored = await service.repository().get(started.conversation_id)
    assert [m.status for m in stored.messages] == ["complete", "cancelled", "complete", "complete"]
    assert result.finished.conversation_id == started.conversation_id


async def test_a_turn_refused_for_overload_leaves_no_trace(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    settings = make_settings(backend_concurrency=1, backend_queue=0, default_max_tokens=48)
    database = Database(database_config(settings))
    await migrate(database)
    service = ChatService(
        router=build_router(settings, provider=llm),
        database=database,
        config=chat_config(settings),
    )
    try:
        earlier = await service.complete(TurnRequest(text="Hej!", max_tokens=4))
        conversation = earlier.started.conversation_id
        # One turn holds the only slot; with no queue, the next ones are refused at once.
        busy = service.stream(TurnRequest(text="Berätta en lång saga om en drake."))
        started = await anext(busy)
        assert isinstance(started, TurnStarted)
        assert isinstance(await anext(busy), TurnDelta)
        with pytest.raises(OverloadedError):
            await service.complete(TurnRequest(text="Får jag komma före?"))
        with pytest.raises(OverloadedError):
            await service.complete(TurnRequest(text="Och nu?", conversation_id=conversation))
        async for _ in busy:
            pass
        listed = await service.repository().list()
        assert sorted(c.id for c in listed) == sorted([conversation, started.conversation_id])
        stored = await service.repository().get(conversation)
        assert [m.content for m in stored.messages][:1] == ["Hej!"]
        assert stored.message_count == 2  # the refused "Och nu?" is gone
    finally:
        await database.aclose()


async def test_a_commit_that_fails_stops_the_model_that_started_on_the_question(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    # The model starts on the question while it is committed; when the commit fails
    # (here: an unknown conversation), the model's only slot is free again at once.
    settings = make_settings(backend_concurrency=1, backend_queue=0, default_max_tokens=48)
    database = Database(database_config(settings))
    await migrate(database)
    service = ChatService(
        router=build_router(settings, provider=llm),
        database=database,
        config=chat_config(settings),
    )
    try:
        saga = TurnRequest(
            text="Berätta en lång saga om en drake.", conversation_id="nope", context=()
        )
        with pytest.raises(ConversationNotFoundError):
            async for _ in service.stream(saga):
                pass
        assert all(b["in_flight"] == 0 for b in service.router.status().values())
        result = await service.complete(TurnRequest(text="Hej!", max_tokens=4))
        assert result.finished.text
        assert [c.id for c in await service.repository().list()] == [result.started.conversation_id]
    finally:
        await database.aclose()
