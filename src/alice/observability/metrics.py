"""Prometheus metrics: one registry per app; events counted, state read at scrape time.

Counters and histograms (requests, errors, model timings, cache lookups) are updated
by the code that sees the event. Gauges of state that already lives elsewhere (Guardian
mode and readings, breaker states, model queues, the database pool) are not copied on
every change: `AliceCollector` reads them when Prometheus scrapes, so they can never
drift from the truth. Each app has its own `CollectorRegistry` (tests build many apps in
one process); nothing is registered globally. The catalogue with every name and label is
in ``docs/observability.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "LATENCY_BUCKETS_S",
    "AliceCollector",
    "Metrics",
    "StateSources",
]

# ``*_created`` series double the exposition and nothing here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: Request latency buckets (seconds). 2 and 3 s are the SLO thresholds, so attainment
#: is read off a bucket exactly instead of interpolated.
LATENCY_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0,
    30.0, 60.0,
)  # fmt: skip
_TTFT_BUCKETS_S = (
    0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip
_TOKENS_PER_S_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)
_MODES = ("ok", "brownout", "emergency")
_BREAKER_STATES = ("closed", "open", "half_open")


class Metrics:
    """Alice's metrics on a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None, *, version: str = "") -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        build = Gauge("alice_build_info", "The running version.", ["version"], registry=r)
        build.labels(version=version or "unknown").set(1)
        http = ["method", "route", "status"]
        self.requests = Counter("alice_http_requests", "HTTP requests served.", http, registry=r)
        self.request_seconds = Histogram(
            "alice_http_request_duration_seconds",
            "From a request's arrival to the end of its response body.",
            http,
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.in_flight = Gauge(
            "alice_http_requests_in_flight", "Requests being served now.", registry=r
        )
        self.errors = Counter(
            "alice_errors", "Client-visible errors by stable code.", ["error_class"], registry=r
        )
        self.rate_limited = Counter(
            "alice_rate_limit_rejections",
            "Requests refused by the rate limiter.",
            ["bucket"],
            registry=r,
        )
        self.ttft_seconds = Histogram(
            "alice_model_time_to_first_token_seconds",
            "Model time to first token per turn.",
            ["model"],
            buckets=_TTFT_BUCKETS_S,
            registry=r,
        )
        self.tokens_per_second = Histogram(
            "alice_model_tokens_per_second",
            "Decode rate per turn: completion tokens after the first, per second.",
            ["model"],
            buckets=_TOKENS_PER_S_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "alice_model_tokens", "Tokens processed.", ["model", "kind"], registry=r
        )
        self.turns = Counter("alice_chat_turns", "Chat turns.", ["outcome"], registry=r)
        self.cache_requests = Counter(
            "alice_cache_requests", "Response cache lookups.", ["result"], registry=r
        )

    def observe_request(
        self,
        *,
        method: str,
        route: str,
        status: int,
        seconds: float,
        error_class: str | None,
        rate_limit_bucket: str | None,
    ) -> None:
        """Count one finished request."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.request_seconds.labels(*labels).observe(seconds)
        if error_class is not None:
            self.errors.labels(error_class).inc()
        if rate_limit_bucket is not None:
            self.rate_limited.labels(rate_limit_bucket).inc()

    def observe_turn(
        self,
        *,
        outcome: str,
        model: str = "",
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        first_token_s: float | None = None,
        decode_s: float | None = None,
    ) -> None:
        """Count one chat turn and, when the model answered it, its timings and tokens.

        ``outcome``: ``complete``, ``cached``, ``failed``, ``cancelled`` (the client
        left) or ``refused`` (overload, nothing stored).
        """
        self.turns.labels(outcome).inc()
        if outcome != "complete":
            return
        if prompt_tokens:
            self.tokens.labels(model, "prompt").inc(prompt_tokens)
        if completion_tokens:
            self.tokens.labels(model, "completion").inc(completion_tokens)
        if first_token_s is not None:
            self.ttft_seconds.labels(model).observe(first_token_s)
        # The first token's time is the TTFT; the rate is over the tokens after it.
        if decode_s is not None and decode_s > 0 and completion_tokens > 1:
            self.tokens_per_second.labels(model).observe((completion_tokens - 1) / decode_s)

    def observe_cache(self, *, hit: bool) -> None:
        """Count one response-cache lookup."""
        self.cache_requests.labels("hit" if hit else "miss").inc()

    def watch(self, sources: StateSources) -> None:
        """Expose the state that ``sources`` read, at every scrape."""
        self.registry.register(AliceCollector(sources))

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class StateSources:
    """Where scrape-time state comes from (each returns plain data; None = unknown).

    Attributes:
        guardian_mode: the current mode.
        guardian_sample: the last reading (``ram_pct``, ``cpu_pct``, ``disk_free_bytes``,
            ``rss_bytes``, ``loop_lag_s``, ``gpu_mem_used_pct``), or None before one.
        disk_low: whether the disk sentinel refuses uploads.
        transitions: mode changes so far, by the mode entered.
        backends: per backend, ``breaker`` state, ``queued`` and ``in_flight``.
        db_pool: ``size``, ``checked_out``, ``idle``, ``overflow`` of a connection pool,
            or None when the database has none (SQLite on one thread, NullPool).
    """

    guardian_mode: Callable[[], str]
    guardian_sample: Callable[[], Mapping[str, float | None] | None]
    disk_low: Callable[[], bool]
    transitions: Callable[[], Mapping[str, int]]
    backends: Callable[[], Mapping[str, Mapping[str, Any]]]
    db_pool: Callable[[], Mapping[str, int] | None]


_SAMPLE_GAUGES = (
    # (sample field, metric, help, scale)
    ("ram_pct", "alice_guardian_memory_used_ratio", "RAM in use, 0-1.", 0.01),
    ("cpu_pct", "alice_guardian_cpu_used_ratio", "CPU in use, 0-1.", 0.01),
    ("disk_free_bytes", "alice_guardian_disk_free_bytes", "Free disk on the data folder.", 1),
    ("rss_bytes", "alice_guardian_process_resident_bytes", "RSS of Alice and its workers.", 1),
    ("loop_lag_s", "alice_guardian_loop_lag_seconds", "Event loop lag.", 1),
    ("gpu_mem_used_pct", "alice_guardian_gpu_memory_used_ratio", "Busiest GPU memory, 0-1.", 0.01),
)


class AliceCollector(Collector):
    """Reads Guardian, router and pool state when Prometheus scrapes."""

    def __init__(self, sources: StateSources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        """Yield the current state as metric families."""
        yield from self._guardian()
        yield from self._backends()
        yield from self._pool()

    def _guardian(self) -> Iterable[Metric]:
        s = self._sources
        mode = s.guardian_mode()
        modes = GaugeMetricFamily(
            "alice_guardian_mode", "1 for the Guardian's current mode.", labels=["mode"]
        )
        for name in _MODES:
            modes.add_metric([name], 1.0 if name == mode else 0.0)
        yield modes
        transitions = CounterMetricFamily(
            "alice_guardian_transitions", "Guardian mode changes, by mode entered.", labels=["mode"]
        )
        counts = s.transitions()
        for name in _MODES:
            transitions.add_metric([name], counts.get(name, 0))
        yield transitions
        yield GaugeMetricFamily(
            "alice_guardian_disk_low",
            "1 while the disk sentinel refuses uploads.",
            value=1.0 if s.disk_low() else 0.0,
        )
        sample = s.guardian_sample()
        if sample is None:
            return
        for field, name, doc, scale in _SAMPLE_GAUGES:
            value = sample.get(field)
            # An unknown reading is left out, never exported as a made-up 0.
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=float(value) * scale)

    def _backends(self) -> Iterable[Metric]:
        backends = self._sources.backends()
        queue = GaugeMetricFamily(
            "alice_model_queue_length", "Requests waiting for a model slot.", labels=["backend"]
        )
        running = GaugeMetricFamily(
            "alice_model_in_flight", "Requests holding a model slot.", labels=["backend"]
        )
        breaker = GaugeMetricFamily(
            "alice_circuit_breaker_state",
            "1 for the breaker's current state.",
            labels=["backend", "state"],
        )
        for backend, state in backends.items():
            queue.add_metric([backend], float(state.get("queued", 0)))
            running.add_metric([backend], float(state.get("in_flight", 0)))
            current = str(state.get("breaker", "")).replace("-", "_")  # half-open
            for name in _BREAKER_STATES:
                breaker.add_metric([backend, name], 1.0 if current == name else 0.0)
        yield queue
        yield running
        yield breaker

    def _pool(self) -> Iterable[Metric]:
        pool = self._sources.db_pool()
        if pool is None:
            return
        yield GaugeMetricFamily(
            "alice_db_pool_size", "Configured connection pool size.", value=pool["size"]
        )
        connections = GaugeMetricFamily(
            "alice_db_pool_connections", "Connections of the pool by state.", labels=["state"]
        )
        for state in ("checked_out", "idle", "overflow"):
            connections.add_metric([state], float(pool.get(state, 0)))
        yield connections
