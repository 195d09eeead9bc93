"""The official ``openai`` SDK against Alice's OpenAI-compatible API, unchanged."""

from __future__ import annotations

import openai
import pytest

from alice.settings import Settings
from tests.support.stored import stored_rows

QUESTION = "Vad är huvudstaden i Sverige?"


@pytest.fixture
def client(alice_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{alice_url}/v1", api_key="not-needed-yet", max_retries=0)


def test_models_are_listed(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["gemma-3-270m"]


def test_completion_without_streaming(client: openai.OpenAI, settings: Settings) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gemma-3-270m",
        messages=[{"role": "user", "content": QUESTION}],
        temperature=0,
    )
    completion = raw.parse()
    assert "Stockholm" in (completion.choices[0].message.content or "")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    conversation_id = raw.headers["x-alice-conversation-id"]
    rows = stored_rows(
        settings.resolved_data_dir,
        "SELECT role, opened(content, content_key) FROM messages "
        "WHERE conversation_id = ? ORDER BY seq",
        conversation_id,
    )
    assert rows == [("user", QUESTION), ("assistant", completion.choices[0].message.content)]


def test_completion_streaming_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gemma-3-270m",
        messages=[
            {"role": "system", "content": "Du är Alice, en hjälpsam AI-assistent."},
            # This wording: with this system prompt the model answers "Stockholm" on
            # every llama.cpp build tried (see tests/alice/llm/test_llamacpp.py).
            {"role": "user", "content": "Vilken stad är Sveriges huvudstad?"},
        ],
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Stockholm" in text
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_a_conversation_can_be_continued_by_header(client: openai.OpenAI, alice_url: str) -> None:
    first = client.chat.completions.with_raw_response.create(
        model="gemma-3-270m", messages=[{"role": "user", "content": "Hej!"}], max_tokens=16
    )
    conversation_id = first.headers["x-alice-conversation-id"]
    second = client.chat.completions.with_raw_response.create(
        model="gemma-3-270m",
        messages=[{"role": "user", "content": "Tack!"}],
        max_tokens=16,
        extra_headers={"X-Alice-Conversation-Id": conversation_id},
    )
    assert second.headers["x-alice-conversation-id"] == conversation_id
    import httpx

    stored = httpx.get(f"{alice_url}/api/conversations/{conversation_id}").json()
    assert [m["content"] for m in stored["messages"] if m["role"] == "user"] == ["Hej!", "Tack!"]


def test_sdk_errors_carry_alice_codes(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hej"}]
        )
    assert info.value.body is not None
    assert info.value.body["code"] == "model-not-found"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(
            model="gemma-3-270m", messages=[{"role": "assistant", "content": "Hej"}]
        )
