"""What authentication and rate limiting add to a request (OWASP API2/API4 controls).

Four ``alice serve`` processes side by side, identical but for their security settings:

- ``open``: ``ALICE_AUTH=off``, ``ALICE_RATE_LIMIT=off`` (the baseline);
- ``auth``: API keys on, rate limits off;
- ``auth+memory``: API keys and the in-process token buckets;
- ``auth+redis``: API keys and the Redis token buckets (the local Redis, one Lua script
  per request, under a unique prefix deleted afterwards).

Every request is ``GET /v1/models`` with a valid key (the baseline ignores it): a route
that touches neither the model nor the database, so the difference between targets is
the security middleware and nothing else. Limits are set far above the load (nothing is
refused: the cost measured is that of the check). One keep-alive connection per target,
one request at a time, targets interleaved in rounds whose order rotates, after an
uncounted warm-up. Added latency = target minus ``open``, p50 and p99, with a bootstrap
95% confidence interval.

In process, for context: an `Authenticator` lookup served from its cache, and one
`MemoryRateLimiter` / `RedisRateLimiter` hit, timed one call at a time.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio

from alice.security.auth import Authenticator
from alice.security.keys import Principal, hash_key
from alice.security.ratelimit import BucketSpec, MemoryRateLimiter, RedisRateLimiter
from bench.alice_server import ALICE_AUTH_HEADERS, BENCH_KEY, alice_process, env_pairs
from bench.loadgen import run_in_loop
from bench.processes import ManagedProcess, free_port, loopback_url
from bench.stats import added_latency, summarize

__all__ = ["AuthParams", "run_auth"]

TARGET_ADDED_P99_MS = 1.0
REDIS_URL = "redis://127.0.0.1:6379/0"
PATH = "/v1/models"
BASELINE = "open"


@dataclass(frozen=True)
class AuthParams:
    """How much to measure."""

    rounds: int = 10
    requests_per_round: int = 400
    warmup: int = 300
    inprocess_calls: int = 5000
    alice_env: tuple[str, ...] = ()
    quick: bool = False


def _targets(prefix: str) -> dict[str, dict[str, str]]:
    never_refused = {
        "ALICE_RATE_LIMIT_REQUESTS": "1000000",
        "ALICE_RATE_LIMIT_WINDOW_S": "1",
        "ALICE_RATE_LIMIT_IP_REQUESTS": "1000000",
    }
    return {
        BASELINE: {"ALICE_AUTH": "off", "ALICE_RATE_LIMIT": "off"},
        "auth": {"ALICE_AUTH": "keys", "ALICE_RATE_LIMIT": "off"},
        "auth+memory": {"ALICE_AUTH": "keys", "ALICE_RATE_LIMIT": "memory", **never_refused},
        "auth+redis": {
            "ALICE_AUTH": "keys",
            "ALICE_RATE_LIMIT": "redis",
            "ALICE_REDIS_URL": REDIS_URL,
            "ALICE_REDIS_PREFIX": prefix,
            **never_refused,
        },
    }


def _timed(client: httpx.Client, count: int) -> list[float]:
    samples: list[float] = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(PATH)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{PATH} answered {response.status_code}: {response.text[:200]}")
        samples.append(elapsed)
    return samples


def _measure(urls: dict[str, str], params: AuthParams, log: Any) -> dict[str, list[float]]:
    clients = {
        name: httpx.Client(base_url=url, headers=ALICE_AUTH_HEADERS, trust_env=False, timeout=10)
        for name, url in urls.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in urls}
    try:
        for client in clients.values():
            _timed(client, params.warmup)
        names = list(urls)
        for round_index in range(params.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name] += _timed(clients[name], params.requests_per_round)
            last = {n: sorted(samples[n][-params.requests_per_round :]) for n in names}
            medians = ", ".join(f"{n} {v[len(v) // 2]:.3f}" for n, v in last.items())
            log(f"  round {round_index + 1}/{params.rounds}: p50 ms {medians}")
    finally:
        for client in clients.values():
            client.close()
    return samples


class _Keys:
    """The one key the in-process `Authenticator` is asked about (a store stand-in)."""

    def __init__(self) -> None:
        self.principal = Principal("default", "k", frozenset({"chat"}))

    async def principal_by_hash(self, digest: str) -> Principal | None:
        return self.principal if digest == hash_key(BENCH_KEY) else None

    async def touch(self, key_id: str) -> None:
        return None


async def _inprocess(params: AuthParams, prefix: str) -> dict[str, Any]:
    def us(samples: list[float]) -> dict[str, float | int]:
        return summarize([s * 1000 for s in samples])

    async def time_calls(call: Any) -> list[float]:
        out = []
        for _ in range(params.inprocess_calls):
            start = time.perf_counter()
            await call()
            out.append((time.perf_counter() - start) * 1000)
        return out

    authenticator = Authenticator(_Keys(), ttl_s=3600)  # type: ignore[arg-type]
    spec = BucketSpec(requests=1_000_000, window_s=1, burst=1_000_000)
    memory = MemoryRateLimiter()
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    limiter = RedisRateLimiter(client, prefix=prefix)
    result: dict[str, Any] = {
        "authenticate_cached_us": us(
            await time_calls(lambda: authenticator.authenticate(BENCH_KEY))
        ),
        "memory_hit_us": us(await time_calls(lambda: memory.hit("key:k", spec))),
    }
    try:
        result["redis_hit_us"] = us(await time_calls(lambda: limiter.hit("key:k", spec)))
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        result["redis_keys_left_after_cleanup"] = len(
            [k async for k in client.scan_iter(match=f"{prefix}*")]
        )
        await limiter.aclose()
    return result


def _analysis(samples: dict[str, list[float]]) -> dict[str, Any]:
    return added_latency(samples, BASELINE)


def _targets_met(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    for name in ("auth+memory", "auth+redis", "auth"):
        added = analysis["added_ms"][name]
        checks.append(
            {
                "name": f"{name}: added p99 per request",
                "value": added["p99"],
                "unit": "ms",
                "limit": f"< {TARGET_ADDED_P99_MS}",
                "passed": added["p99"] < TARGET_ADDED_P99_MS,
                "ci95": added["ci95"]["p99"],
                "headline": name != "auth",
            }
        )
    return checks


def run_auth(params: AuthParams, log: Any = print) -> dict[str, Any]:
    """Start the four targets, measure them interleaved, stop them."""
    prefix = f"alice-bench-auth-{secrets.token_hex(4)}:"
    targets = _targets(prefix)
    common = {
        "ALICE_PROVIDER": "openai",
        # Never called: GET /v1/models answers from the settings.
        "ALICE_OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "ALICE_MODEL": "bench-model",
        "ALICE_GUARDIAN_ENABLED": "false",
        "ALICE_CACHE": "off",
        **env_pairs(params.alice_env),
    }
    with tempfile.TemporaryDirectory(prefix="alice-bench-auth-") as tmp:
        work = Path(tmp)
        servers: dict[str, ManagedProcess] = {}
        urls: dict[str, str] = {}
        for name, settings in targets.items():
            data_dir = work / name.replace("+", "-")
            data_dir.mkdir()
            port = free_port()
            servers[name] = alice_process(
                port=port, data_dir=data_dir, log_dir=work, settings={**common, **settings}
            )
            urls[name] = loopback_url(port)
        with ExitStack() as stack:
            for server in servers.values():
                stack.enter_context(server)
            for name, server in servers.items():
                server.wait_ready(urls[name] + "/health", timeout_s=120)
            log("4 targets ready: " + ", ".join(targets))
            samples = _measure(urls, params, log)
    inprocess = run_in_loop(lambda: _inprocess(params, prefix + "inproc:"))
    cleanup = asyncio.run(_delete_prefix(prefix))
    analysis = _analysis(samples)
    analysis["inprocess"] = inprocess
    analysis["redis_keys_left_after_cleanup"] = cleanup
    parameters = asdict(params)
    parameters["targets"] = {name: {**common, **s} for name, s in targets.items()}
    return {
        "parameters": parameters,
        "analysis": analysis,
        "samples_ms": {k: [round(v, 4) for v in vs] for k, vs in samples.items()},
        "targets_met": _targets_met(analysis),
    }


async def _delete_prefix(prefix: str) -> int:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        return len([k async for k in client.scan_iter(match=f"{prefix}*")])
    finally:
        await client.aclose()
