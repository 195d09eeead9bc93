"""The response cache as a client sees it, on the real model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai

from alice.app import create_app
from alice.health import ComponentHealth
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.llm.types import Chunk, CompletionRequest
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread

QUESTION = {"text": "Vad är huvudstaden i Sverige?", "temperature": 0}


class CountingProvider:
    """The real model, counting how often it is asked."""

    def __init__(self, inner: LlamaCppProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.models = inner.models
        self.calls = 0

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def health(self) -> ComponentHealth:
        return await self.inner.health()

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        self.calls += 1
        await asyncio.sleep(0.3)  # keep the call in flight long enough to be shared
        async for chunk in self.inner.stream(request):
            yield chunk


def test_a_repeated_deterministic_question_is_answered_from_the_cache(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    provider = CountingProvider(llm)
    with serve_in_thread(create_app(make_settings(), provider=provider)) as url:
        first = httpx.post(f"{url}/api/chat", json=QUESTION, timeout=60).json()
        second = httpx.post(f"{url}/api/chat", json=QUESTION, timeout=60).json()
        warm = httpx.post(f"{url}/api/chat", json={**QUESTION, "temperature": 0.7}, timeout=60)
        stored = httpx.get(f"{url}/api/conversations/{second['conversation_id']}").json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["text"] == first["text"] and "Stockholm" in second["text"]
    assert second["usage"] == first["usage"]
    assert warm.json()["cached"] is False
    assert provider.calls == 2  # the first question and the warm one
    # A cached answer is still a stored turn: nothing acknowledged is lost.
    assert [m["content"] for m in stored["messages"]] == [QUESTION["text"], first["text"]]


def test_identical_concurrent_requests_share_one_model_call(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    provider = CountingProvider(llm)
    question = {"text": "What is the capital of Germany?", "temperature": 0, "stream": True}
    with serve_in_thread(create_app(make_settings(), provider=provider)) as url:

        def ask() -> str:
            with httpx.stream("POST", f"{url}/api/chat", json=question, timeout=60) as r:
                return r.read().decode()

        with ThreadPoolExecutor(3) as pool:
            bodies = list(pool.map(lambda _: ask(), range(3)))
    assert provider.calls == 1
    assert all("Berlin" in body for body in bodies)
    assert sum('"cached":true' in body for body in bodies) == 2


def test_replicas_share_answers_through_redis(
    make_settings: SettingsFactory, llm: LlamaCppProvider, redis_url: str, redis_prefix: str
) -> None:
    provider = CountingProvider(llm)
    settings = make_settings(cache="redis", redis_url=redis_url, redis_prefix=redis_prefix)
    with (
        serve_in_thread(create_app(settings, provider=provider)) as replica_a,
        serve_in_thread(create_app(settings, provider=provider)) as replica_b,
    ):
        first = httpx.post(f"{replica_a}/api/chat", json=QUESTION, timeout=60).json()
        second = httpx.post(f"{replica_b}/api/chat", json=QUESTION, timeout=60).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["text"] == first["text"]
    assert provider.calls == 1


def test_a_dead_redis_never_fails_a_chat(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    settings = make_settings(cache="redis", redis_url="redis://127.0.0.1:1/0")
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        answers = [httpx.post(f"{url}/api/chat", json=QUESTION, timeout=60) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert all(a.json()["cached"] is False for a in answers)


def _events(body: str) -> list[tuple[str, dict[str, Any]]]:
    frames = [f.split("\n") for f in body.split("\n\n") if f]
    return [(f[0].removeprefix("event: "), json.loads(f[1].removeprefix("data: "))) for f in frames]


def test_a_streamed_cache_hit_is_the_same_event_stream(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    provider = CountingProvider(llm)
    question = {"model": "gemma-3-270m", "temperature": 0, "stream": True}
    question["messages"] = [{"role": "user", "content": "Vilken stad är Sveriges huvudstad?"}]
    with serve_in_thread(create_app(make_settings(), provider=provider)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        texts = []
        for _ in range(2):
            chunks = list(client.chat.completions.create(**question))
            texts.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
            assert chunks[-1].choices[0].finish_reason in {"stop", "length"}
        native = [
            httpx.post(f"{url}/api/chat", json={**QUESTION, "stream": True}, timeout=60)
            for _ in range(2)
        ]
    assert provider.calls == 2  # one per distinct question
    assert texts[0] == texts[1] and "Stockholm" in texts[1]
    first, hit = (_events(r.text) for r in native)
    assert [name for name, _ in hit] == ["start", "delta", "done"]
    assert "".join(d["text"] for name, d in first if name == "delta") == hit[1][1]["text"]
    assert (first[-1][1]["cached"], hit[-1][1]["cached"]) == (False, True)
    assert native[1].headers["content-type"].startswith("text/event-stream")
