"""Response-cache hit latency against a model call, through Alice's HTTP API.

Alice with the real embedded model (``ALICE_PROVIDER=llamacpp``, the bundled Gemma 3
270M), ``ALICE_CACHE=memory``, Guardian sampling off, persistence on (SQLite,
``synchronous=full``: a cache hit still commits the user's message and the answer).

Distinct temperature-0 questions, half first asked whole (``POST /api/chat``), half
first asked streamed (``"stream": true``). The first request of a question is a miss
(a model call); every later one is a hit. The order interleaves them: the miss of
question ``i`` comes between the hits of question ``i - 1`` and those of ``i``, and
whole and streamed hits alternate, so misses and hits see the same machine. Every
response says whether it came from the cache (``cached``), which the benchmark checks
against what it expected. Measured with one keep-alive connection, never concurrently:

- whole: request sent → complete JSON answer;
- streamed: request sent → first ``delta`` event (TTFT) and → ``done`` event;
- ``GET /health`` through the same client, interleaved: the floor of one HTTP round
  trip through Alice, for context.

In process, for context: ``MemoryCache.get`` and ``RedisCache.get`` (against the local
Redis at ``127.0.0.1:6379``, under a unique prefix deleted afterwards), hits, timed one
call at a time.
"""

from __future__ import annotations

import secrets
import sqlite3
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.alice_server import alice_client, embedded_alice, env_pairs
from bench.loadgen import run_in_loop
from bench.rawhttp import sse_events
from bench.stats import summarize

__all__ = ["CacheHitParams", "run_cache_hit"]

TARGETS = {"hit_p99_ms": 5.0}
REDIS_URL = "redis://127.0.0.1:6379/0"


def _questions(count: int) -> list[str]:
    """``count`` distinct short questions (Swedish and English, simple arithmetic)."""
    out: list[str] = []
    for i in range(count):
        a, b = 3 + i, 7 + 2 * i
        if i % 2 == 0:
            out.append(f"Vad är {a} plus {b}?")
        else:
            out.append(f"What is {a} times {b}?")
    return out


@dataclass(frozen=True)
class CacheHitParams:
    """Questions, hits per question, answer length and in-process repetitions."""

    questions_per_mode: int = 24
    hits_per_question: int = 16
    max_tokens: int = 32
    warmup_questions: int = 2
    inprocess_entries: int = 200
    memory_gets: int = 20000
    redis_gets: int = 5000
    alice_env: tuple[str, ...] = ()
    quick: bool = False


@dataclass
class _Samples:
    """Times (ms) by kind: ``miss-whole``, ``hit-stream-ttft``, ``health``, ..."""

    ms: dict[str, list[float]] = field(default_factory=dict)
    unexpected: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, value: float) -> None:
        self.ms.setdefault(kind, []).append(value)


class _Client:
    """One keep-alive connection to Alice; whole and streamed chats, health checks."""

    def __init__(self, base_url: str, params: CacheHitParams) -> None:
        self._client = alice_client(base_url)
        self._params = params
        self._headers = {"content-type": "application/json"}
        self.chats = 0

    def close(self) -> None:
        self._client.close()

    def _body(self, question: str, *, stream: bool, temperature: float = 0.0) -> bytes:
        return orjson.dumps(
            {
                "text": question,
                "stream": stream,
                "temperature": temperature,
                "max_tokens": self._params.max_tokens,
            }
        )

    def health(self) -> float:
        started = time.perf_counter()
        response = self._client.get("/health")
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"/health answered {response.status_code}")
        return elapsed

    def whole(self, question: str, temperature: float = 0.0) -> tuple[float, bool]:
        """(ms to the complete answer, whether it was cached)."""
        content = self._body(question, stream=False, temperature=temperature)
        self.chats += 1
        started = time.perf_counter()
        response = self._client.post("/api/chat", content=content, headers=self._headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"Alice answered {response.status_code}: {response.content!r}")
        answer = orjson.loads(response.content)
        if answer.get("offline"):
            raise RuntimeError("Alice gave its offline answer")
        return elapsed, bool(answer.get("cached"))

    def streamed(self, question: str) -> tuple[float, float, bool]:
        """(ms to the first delta, ms to the done event, whether it was cached)."""
        content = self._body(question, stream=True)
        self.chats += 1
        started = time.perf_counter()
        first: float | None = None
        done: dict[str, Any] | None = None
        with self._client.stream(
            "POST", "/api/chat", content=content, headers=self._headers
        ) as response:
            if response.status_code != 200:
                raise RuntimeError(f"Alice answered {response.status_code}: {response.read()!r}")
            for event, payload in sse_events(response.iter_raw()):
                if event == "delta" and first is None:
                    first = time.perf_counter()
                elif event == "done":
                    done = payload
                elif event == "error":
                    raise RuntimeError(f"Alice streamed an error: {payload}")
        finished = time.perf_counter()
        if first is None or done is None:
            raise RuntimeError(f"Alice answered {question!r} without text or done event")
        if done.get("offline"):
            raise RuntimeError("Alice gave its offline answer")
        return (first - started) * 1000, (finished - started) * 1000, bool(done.get("cached"))


def _ask(
    client: _Client, samples: _Samples, question: str, *, stream: bool, expect_hit: bool
) -> None:
    kind = "hit" if expect_hit else "miss"
    if stream:
        ttft, total, cached = client.streamed(question)
        samples.add(f"{kind}-stream-ttft", ttft)
        samples.add(f"{kind}-stream-total", total)
    else:
        total, cached = client.whole(question)
        samples.add(f"{kind}-whole", total)
    if cached != expect_hit:
        samples.unexpected.append(
            {"question": question, "stream": stream, "expected_hit": expect_hit, "cached": cached}
        )
    samples.add("health", client.health())


def _hits(
    client: _Client, samples: _Samples, question: str, count: int, *, start_stream: bool
) -> None:
    for k in range(count):
        _ask(client, samples, question, stream=(k % 2 == 0) == start_stream, expect_hit=True)


def _measure_http(client: _Client, params: CacheHitParams, log: Any) -> _Samples:
    # Uncounted warm-up: sampled answers (never cached) and a few cached ones.
    for question in _questions(2):
        client.whole("Warm-up: " + question, temperature=0.7)
    warm = _Samples()
    for question in (f"Uppvärmning {i}: hej!" for i in range(params.warmup_questions)):
        _ask(client, warm, question, stream=False, expect_hit=False)
        _hits(client, warm, question, 4, start_stream=True)
    samples = _Samples()
    questions = _questions(2 * params.questions_per_mode)
    half = params.hits_per_question // 2
    previous: str | None = None
    for index, question in enumerate(questions):
        # Misses alternate between whole and streamed; so do the hits after them.
        _ask(client, samples, question, stream=index % 2 == 1, expect_hit=False)
        if previous is not None:
            _hits(client, samples, previous, params.hits_per_question - half, start_stream=True)
        _hits(client, samples, question, half, start_stream=False)
        previous = question
        if (index + 1) % 8 == 0:
            log(
                f"  {index + 1}/{len(questions)} questions: hit whole p50 "
                f"{statistics.median(samples.ms['hit-whole']):.2f} ms, miss whole p50 "
                f"{statistics.median(samples.ms['miss-whole']):.0f} ms"
            )
    if previous is not None:
        _hits(client, samples, previous, params.hits_per_question - half, start_stream=True)
    return samples


def _answer() -> Any:
    from alice.cache import CachedAnswer

    return CachedAnswer(
        text="Stockholm är Sveriges huvudstad. " * 4,
        model="gemma-3-270m",
        finish_reason="stop",
        prompt_tokens=128,
        completion_tokens=32,
        created_at=time.time(),
    )


async def _time_gets(cache: Any, keys: list[str], repetitions: int) -> dict[str, Any]:
    """Times (µs) of ``repetitions`` hits, one ``await cache.get`` at a time."""
    times: list[float] = []
    misses = 0
    for index in range(repetitions):
        key = keys[index % len(keys)]
        started = time.perf_counter_ns()
        hit = await cache.get(key)
        times.append((time.perf_counter_ns() - started) / 1000)
        misses += hit is None
    return {"us": summarize(times), "misses": misses}


async def _inprocess(params: CacheHitParams) -> dict[str, Any]:
    from alice.app import build_cache
    from alice.cache import MemoryCache, RedisCache, cache_key
    from alice.llm.types import ChatMessage, CompletionRequest
    from alice.settings import Settings

    keys = []
    for index in range(params.inprocess_entries):
        key = cache_key(
            CompletionRequest(
                messages=(ChatMessage("user", f"Fråga {index}"),),
                model="gemma-3-270m",
                max_tokens=params.max_tokens,
                temperature=0.0,
            ),
            scope="default",
        )
        assert key is not None
        keys.append(key)
    key_us: list[float] = []
    request = CompletionRequest(
        messages=(ChatMessage("system", "Du är Alice."), ChatMessage("user", "Hej!")),
        model="gemma-3-270m",
        max_tokens=params.max_tokens,
        temperature=0.0,
    )
    for _ in range(2000):
        started = time.perf_counter_ns()
        cache_key(request, scope="default")
        key_us.append((time.perf_counter_ns() - started) / 1000)
    answer = _answer()
    memory = MemoryCache(max_entries=500, ttl_s=900.0)
    for key in keys:
        await memory.set(key, answer)
    result: dict[str, Any] = {
        "cache_key_us": summarize(key_us),
        "memory_get": await _time_gets(memory, keys, params.memory_gets),
    }
    prefix = f"alice-bench-{secrets.token_hex(6)}:"
    settings = Settings(_env_file=None, cache="redis", redis_url=REDIS_URL, redis_prefix=prefix)
    redis_cache = build_cache(settings)  # exactly as Alice builds it
    assert isinstance(redis_cache, RedisCache)
    try:
        for key in keys:
            await redis_cache.set(key, answer)
        if redis_cache.stats.errors:
            result["redis_get"] = {"skipped": f"Redis at {REDIS_URL} is not reachable"}
        else:
            result["redis_get"] = await _time_gets(redis_cache, keys, params.redis_gets)
            result["redis_get"]["errors"] = redis_cache.stats.errors
    finally:
        try:
            await redis_cache.clear()
            result["redis_prefix"] = prefix
            result["redis_keys_left_after_cleanup"] = await _count_keys(prefix)
        finally:
            await redis_cache.aclose()
    return result


async def _count_keys(prefix: str) -> int:
    """Keys under ``prefix`` in the local Redis (0 after the cleanup)."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        return len([k async for k in client.scan_iter(match=prefix + "*")])
    finally:
        await client.aclose()


def _stored_messages(data_dir: Path) -> dict[str, int]:
    """Messages in Alice's SQLite database by role and status (read after it stopped)."""
    with sqlite3.connect(f"file:{data_dir / 'alice.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT role, status, COUNT(*) FROM messages GROUP BY role, status")
        return {f"{role}/{status}": count for role, status, count in rows}


def _analysis(samples: _Samples) -> dict[str, Any]:
    summary = {kind: summarize(values) for kind, values in samples.ms.items()}

    def ratio(miss: str, hit: str, pct: str) -> float | None:
        if summary.get(miss, {}).get(pct) and summary.get(hit, {}).get(pct):
            return round(summary[miss][pct] / summary[hit][pct], 1)
        return None

    return {
        "ms": summary,
        "miss_over_hit": {
            mode: {pct: ratio(f"miss-{mode}", f"hit-{mode}", pct) for pct in ("p50", "p99")}
            for mode in ("whole", "stream-ttft", "stream-total")
        },
        "hit_over_health": {
            mode: round(summary[f"hit-{mode}"]["p50"] - summary["health"]["p50"], 3)
            for mode in ("whole", "stream-ttft", "stream-total")
            if f"hit-{mode}" in summary
        },
        "unexpected_cache_state": samples.unexpected,
    }


def _targets_met(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    limit = TARGETS["hit_p99_ms"]
    checks = []
    for mode, label in (
        ("whole", "whole answer"),
        ("stream-ttft", "streamed, first delta"),
        ("stream-total", "streamed, done event"),
    ):
        s = analysis["ms"][f"hit-{mode}"]
        checks.append(
            {
                "name": f"cache hit through HTTP ({label}), p99",
                "value": s["p99"],
                "unit": "ms",
                "limit": f"< {limit}",
                "passed": s["p99"] < limit,
                "headline": mode != "stream-total",
            }
        )
    checks.append(
        {
            "name": "responses whose cached flag matched hit/miss",
            "value": len(analysis["unexpected_cache_state"]),
            "unit": "mismatches",
            "limit": "<= 0",
            "passed": not analysis["unexpected_cache_state"],
            "headline": False,
        }
    )
    return checks


def run_cache_hit(params: CacheHitParams, log: Any = print) -> dict[str, Any]:
    """Start Alice with the model and the memory cache; measure hits and misses; stop."""
    settings = {
        "ALICE_PROVIDER": "llamacpp",
        "ALICE_CACHE": "memory",
        "ALICE_GUARDIAN_ENABLED": "false",
        **env_pairs(params.alice_env),
    }
    with tempfile.TemporaryDirectory(prefix="alice-bench-cache-") as tmp:
        with embedded_alice(Path(tmp), settings, log) as alice:
            data_dir = alice.data_dir
            client = _Client(alice.base_url, params)
            try:
                samples = _measure_http(client, params, log)
            finally:
                client.close()
        stored = _stored_messages(data_dir)
        stored["chat_requests_sent"] = client.chats
    inprocess = run_in_loop(lambda: _inprocess(params))
    analysis = _analysis(samples)
    analysis["stored_messages"] = stored
    analysis["inprocess"] = inprocess
    parameters = asdict(params)
    parameters["alice_settings"] = settings
    parameters["questions"] = _questions(2 * params.questions_per_mode)
    return {
        "parameters": parameters,
        "analysis": analysis,
        "samples_ms": {k: [round(v, 3) for v in vs] for k, vs in samples.ms.items()},
        "targets_met": _targets_met(analysis),
    }
