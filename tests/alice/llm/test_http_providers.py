"""The OpenAI-compatible and Ollama providers against real HTTP servers.

The OpenAI-compatible upstream is a real Alice server (the embedded model behind its
own /v1 API); the Ollama upstream speaks Ollama's protocol with the real model behind
it; faults come from a real server that misbehaves on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from alice.errors import (
    AliceError,
    InvalidRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
    UpstreamError,
)
from alice.llm.provider import Provider
from alice.llm.providers._http import UpstreamConfig
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.llm.providers.ollama import OllamaProvider
from alice.llm.providers.openai import OpenAIProvider
from alice.llm.types import ChatMessage, Chunk, CompletionRequest
from tests.support import faulty
from tests.support.ollama import ollama_app
from tests.support.servers import free_port, serve_in_thread

QUESTION = CompletionRequest(
    messages=(ChatMessage("user", "Vad är huvudstaden i Sverige?"),),
    model="gemma-3-270m",
    max_tokens=32,
    temperature=0.0,
)


async def _collect(provider: Provider, request: CompletionRequest = QUESTION) -> list[Chunk]:
    await provider.start()
    try:
        return [chunk async for chunk in provider.stream(request)]
    finally:
        await provider.aclose()


@pytest.fixture(scope="module")
def faulty_url() -> Iterator[str]:
    with serve_in_thread(faulty.app) as url:
        yield url


async def test_openai_provider_streams_a_real_answer(alice_url: str) -> None:
    provider = OpenAIProvider(UpstreamConfig(f"{alice_url}/v1"), models=("gemma-3-270m",))
    chunks = await _collect(provider)
    assert "Stockholm" in "".join(c.text for c in chunks)
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert (await _health(provider)).state == "healthy"


async def _health(provider: Provider):  # type: ignore[no-untyped-def]
    await provider.start()
    try:
        return await provider.health()
    finally:
        await provider.aclose()


async def test_ollama_provider_streams_a_real_answer(llm: LlamaCppProvider) -> None:
    with serve_in_thread(ollama_app(llm, model_tag="gemma3:270m")) as url:
        provider = OllamaProvider(UpstreamConfig(url), models=("gemma3:270m",))
        chunks = await _collect(provider, replace(QUESTION, model="gemma3:270m"))
        assert "Stockholm" in "".join(c.text for c in chunks)
        assert chunks[-1].finish_reason == "stop"
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
        assert (await _health(provider)).state == "healthy"
        missing = OllamaProvider(UpstreamConfig(url), models=("llama3:8b",))
        assert (await _health(missing)).state == "degraded"
        with pytest.raises(UpstreamError, match="not found"):
            await _collect(missing, replace(QUESTION, model="llama3:8b"))


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        ("status-500", UpstreamError, 502),
        ("status-429", ModelUnavailableError, 503),
        ("status-400", InvalidRequestError, 422),
        ("refuse-auth", UpstreamError, 502),
        ("hang", ModelTimeoutError, 504),
        ("garbage", UpstreamError, 502),
        ("cut", UpstreamError, 502),
    ],
)
async def test_upstream_faults_map_to_typed_errors(
    faulty_url: str, fault: str, error: type[AliceError], status: int
) -> None:
    config = UpstreamConfig(f"{faulty_url}/{fault}/v1", read_timeout_s=0.5)
    provider = OpenAIProvider(config, models=("faulty",))
    with pytest.raises(error) as info:
        await _collect(provider)
    assert info.value.status == status
    assert "Traceback" not in info.value.message


async def test_rate_limited_upstream_passes_its_retry_after_on(faulty_url: str) -> None:
    provider = OpenAIProvider(UpstreamConfig(f"{faulty_url}/status-429/v1"), models=("f",))
    with pytest.raises(ModelUnavailableError) as info:
        await _collect(provider)
    assert info.value.retry_after == 7


async def test_unreachable_upstream_is_unavailable_and_unhealthy() -> None:
    config = UpstreamConfig(f"http://127.0.0.1:{free_port()}/v1", connect_timeout_s=1)
    provider = OpenAIProvider(config, models=("m",))
    with pytest.raises(ModelUnavailableError):
        await _collect(provider)
    assert (await _health(provider)).state == "unhealthy"
    ollama = OllamaProvider(UpstreamConfig(f"http://127.0.0.1:{free_port()}"), models=("m",))
    with pytest.raises(ModelUnavailableError):
        await _collect(ollama)
