"""Redis Sentinel failover: what a replica's Redis client loses, against redis-py's own.

Every round starts a throwaway master, its replica and one sentinel (real ``redis-server``
processes on free ports; the same harness as the test suite, `tests.support.redis`). Two
clients of the master run side by side, identical but for how they reconnect:

- ``alice``: the client Alice's cache and rate limiter get (`alice.app._redis` with
  ``ALICE_REDIS_SENTINELS``): every connect, a retry's included, asks the sentinel;
- ``stock``: redis-py's ``Sentinel.master_for`` with the same timeouts and the same one
  quick retry (the baseline): only a connection the pool hands out asks the sentinel.

Each client first opens ``pool`` connections (that many concurrent ``INCR``). Then the
failover, and only once it is complete (the sentinel names the replica, which answers as
master; after a coordinated failover the old master is a replica too) each client sends
``pool`` concurrent ``INCR`` twice. Counted: the operations that failed although Redis had
a master again. A failure is what the cache and the limiter see: the cache then skips
Redis for 5 s, the limiter uses a local bucket. Three failovers: ``lost`` (the master
shuts down and closes its connections), ``hung`` (the master's process is stopped, its
sockets left open: a hung host or a partition; the first command on each pooled
connection waits for the socket timeout) and ``coordinated`` (``SENTINEL
FAILOVER``: the old master is demoted and answers READONLY). The time the first burst
took is recorded too.

Steady state, for the price of asking the sentinel on every connect: ``INCR`` one at a
time on a connection kept open, the two clients alternating, p50/p99 and the difference.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from alice.app import REDIS_TIMEOUTS, _redis
from alice.settings import load_settings
from bench.stats import added_latency
from tests.support.redis import SentinelGroup, sentinel_group

__all__ = ["RedisFailoverParams", "run_redis_failover"]

TARGETS = ("alice", "stock")
SCENARIOS = ("lost", "hung", "coordinated")


@dataclass(frozen=True)
class RedisFailoverParams:
    """Rounds per failover, pooled connections per client, steady-state operations."""

    rounds: int = 4
    pool: int = 4
    steady_ops: int = 2000
    quick: bool = False


def _alice_client(group: SentinelGroup) -> redis.asyncio.Redis:
    saved = dict(os.environ)
    os.environ.update(
        ALICE_REDIS_SENTINELS=group.sentinels,
        ALICE_REDIS_SENTINEL_MASTER=group.master_name,
        ALICE_REDIS_URL="redis://127.0.0.1:6379/0",
    )
    try:
        return _redis(load_settings(_env_file=None))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _stock_client(group: SentinelGroup) -> tuple[Sentinel, redis.asyncio.Redis]:
    sentinel = Sentinel([("127.0.0.1", group.sentinel_port)], sentinel_kwargs=REDIS_TIMEOUTS)
    client = sentinel.master_for(group.master_name, retry=Retry(NoBackoff(), 1), **REDIS_TIMEOUTS)
    return sentinel, client


async def _burst(client: redis.asyncio.Redis, key: str, n: int) -> int:
    """``n`` concurrent INCR; how many failed."""
    results = await asyncio.gather(*(client.incr(key) for _ in range(n)), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, RedisError | OSError):
            raise result
    return sum(isinstance(r, BaseException) for r in results)


async def _failover_round(scenario: str, params: RedisFailoverParams) -> dict[str, Any]:
    with sentinel_group() as group:
        stock_sentinel, stock = _stock_client(group)
        clients = {"alice": _alice_client(group), "stock": stock}
        try:
            for name, client in clients.items():
                if await _burst(client, f"bench:{name}", params.pool):
                    raise RuntimeError(f"{name}: Redis failed before the failover")
            await asyncio.to_thread(group.replicated)
            started = time.monotonic()
            await asyncio.to_thread(
                {
                    "lost": group.lose_master,
                    "hung": group.freeze_master,
                    "coordinated": group.fail_over,
                }[scenario]
            )
            failover_s = time.monotonic() - started
            failed: dict[str, list[int]] = {}
            first_burst_s: dict[str, float] = {}
            for name, client in clients.items():
                clock = time.monotonic()
                failed[name] = [await _burst(client, f"bench:{name}", params.pool)]
                first_burst_s[name] = round(time.monotonic() - clock, 3)
                failed[name].append(await _burst(client, f"bench:{name}", params.pool))
        finally:
            for client in clients.values():
                await client.aclose()
            await stock_sentinel.aclose()
    return {
        "failover_s": round(failover_s, 3),
        "failed_after": failed,
        "first_burst_s": first_burst_s,
    }


async def _steady(params: RedisFailoverParams) -> dict[str, Any]:
    samples: dict[str, list[float]] = {name: [] for name in TARGETS}
    with sentinel_group() as group:
        stock_sentinel, stock = _stock_client(group)
        clients = {"alice": _alice_client(group), "stock": stock}
        try:
            for name, client in clients.items():
                for _ in range(200):  # warm-up
                    await client.incr(f"bench:{name}")
            for i in range(params.steady_ops):
                order = TARGETS if i % 2 == 0 else TARGETS[::-1]
                for name in order:
                    started = time.perf_counter()
                    await clients[name].incr(f"bench:{name}")
                    samples[name].append((time.perf_counter() - started) * 1000)
        finally:
            for client in clients.values():
                await client.aclose()
            await stock_sentinel.aclose()
    return added_latency(samples, baseline="stock")


def _targets_met(scenarios: dict[str, Any], steady: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for scenario in SCENARIOS:
        per_round = [sum(r["failed_after"]["alice"]) for r in scenarios[scenario]["rounds"]]
        checks.append(
            {
                "name": f"{scenario} master: Alice's operations failed after the failover",
                "value": sum(per_round),
                "unit": "ops",
                "limit": "<= 0",
                "passed": sum(per_round) == 0,
                "per_round": per_round,
            }
        )
    added = steady["added_ms"]["alice"]
    checks.append(
        {
            "name": "steady state: Alice's client added p50 per INCR",
            "value": added["p50"],
            "unit": "ms",
            "limit": "<= 0.05",
            "passed": added["p50"] <= 0.05,
            "ci95": list(added["ci95"]["p50"]),
        }
    )
    return checks


def run_redis_failover(params: RedisFailoverParams, log: Any = print) -> dict[str, Any]:
    """Both failovers ``rounds`` times, then the steady-state comparison."""
    scenarios: dict[str, Any] = {}
    for scenario in SCENARIOS:
        rounds = []
        for round_no in range(params.rounds):
            result = asyncio.run(_failover_round(scenario, params))
            log(f"  {scenario} round {round_no + 1}/{params.rounds}: {result}")
            rounds.append(result)
        scenarios[scenario] = {
            "rounds": rounds,
            "failed_after_total": {
                name: sum(sum(r["failed_after"][name]) for r in rounds) for name in TARGETS
            },
            "ops_after_total": 2 * params.pool * params.rounds,
        }
    steady = asyncio.run(_steady(params))
    log(f"  steady: {steady['added_ms']}")
    return {
        "parameters": asdict(params),
        "scenarios": scenarios,
        "steady": steady,
        "targets_met": _targets_met(scenarios, steady),
    }
