"""Overload at 4x capacity: latency of what Alice accepts, and how fast it refuses the rest.

Alice (``ALICE_PROVIDER=openai``, cache off, Guardian off) in front of
`bench.slow_upstream`, which answers every request after a fixed service time with
unlimited parallelism. Alice's per-backend admission is then the only limit:
``capacity = ALICE_BACKEND_CONCURRENCY / service time`` (3 / 200 ms = 15 requests/s by
default). Streamed ``POST /v1/chat/completions`` requests arrive open-loop (a fixed
schedule, fired whatever the answers, `bench.openloop`) in two kinds of phase:

- ``unloaded``: 0.5x capacity, the baseline latency;
- ``overload``: 4x capacity; what exceeds the concurrency limit plus the queue is shed
  with 429 and ``Retry-After``.

One Alice per configuration, all running for the whole benchmark, all in front of the
same upstream: ``default`` (the shipped settings: ``ALICE_BACKEND_QUEUE=16`` and
``ALICE_BACKEND_QUEUE_MAX_WAIT=0.25``, a caller is queued only when its predicted wait
is at most a quarter of a call), and for comparison the same queue bounded by length
only, and no queue at all. Each round runs the unloaded phase of each, then the overload
phase of each, the order of the Alices rotating between rounds, so all see the same
machine. Reported per configuration: the p95 latency (request sent → end of the stream)
of accepted requests under overload over the unloaded p95 (target <= 1.5x, judged on
``default``), the share shed, the accepted requests per second (capacity kept busy?),
and how fast a shed request is answered (target < 50 ms).
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.alice_server import (
    ALICE_AUTH_HEADERS,
    READY_PATH,
    alice_process,
    env_pairs,
    model_healthy,
)
from bench.loadgen import run_in_loop
from bench.machine import REPO_ROOT
from bench.openloop import (
    Outcome,
    open_loop,
    openai_stream,
    outcome_summary,
    schedule_summary,
    wide_client,
)
from bench.processes import ManagedProcess, base_env, free_port, loopback_url
from bench.stats import percentile, summarize
from bench.system import CpuMeter

__all__ = ["OverloadParams", "run_overload"]

TARGETS = {"accepted_p95_ratio": 1.5, "shed_p99_ms": 50.0}
#: Keep-alive connections opened to each Alice before measuring (more than an overload
#: phase keeps in flight at once, so no measured request waits for a TCP handshake).
PREOPEN = 96


@dataclass(frozen=True)
class Variant:
    """One Alice configuration under test: its queue length and wait bound."""

    name: str
    queue: int
    #: ``ALICE_BACKEND_QUEUE_MAX_WAIT``; None turns the predicted-wait bound off (1000).
    max_wait: float | None

    def env(self) -> dict[str, str]:
        """Alice's settings for this variant."""
        wait = "1000" if self.max_wait is None else f"{self.max_wait:g}"
        return {"ALICE_BACKEND_QUEUE": str(self.queue), "ALICE_BACKEND_QUEUE_MAX_WAIT": wait}

    def describe(self) -> str:
        """Queue and wait bound in words."""
        bound = "no wait bound" if self.max_wait is None else f"max wait {self.max_wait:g}"
        return f"queue {self.queue}, {bound}"


#: The shipped defaults (judged against the targets), then two queue-length-only
#: configurations for comparison: the same queue without the wait bound, and no queue.
DEFAULT_VARIANTS = (
    Variant("default", 16, 0.25),
    Variant("queue-16-length-only", 16, None),
    Variant("queue-0", 0, None),
)


@dataclass(frozen=True)
class OverloadParams:
    """Service time, capacity, load levels and phase lengths."""

    service_ms: float = 200.0
    concurrency: int = 3
    variants: tuple[Variant, ...] = DEFAULT_VARIANTS
    unloaded_factor: float = 0.5
    overload_factor: float = 4.0
    unloaded_s: float = 20.0
    overload_s: float = 30.0
    rounds: int = 2
    warmup_s: float = 4.0
    pause_s: float = 2.0
    status_interval_s: float = 0.25
    chunks: int = 8
    model: str = "bench-upstream"
    max_tokens: int = 32
    alice_env: tuple[str, ...] = ()
    quick: bool = False

    @property
    def capacity_per_s(self) -> float:
        """Requests per second Alice's admission lets through: concurrency / service time."""
        return self.concurrency / (self.service_ms / 1000)

    def rate(self, phase: str) -> float:
        """Arrivals per second of a phase (``unloaded`` or ``overload``)."""
        factor = self.unloaded_factor if phase == "unloaded" else self.overload_factor
        return self.capacity_per_s * factor

    def duration(self, phase: str) -> float:
        """Seconds of arrivals in a phase."""
        return self.unloaded_s if phase == "unloaded" else self.overload_s

    def body(self) -> dict[str, Any]:
        """The request every arrival sends (temperature > 0: never cacheable)."""
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": "Du är en hjälpsam assistent."},
                {"role": "user", "content": "Hej! Vad kan du hjälpa mig med idag?"},
            ],
            "max_tokens": self.max_tokens,
            "temperature": 0.7,
        }


@dataclass
class _Instance:
    """One Alice server with its configuration."""

    variant: Variant
    process: ManagedProcess
    base_url: str
    phases: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"unloaded": [], "overload": []}
    )
    outcomes: dict[str, list[Outcome]] = field(
        default_factory=lambda: {"unloaded": [], "overload": []}
    )

    @property
    def name(self) -> str:
        """The variant's name (also the key of its results)."""
        return self.variant.name

    @property
    def queue(self) -> int:
        """``ALICE_BACKEND_QUEUE`` of this Alice."""
        return self.variant.queue


async def _poll_status(
    client: httpx.AsyncClient, interval_s: float, stop: asyncio.Event
) -> list[dict[str, int]]:
    """Alice's admission state (in flight, queued; all backends) every ``interval_s``."""
    samples: list[dict[str, int]] = []
    while not stop.is_set():
        try:
            backends = (await client.get("/guardian/status")).json()["backends"]
            samples.append(
                {
                    "in_flight": sum(int(b["in_flight"]) for b in backends.values()),
                    "queued": sum(int(b["queued"]) for b in backends.values()),
                }
            )
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
    return samples


def _shed(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.status == 429]


def _phase_record(
    params: OverloadParams,
    phase: str,
    round_index: int,
    outcomes: list[Outcome],
    status: list[dict[str, int]],
    cpu: dict[str, float],
    wall_s: float,
) -> dict[str, Any]:
    rate = params.rate(phase)
    shed = _shed(outcomes)
    ok = [o for o in outcomes if o.ok]
    others = [o for o in outcomes if not o.ok and o.status != 429]
    first_send = min(o.sent_s for o in outcomes)
    last_done = max(o.done_s for o in outcomes)
    return {
        "round": round_index,
        "phase": phase,
        "schedule": schedule_summary(outcomes, rate),
        "outcomes": outcome_summary(outcomes),
        "accepted_total_ms": summarize([o.total_ms for o in ok]),
        "shed_share": round(len(shed) / len(outcomes), 4),
        "shed_ms": summarize([o.total_ms for o in shed]),
        "shed_with_retry_after": sum(1 for o in shed if o.retry_after),
        "retry_after_values": sorted({o.retry_after or "" for o in shed}),
        "other_failures": len(others),
        "other_failure_samples": sorted({o.kind for o in others})[:5],
        "accepted_per_s": round(len(ok) / (last_done - first_send), 3),
        "admission": {
            "samples": len(status),
            "max_in_flight": max((s["in_flight"] for s in status), default=None),
            "max_queued": max((s["queued"] for s in status), default=None),
            "mean_queued": round(sum(s["queued"] for s in status) / len(status), 2)
            if status
            else None,
        },
        "cpu_share_of_one_core": {name: round(sec / wall_s, 3) for name, sec in cpu.items()},
    }


async def _phase(
    instance: _Instance,
    client: httpx.AsyncClient,
    upstream: ManagedProcess,
    params: OverloadParams,
    phase: str,
    round_index: int,
    log: Any,
) -> None:
    stop = asyncio.Event()
    async with httpx.AsyncClient(
        base_url=instance.base_url, trust_env=False, timeout=5.0, headers=ALICE_AUTH_HEADERS
    ) as status:
        fire = openai_stream(client, params.body())
        cpu_before = {
            "alice": instance.process.cpu_seconds(),
            "upstream": upstream.cpu_seconds(),
            "load_generator": time.process_time(),
        }
        machine = CpuMeter()
        started = time.perf_counter()
        poller = asyncio.create_task(_poll_status(status, params.status_interval_s, stop))
        outcomes = await open_loop(
            fire, rate_per_s=params.rate(phase), duration_s=params.duration(phase)
        )
        stop.set()
        samples = await poller
        wall = time.perf_counter() - started
        cpu = {
            "alice": instance.process.cpu_seconds() - cpu_before["alice"],
            "upstream": upstream.cpu_seconds() - cpu_before["upstream"],
            "load_generator": time.process_time() - cpu_before["load_generator"],
        }
    busy = (machine.read() or {}).get("busy_cpus_avg")
    record = _phase_record(params, phase, round_index, outcomes, samples, cpu, wall)
    # Everything else on the machine meanwhile (another benchmark would show here).
    record["other_cpus"] = (
        round(max(0.0, busy - sum(cpu.values()) / wall), 2) if busy is not None else None
    )
    instance.phases[phase].append(record)
    instance.outcomes[phase].extend(outcomes)
    schedule = record["schedule"]
    log(
        f"  round {round_index + 1} {instance.name} {phase}: "
        f"{schedule['achieved_rate_per_s']:.1f}/{schedule['intended_rate_per_s']:.1f} req/s, "
        f"accepted p95 {record['accepted_total_ms'].get('p95', 0):.0f} ms, "
        f"shed {record['shed_share']:.0%} (p99 {record['shed_ms'].get('p99', 0):.1f} ms), "
        f"other failures {record['other_failures']}, "
        f"alice CPU {record['cpu_share_of_one_core']['alice']:.0%}, "
        f"other processes {record['other_cpus']} CPUs"
    )
    await asyncio.sleep(params.pause_s)


def _analysis(instance: _Instance, params: OverloadParams) -> dict[str, Any]:
    unloaded = [o for o in instance.outcomes["unloaded"] if o.ok]
    overload = instance.outcomes["overload"]
    accepted = [o for o in overload if o.ok]
    shed = _shed(overload)
    p95_unloaded = percentile([o.total_ms for o in unloaded], 95)
    p95_overload = percentile([o.total_ms for o in accepted], 95)
    per_round = [
        round(o["accepted_total_ms"]["p95"] / u["accepted_total_ms"]["p95"], 3)
        for u, o in zip(instance.phases["unloaded"], instance.phases["overload"], strict=True)
    ]
    all_outcomes = instance.outcomes["unloaded"] + overload
    return {
        "queue": instance.queue,
        "variant": asdict(instance.variant),
        "unloaded_accepted_total_ms": summarize([o.total_ms for o in unloaded]),
        "overload_accepted_total_ms": summarize([o.total_ms for o in accepted]),
        "overload_accepted_ttft_ms": summarize(
            [o.ttft_ms for o in accepted if o.ttft_ms is not None]
        ),
        "accepted_p95_ratio": round(p95_overload / p95_unloaded, 3),
        "accepted_p95_ratio_per_round": per_round,
        "accepted_p95_added_ms": round(p95_overload - p95_unloaded, 3),
        # Without a wait bound the last accepted waiter needs ``queue`` slot releases:
        # queue x S / c when the c slots finish evenly staggered, up to ceil(queue / c) x S
        # when they finish together (equal service times keep them in step). With one,
        # the predicted wait is at most max_wait x the mean hold (about S).
        "max_wait_bound_ms": None
        if instance.variant.max_wait is None
        else round(instance.variant.max_wait * params.service_ms, 1),
        "queue_wait_bound_ms": {
            "staggered": round(instance.queue * params.service_ms / params.concurrency, 1),
            "lockstep": round(-(-instance.queue // params.concurrency) * params.service_ms, 1),
        },
        "overload_requests": len(overload),
        "overload_shed_share": round(len(shed) / len(overload), 4),
        "ideal_shed_share": round(1 - 1 / params.overload_factor, 4),
        "overload_accepted_per_s": [p["accepted_per_s"] for p in instance.phases["overload"]],
        "shed_ms": summarize([o.total_ms for o in shed]),
        "shed_with_retry_after_share": round(sum(1 for o in shed if o.retry_after) / len(shed), 4)
        if shed
        else None,
        "unloaded_shed": len(_shed(instance.outcomes["unloaded"])),
        "other_failures": sum(1 for o in all_outcomes if not o.ok and o.status != 429),
        "send_lag_ms": summarize([o.lag_ms for o in all_outcomes]),
        "achieved_over_intended": {
            phase: [p["schedule"]["achieved_over_intended"] for p in records]
            for phase, records in instance.phases.items()
        },
    }


def _targets_met(analyses: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for key, a in analyses.items():
        # The shipped configuration is judged; the others are there for comparison.
        judged = key == "default"
        queue = key
        limit = TARGETS["accepted_p95_ratio"]
        checks.append(
            {
                "name": f"{queue}: accepted p95 at 4x capacity / unloaded p95",
                "value": a["accepted_p95_ratio"],
                "unit": "x",
                "limit": f"<= {limit}",
                "passed": a["accepted_p95_ratio"] <= limit,
                "per_round": a["accepted_p95_ratio_per_round"],
                "headline": judged,
                "config": key,
            }
        )
        shed = a["shed_ms"]
        limit = TARGETS["shed_p99_ms"]
        if shed.get("n"):
            checks.append(
                {
                    "name": f"{queue}: shed (429) answered, p99",
                    "value": shed["p99"],
                    "unit": "ms",
                    "limit": f"< {limit}",
                    "passed": shed["p99"] < limit,
                    "per_round": [],
                    "headline": judged,
                    "config": key,
                }
            )
            checks.append(
                {
                    "name": f"{queue}: shed (429) answered, max",
                    "value": shed["max"],
                    "unit": "ms",
                    "limit": f"< {limit}",
                    "passed": shed["max"] < limit,
                    "headline": False,
                    "config": key,
                }
            )
            share = a["shed_with_retry_after_share"] * 100
            checks.append(
                {
                    "name": f"{queue}: 429s carrying Retry-After",
                    "value": round(share, 2),
                    "unit": "%",
                    "limit": ">= 100",
                    "passed": share >= 100,
                    "headline": False,
                    "config": key,
                }
            )
    return checks


def _stored_messages(data_dir: Path) -> dict[str, int]:
    """Messages in an Alice's SQLite database by role, status and error code."""
    with sqlite3.connect(f"file:{data_dir / 'alice.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT role, status, COALESCE(error_code, ''), COUNT(*) FROM messages "
            "GROUP BY role, status, error_code"
        )
        return {"/".join(filter(None, (r, s, e))): n for r, s, e, n in rows}


def _upstream(work: Path, port: int, params: OverloadParams) -> ManagedProcess:
    return ManagedProcess(
        "slow-upstream",
        [
            sys.executable,
            "-m",
            "bench.slow_upstream",
            "--port",
            str(port),
            "--model",
            params.model,
            "--chunks",
            str(params.chunks),
            "--delay-ms",
            str(params.service_ms),
        ],
        env=base_env({}),
        log_dir=work,
        cwd=REPO_ROOT,
    )


def _alice_settings(params: OverloadParams, api_base: str, variant: Variant) -> dict[str, str]:
    return {
        "ALICE_PROVIDER": "openai",
        "ALICE_MODEL": params.model,
        "ALICE_OPENAI_BASE_URL": api_base,
        "ALICE_CACHE": "off",
        "ALICE_GUARDIAN_ENABLED": "false",
        "ALICE_BACKEND_CONCURRENCY": str(params.concurrency),
        **variant.env(),
        **env_pairs(params.alice_env),
    }


def run_overload(params: OverloadParams, log: Any = print) -> dict[str, Any]:
    """Start the slow upstream and one Alice per queue size; measure; stop them all."""
    with tempfile.TemporaryDirectory(prefix="alice-bench-overload-") as tmp:
        work = Path(tmp)
        with ExitStack() as stack:
            up_port = free_port()
            upstream = stack.enter_context(_upstream(work, up_port, params))
            upstream.wait_ready(loopback_url(up_port) + "/v1/models", timeout_s=60)
            api_base = loopback_url(up_port) + "/v1"
            instances: list[_Instance] = []
            settings: dict[str, dict[str, str]] = {}
            for variant in params.variants:
                port = free_port()
                data_dir = work / f"alice-{variant.name}"
                data_dir.mkdir()
                log_dir = work / f"log-{variant.name}"
                log_dir.mkdir()
                settings[variant.name] = _alice_settings(params, api_base, variant)
                process = alice_process(
                    port=port,
                    data_dir=data_dir,
                    log_dir=log_dir,
                    settings=settings[variant.name],
                )
                stack.enter_context(process)
                instances.append(_Instance(variant, process, loopback_url(port)))
            for instance in instances:
                ready_s = instance.process.wait_ready(
                    instance.base_url + READY_PATH, timeout_s=120, accept=model_healthy
                )
                log(f"alice ({instance.variant.describe()}) ready in {ready_s:.1f} s")

            async def measure() -> None:
                clients = {i.name: wide_client(i.base_url) for i in instances}
                try:
                    for instance in instances:
                        client = clients[instance.name]
                        # Open the connections an overload keeps busy before any clock starts.
                        await asyncio.gather(*(client.get("/health") for _ in range(PREOPEN)))
                        await open_loop(
                            openai_stream(client, params.body()),
                            rate_per_s=params.rate("unloaded"),
                            duration_s=params.warmup_s,
                        )
                    for round_index in range(params.rounds):
                        shift = round_index % len(instances)
                        order = instances[shift:] + instances[:shift]
                        for phase in ("unloaded", "overload"):
                            for instance in order:
                                await _phase(
                                    instance,
                                    clients[instance.name],
                                    upstream,
                                    params,
                                    phase,
                                    round_index,
                                    log,
                                )
                finally:
                    for client in clients.values():
                        await client.aclose()

            run_in_loop(measure)
        # Read after the servers stopped: what each Alice committed, 429s included.
        stored = {i.name: _stored_messages(work / f"alice-{i.name}") for i in instances}
    analyses = {i.name: _analysis(i, params) for i in instances}
    for key, counts in stored.items():
        analyses[key]["stored_messages"] = counts
    parameters = asdict(params)
    parameters["capacity_per_s"] = params.capacity_per_s
    parameters["rates_per_s"] = {p: params.rate(p) for p in ("unloaded", "overload")}
    parameters["alice_settings"] = settings
    parameters["request_body"] = {**params.body(), "stream": True}
    parameters["load_generator"] = (
        "one asyncio process (uvloop), httpx.AsyncClient with up to 1024 keep-alive "
        "connections, open loop: request i sent at start + i / rate in its own task"
    )
    return {
        "parameters": parameters,
        "analysis": analyses,
        "phases": {i.name: i.phases for i in instances},
        "targets_met": _targets_met(analyses),
    }
