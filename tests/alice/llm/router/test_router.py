"""The router against real backends with faults injected on purpose.

Backends: the real embedded model, and OpenAI-compatible providers pointed at a
fault-injecting proxy in front of a real Alice server (so answers that get through are
real). Every test asserts which of the specified outcomes happened: a fallback, a
retry, a clean error, a shed request, or the offline answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import httpx
import pytest

from alice.errors import ModelTimeoutError, OverloadedError, UpstreamError
from alice.llm.provider import Provider
from alice.llm.providers._http import UpstreamConfig
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.llm.providers.offline import OFFLINE_MODEL, OfflineProvider
from alice.llm.providers.openai import OpenAIProvider
from alice.llm.router.breaker import BreakerConfig
from alice.llm.router.policy import Backoff
from alice.llm.router.router import ModelRouter, Route, RouterConfig
from alice.llm.types import ChatMessage, Chunk, CompletionRequest
from tests.support.fault_proxy import fault_proxy
from tests.support.servers import serve_in_thread

MODEL = "gemma-3-270m"


def _question(text: str = "Vad är huvudstaden i Sverige?") -> CompletionRequest:
    return CompletionRequest(
        messages=(ChatMessage("user", text),), model=MODEL, max_tokens=48, temperature=0.0
    )


@pytest.fixture
def proxy(alice_url: str) -> Iterator[str]:
    with serve_in_thread(fault_proxy(f"{alice_url}/v1")) as url:
        yield url


def _remote(proxy: str, fault: str) -> OpenAIProvider:
    return OpenAIProvider(UpstreamConfig(f"{proxy}/{fault}/v1", read_timeout_s=30), models=(MODEL,))


def _calls(proxy: str, fault: str) -> int:
    return int(httpx.get(f"{proxy}/_calls/{fault}").json()["calls"])


async def _router(
    providers: dict[str, Provider],
    chain: Sequence[str],
    *,
    offline: bool = False,
    **config: object,
) -> ModelRouter:
    values: dict[str, object] = {
        "first_token_timeout_s": 5.0,
        "stall_timeout_s": 1.0,
        "backoff": Backoff(base_s=0.01, max_s=0.05, retries=2),
    }
    values.update(config)
    router = ModelRouter(
        providers=providers,
        tiers={"primary": [Route(backend, MODEL) for backend in chain]},
        config=RouterConfig(**values),  # type: ignore[arg-type]
        last_resort=OfflineProvider() if offline else None,
    )
    for backend_id, provider in providers.items():
        if not isinstance(provider, LlamaCppProvider):  # the shared model is started already
            await router.backends[backend_id].provider.start()
    return router


async def _answer(
    router: ModelRouter, request: CompletionRequest | None = None
) -> tuple[str, Chunk]:
    chunks = [c async for c in router.stream(request or _question())]
    return "".join(c.text for c in chunks), chunks[-1]


async def _close_remote(router: ModelRouter) -> None:
    for backend in router.backends.values():
        if not isinstance(backend.provider, LlamaCppProvider):
            await backend.provider.aclose()


async def test_a_failing_primary_falls_back_to_the_next_backend(
    proxy: str, llm: LlamaCppProvider
) -> None:
    router = await _router({"remote": _remote(proxy, "500"), "local": llm}, ["remote", "local"])
    text, final = await _answer(router)
    await _close_remote(router)
    assert "Stockholm" in text
    assert final.model == MODEL
    assert _calls(proxy, "500") == 1  # a 500 is a backend error: no retry, fail over


async def test_transient_errors_are_retried_with_backoff_then_succeed(proxy: str) -> None:
    router = await _router({"remote": _remote(proxy, "fail-2")}, ["remote"])
    text, _ = await _answer(router)
    await _close_remote(router)
    assert "Stockholm" in text
    assert _calls(proxy, "fail-2") == 3


async def test_a_slow_but_working_backend_is_waited_for(proxy: str) -> None:
    # The stall limit is raised: this test is about the first token's wait, and the real
    # model behind the proxy can pause over a second between tokens on a loaded machine.
    router = await _router({"remote": _remote(proxy, "slow-0.5")}, ["remote"], stall_timeout_s=5.0)
    text, _ = await _answer(router)
    await _close_remote(router)
    assert "Stockholm" in text


async def test_a_hung_backend_times_out_is_marked_down_and_the_next_one_answers(
    proxy: str, llm: LlamaCppProvider
) -> None:
    router = await _router(
        {"remote": _remote(proxy, "hang"), "local": llm},
        ["remote", "local"],
        first_token_timeout_s=0.5,
        backoff=Backoff(retries=0),
    )
    text, final = await _answer(router)
    assert "Stockholm" in text and final.model == MODEL
    assert router.status()["remote"]["breaker"] == "open"
    # Marked down: the next request does not even try it.
    await _answer(router)
    await _close_remote(router)
    assert _calls(proxy, "hang") == 1


async def test_a_stall_after_the_first_token_ends_the_stream_with_an_error(proxy: str) -> None:
    router = await _router({"remote": _remote(proxy, "stall-after-2")}, ["remote"])
    received: list[str] = []
    with pytest.raises(ModelTimeoutError):
        async for chunk in router.stream(_question("What is the capital of Germany?")):
            received.append(chunk.text)
    await _close_remote(router)
    assert len([t for t in received if t]) == 2
    assert _calls(proxy, "stall-after-2") == 1  # never retried after text went out


async def test_a_cut_after_the_first_token_is_an_error_not_a_retry(proxy: str) -> None:
    router = await _router({"remote": _remote(proxy, "cut-after-1")}, ["remote"])
    with pytest.raises(UpstreamError):
        await _answer(router, _question("What is the capital of Germany?"))
    await _close_remote(router)
    assert _calls(proxy, "cut-after-1") == 1


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Vad är huvudstaden i Sverige?", "offlineläge"),
        ("What is the capital of Sweden?", "offline mode"),
    ],
)
async def test_when_every_backend_is_down_the_offline_answer_speaks_the_users_language(
    proxy: str, question: str, expected: str
) -> None:
    router = await _router(
        {"a": _remote(proxy, "500"), "b": _remote(proxy, "hang")},
        ["a", "b"],
        offline=True,
        first_token_timeout_s=0.3,
        backoff=Backoff(retries=0),
        breaker=BreakerConfig(min_requests=1, cooldown_s=60),
    )
    text, final = await _answer(router, _question(question))
    health = await router.health()
    await _close_remote(router)
    assert expected in text
    assert final.model == OFFLINE_MODEL
    assert health.state == "degraded"


async def test_an_open_breaker_skips_the_backend_without_calling_it(
    proxy: str, llm: LlamaCppProvider
) -> None:
    router = await _router(
        {"remote": _remote(proxy, "500"), "local": llm},
        ["remote", "local"],
        breaker=BreakerConfig(min_requests=2, failure_rate=0.5, cooldown_s=60),
    )
    for _ in range(3):
        await _answer(router)
    await _close_remote(router)
    assert router.status()["remote"]["breaker"] == "open"
    assert _calls(proxy, "500") == 2


async def test_a_full_queue_is_refused_at_once(proxy: str) -> None:
    router = await _router(
        {"remote": _remote(proxy, "slow-1")}, ["remote"], concurrency=1, max_queue=0
    )
    first = asyncio.create_task(_answer(router))
    await asyncio.sleep(0.2)
    with pytest.raises(OverloadedError) as info:
        await _answer(router)
    assert info.value.retry_after is not None
    text, _ = await first
    await _close_remote(router)
    assert "Stockholm" in text


async def test_a_remote_backend_marked_down_is_probed_back_into_service(proxy: str) -> None:
    router = await _router(
        {"remote": _remote(proxy, "pass")}, ["remote"], breaker=BreakerConfig(cooldown_s=0.2)
    )
    router.killswitch("remote", "drill")
    assert router.status()["remote"]["breaker"] == "open"
    for _ in range(100):
        await asyncio.sleep(0.05)
        if router.status()["remote"]["breaker"] == "closed":
            break
    assert router.status()["remote"]["breaker"] == "closed"
    text, _ = await _answer(router)
    await _close_remote(router)
    assert "Stockholm" in text


async def test_a_killswitch_after_close_leaves_the_backend_alone(proxy: str) -> None:
    # A request still draining at shutdown may time out after the router closed: there is
    # nothing left to restart or probe, so the backend's state stays as it was.
    router = await _router({"remote": _remote(proxy, "pass")}, ["remote"])
    await router.aclose()
    router.killswitch("remote", "drill")
    assert router.status()["remote"]["breaker"] == "closed"
    assert (await router.backends["remote"].provider.health()).state == "unhealthy"
