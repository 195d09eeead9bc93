"""Gateway overhead: Alice's OpenAI-compatible endpoint in front of a fast upstream.

Targets, measured in the same run and interleaved in rounds (the order rotates every
round: A B C, B C A, C A B, ...):

1. ``direct``: the upstream (`bench.upstream`) itself;
2. ``alice``: ``alice serve`` with ``ALICE_PROVIDER=openai`` pointing at the upstream,
   called on ``POST /v1/chat/completions`` (persistence on: SQLite, fsync per commit);
3. ``litellm``: LiteLLM's proxy (one worker) routing to the same upstream, when
   ``.venv-litellm`` exists; otherwise skipped with a note.

For each concurrency (1 and 16) and mode (streamed and whole) every target gets an
uncounted warm-up batch, then ``rounds`` measured batches. Reported: TTFT (streamed:
first content chunk; whole: the full response) p50/p95/p99, requests/s, the CPU each
process spent per request, and Alice's and LiteLLM's added latency over ``direct``.
The ``direct`` target's requests/s is also the most this load generator drove in this
run; its CPU use shows how close to its own limit it was.
"""

from __future__ import annotations

import secrets
import tempfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.alice_server import (
    ALICE_AUTH_HEADERS,
    READY_PATH,
    alice_process,
    env_pairs,
    model_healthy,
)
from bench.litellm_proxy import litellm_available, litellm_process, litellm_version
from bench.loadgen import BatchResult, ChatLoad, make_client, run_in_loop
from bench.processes import ManagedProcess, free_port, loopback_url
from bench.stats import bootstrap_difference, summarize
from bench.upstream import upstream_process

__all__ = ["GatewayParams", "run_gateway"]

CHAT_PATH = "/v1/chat/completions"
TARGETS = {
    "alice_added_p50_ms": 5.0,
    "alice_added_p99_ms": 10.0,
    "alice_over_litellm_rps": 2.0,
}
# Alice's model router admits 3 concurrent calls per backend and queues 16 more by default
# (ALICE_BACKEND_CONCURRENCY / ALICE_BACKEND_QUEUE); at concurrency 16 that sheds load with
# 429s. The benchmark measures the gateway's overhead, not its admission limits, so it
# raises them. The response cache is off (the gateway is measured, not answers from
# memory) and so is the Guardian's sampling (a busy benchmark machine must not brown
# Alice out mid-run). ``--alice-env`` overrides these.
ALICE_DEFAULT_ENV: tuple[str, ...] = (
    "ALICE_BACKEND_CONCURRENCY=64",
    "ALICE_BACKEND_QUEUE=256",
    "ALICE_CACHE=off",
    "ALICE_GUARDIAN_ENABLED=false",
)


@dataclass(frozen=True)
class GatewayParams:
    """What the gateway benchmark sends, and how much of it."""

    rounds: int = 8
    requests_c1: int = 60
    requests_c16: int = 320
    warmup_c1: int = 30
    warmup_c16: int = 160
    concurrency: tuple[int, ...] = (1, 16)
    chunks: int = 20
    model: str = "bench-upstream"
    max_tokens: int = 64
    with_litellm: bool = True
    alice_env: tuple[str, ...] = ()
    quick: bool = False

    def requests(self, concurrency: int) -> int:
        """Measured requests per target per round at ``concurrency``."""
        return self.requests_c1 if concurrency == 1 else self.requests_c16

    def warmup(self, concurrency: int) -> int:
        """Uncounted warm-up requests per target at ``concurrency``."""
        return self.warmup_c1 if concurrency == 1 else self.warmup_c16

    def body(self, *, stream: bool) -> dict[str, Any]:
        """The chat completion request every target gets."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": "Du är en hjälpsam assistent."},
                {"role": "user", "content": "Hej! Vad kan du hjälpa mig med idag?"},
            ],
            "max_tokens": self.max_tokens,
            "temperature": 0.7,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body


@dataclass(frozen=True)
class Target:
    """One thing the load generator calls, and the processes that serve it."""

    name: str
    base_url: str
    processes: tuple[ManagedProcess, ...]


@dataclass
class _Tally:
    """One target's measurements in one scenario, over all rounds."""

    ttft_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: dict[str, float] = field(default_factory=dict)
    upstream_calls: int = 0
    upstream_connections: int = 0
    rounds: list[dict[str, float]] = field(default_factory=list)

    def add(
        self,
        batch: BatchResult,
        cpu: dict[str, float],
        upstream_calls: int,
        upstream_connections: int,
    ) -> None:
        self.ttft_ms += batch.ttft_ms
        self.total_ms += batch.total_ms
        self.chunks += batch.content_chunks
        self.errors += batch.errors
        self.wall_s += batch.wall_s
        self.client_cpu_s += batch.client_cpu_s
        for name, seconds in cpu.items():
            self.server_cpu_s[name] = self.server_cpu_s.get(name, 0.0) + seconds
        self.upstream_calls += upstream_calls
        self.upstream_connections += upstream_connections
        self.rounds.append(
            {
                "requests_per_s": round(batch.requests_per_s, 2),
                "ttft_p50_ms": summarize(batch.ttft_ms).get("p50", 0.0),
                "ttft_p99_ms": summarize(batch.ttft_ms).get("p99", 0.0),
            }
        )

    def report(self) -> dict[str, Any]:
        ok = len(self.ttft_ms)
        per_request = 1000 / ok if ok else 0.0
        return {
            "requests_ok": ok,
            "errors": len(self.errors),
            "error_samples": self.errors[:5],
            "ttft_ms": summarize(self.ttft_ms),
            "total_ms": summarize(self.total_ms),
            "requests_per_s": round(ok / self.wall_s, 2) if self.wall_s else 0.0,
            "client_cpu_ms_per_request": round(self.client_cpu_s * per_request, 3),
            "client_cpu_share_of_one_core": round(self.client_cpu_s / self.wall_s, 3)
            if self.wall_s
            else 0.0,
            "server_cpu_ms_per_request": {
                name: round(seconds * per_request, 3) for name, seconds in self.server_cpu_s.items()
            },
            "upstream_calls_per_request": round(self.upstream_calls / ok, 3) if ok else 0.0,
            # New TCP connections the upstream accepted per request: ~0 when the target
            # (or, for direct, the load generator) keeps its connections alive.
            "upstream_connections_per_request": round(self.upstream_connections / ok, 3)
            if ok
            else 0.0,
            "content_chunks_min": min(self.chunks, default=0),
            "content_chunks_max": max(self.chunks, default=0),
            "rounds": self.rounds,
        }


async def _upstream_stats(client: httpx.AsyncClient) -> tuple[int, int]:
    """(completions served, connections accepted) by the upstream so far."""
    stats = orjson.loads((await client.get("/bench/stats")).content)
    return stats.get("stream", 0) + stats.get("whole", 0), stats.get("connections", 0)


def _cpu(target: Target) -> dict[str, float]:
    return {p.name: p.cpu_seconds() for p in target.processes}


async def _scenario(
    targets: list[Target],
    params: GatewayParams,
    *,
    stream: bool,
    concurrency: int,
    auth: dict[str, str],
    upstream: httpx.AsyncClient,
    log: Any,
) -> dict[str, Any]:
    load = ChatLoad(CHAT_PATH, params.body(stream=stream))
    clients = {
        t.name: make_client(
            t.base_url,
            concurrency=concurrency,
            headers=ALICE_AUTH_HEADERS if t.name == "alice" else auth,
        )
        for t in targets
    }
    tallies = {t.name: _Tally() for t in targets}
    try:
        for target in targets:
            warm = await load.batch(
                clients[target.name], requests=params.warmup(concurrency), concurrency=concurrency
            )
            if warm.errors:
                raise RuntimeError(f"{target.name} failed its warm-up: {warm.errors[:3]}")
        for round_index in range(params.rounds):
            shift = round_index % len(targets)
            for target in targets[shift:] + targets[:shift]:
                cpu_before = _cpu(target)
                calls_before, connections_before = await _upstream_stats(upstream)
                batch = await load.batch(
                    clients[target.name],
                    requests=params.requests(concurrency),
                    concurrency=concurrency,
                )
                cpu_after = _cpu(target)
                calls, connections = await _upstream_stats(upstream)
                spent = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
                tallies[target.name].add(
                    batch, spent, calls - calls_before, connections - connections_before
                )
            log(
                f"  {'stream' if stream else 'whole'} c={concurrency} round "
                f"{round_index + 1}/{params.rounds}: "
                + ", ".join(
                    f"{name} {t.rounds[-1]['ttft_p50_ms']:.2f} ms p50 "
                    f"{t.rounds[-1]['requests_per_s']:.0f}/s"
                    for name, t in tallies.items()
                )
            )
    finally:
        for client in clients.values():
            await client.aclose()
    reports = {name: tally.report() for name, tally in tallies.items()}
    return {"targets": reports, "comparison": _compare(reports, tallies)}


def _added(reports: dict[str, Any], tallies: dict[str, _Tally], name: str) -> dict[str, Any] | None:
    if name not in reports or not reports[name]["requests_ok"]:
        return None
    direct, other = reports["direct"]["ttft_ms"], reports[name]["ttft_ms"]
    per_round = [
        round(mine["ttft_p50_ms"] - base["ttft_p50_ms"], 3)
        for mine, base in zip(tallies[name].rounds, tallies["direct"].rounds, strict=True)
    ]
    mine, base = tallies[name].ttft_ms, tallies["direct"].ttft_ms
    return {
        "p50": round(other["p50"] - direct["p50"], 3),
        "p95": round(other["p95"] - direct["p95"], 3),
        "p99": round(other["p99"] - direct["p99"], 3),
        "ci95": {f"p{pct}": bootstrap_difference(mine, base, pct) for pct in (50, 95, 99)},
        "per_round_p50": per_round,
    }


def _compare(reports: dict[str, Any], tallies: dict[str, _Tally]) -> dict[str, Any]:
    comparison: dict[str, Any] = {
        "alice_added_ttft_ms": _added(reports, tallies, "alice"),
        "litellm_added_ttft_ms": _added(reports, tallies, "litellm"),
    }
    if "litellm" in reports and reports["litellm"]["requests_per_s"]:
        comparison["alice_over_litellm_rps"] = round(
            reports["alice"]["requests_per_s"] / reports["litellm"]["requests_per_s"], 3
        )
        comparison["alice_over_litellm_rps_per_round"] = [
            round(mine["requests_per_s"] / theirs["requests_per_s"], 3)
            for mine, theirs in zip(tallies["alice"].rounds, tallies["litellm"].rounds, strict=True)
            if theirs["requests_per_s"]
        ]
    comparison["alice_over_direct_rps"] = round(
        reports["alice"]["requests_per_s"] / reports["direct"]["requests_per_s"], 3
    )
    return comparison


def _targets_met(scenarios: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for key, scenario in scenarios.items():
        added = scenario["comparison"]["alice_added_ttft_ms"]
        for pct in ("p50", "p99"):
            limit = TARGETS[f"alice_added_{pct}_ms"]
            checks.append(
                {
                    "name": f"{key}: Alice added TTFT {pct}",
                    "value": added[pct],
                    "unit": "ms",
                    "limit": f"<= {limit}",
                    "passed": added[pct] <= limit,
                    "ci95": added["ci95"][pct],
                    "headline": key.endswith("-c1"),
                }
            )
    streamed = scenarios.get("stream-c16", {}).get("comparison", {})
    if "alice_over_litellm_rps" in streamed:
        limit = TARGETS["alice_over_litellm_rps"]
        checks.append(
            {
                "name": "stream-c16: Alice requests/s over LiteLLM's",
                "value": streamed["alice_over_litellm_rps"],
                "unit": "x",
                "limit": f">= {limit}",
                "passed": streamed["alice_over_litellm_rps"] >= limit,
                "per_round": streamed.get("alice_over_litellm_rps_per_round", []),
                "headline": True,
            }
        )
    return checks


def run_gateway(params: GatewayParams, log: Any = print) -> dict[str, Any]:
    """Start the upstream, Alice and (if installed) LiteLLM; measure; stop them all."""
    with_litellm = params.with_litellm and litellm_available()
    notes: list[str] = []
    if params.with_litellm and not with_litellm:
        notes.append(
            "LiteLLM target skipped: .venv-litellm not found "
            "(create it with bench/install_litellm.sh or `python -m bench install-litellm`)."
        )
    elif not params.with_litellm:
        notes.append("LiteLLM target skipped: --no-litellm.")
    alice_settings = {**env_pairs(ALICE_DEFAULT_ENV), **env_pairs(params.alice_env)}
    master_key = "sk-bench-" + secrets.token_hex(16)
    auth = {"authorization": f"Bearer {master_key}"}
    with tempfile.TemporaryDirectory(prefix="alice-bench-gateway-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        upstream, up_port = upstream_process(work, model=params.model, chunks=params.chunks)
        stack.enter_context(upstream)
        upstream.wait_ready(loopback_url(up_port) + "/v1/models", timeout_s=60)
        api_base = loopback_url(up_port) + "/v1"
        targets = [Target("direct", loopback_url(up_port), (upstream,))]

        alice_port = free_port()
        (work / "alice-data").mkdir()
        alice = alice_process(
            port=alice_port,
            data_dir=work / "alice-data",
            log_dir=work,
            settings={
                "ALICE_PROVIDER": "openai",
                "ALICE_MODEL": params.model,
                "ALICE_OPENAI_BASE_URL": api_base,
                **alice_settings,
            },
        )
        stack.enter_context(alice)
        ready_s = alice.wait_ready(
            loopback_url(alice_port) + READY_PATH, timeout_s=120, accept=model_healthy
        )
        log(f"alice ready in {ready_s:.1f} s")
        targets.append(Target("alice", loopback_url(alice_port), (alice, upstream)))

        if with_litellm:
            litellm_port = free_port()
            litellm = litellm_process(
                port=litellm_port,
                model=params.model,
                api_base=api_base,
                master_key=master_key,
                work_dir=work,
                log_dir=work,
            )
            stack.enter_context(litellm)
            ready_s = litellm.wait_ready(
                loopback_url(litellm_port) + "/health/liveliness", timeout_s=300
            )
            log(f"litellm ready in {ready_s:.1f} s")
            targets.append(Target("litellm", loopback_url(litellm_port), (litellm, upstream)))

        async def measure() -> dict[str, Any]:
            scenarios: dict[str, Any] = {}
            async with httpx.AsyncClient(base_url=loopback_url(up_port), trust_env=False) as up:
                for concurrency in params.concurrency:
                    for stream in (True, False):
                        key = f"{'stream' if stream else 'whole'}-c{concurrency}"
                        scenarios[key] = await _scenario(
                            targets,
                            params,
                            stream=stream,
                            concurrency=concurrency,
                            auth=auth,
                            upstream=up,
                            log=log,
                        )
            return scenarios

        scenarios = run_in_loop(measure)
    parameters = asdict(params)
    parameters["targets"] = [t.name for t in targets]
    parameters["alice_settings"] = alice_settings
    parameters["request_body_stream"] = params.body(stream=True)
    parameters["load_generator"] = (
        "one asyncio process (uvloop), one httpx.AsyncClient per target with its pool "
        "sized to the concurrency, closed loop"
    )
    return {
        "parameters": parameters,
        "software": {"litellm": litellm_version() if with_litellm else None},
        "notes": notes,
        "scenarios": scenarios,
        "targets_met": _targets_met(scenarios),
    }
