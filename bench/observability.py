"""What Alice's observability (request log line, metrics, traces) adds to a chat turn.

Three apps built with `alice.app.create_app` in this one process, identical but for
their observability, each in front of the same fast OpenAI-compatible upstream
(`bench.upstream`, so the model's time does not drown what is measured):

- ``bare`` (the baseline): `ObservabilityMiddleware` taken out of the app's middleware
  before its first request (Starlette builds the stack on the first call), so no
  ``http.request`` log line, no HTTP metrics, no request or trace id, no spans. What the
  chat service records itself stays, in all three: its ``chat.turn_*`` log line and the
  turn, token and model-timing metrics (a few counter and histogram updates).
- ``observed`` (as shipped): the middleware in place, tracing off.
- ``traced``: tracing on, every trace kept (``ALICE_OTEL_SAMPLE_RATIO=1.0``) and
  exported over OTLP/HTTP to a real local receiver in another process
  (`bench.otlp_sink`).

Logging is configured once for the process as ``alice serve`` configures it with
``ALICE_LOG_LEVEL=info``, ``ALICE_LOG_FORMAT=json`` and ``ALICE_LOG_FILE``: every line
rendered as NDJSON (through the PII redactor) and written to a file and to stderr, which
goes to /dev/null for the run so that no terminal is the bottleneck.

Every turn is ``POST /api/chat`` with a fresh short question (a new conversation;
question and answer committed to SQLite with fsync), once whole and once streamed. The
apps are called as an ASGI server calls them (a scope, ``receive`` and ``send``), not
through httpx's ASGI transport as in `bench.privacy`, for two reasons: that transport
collects the whole body before it returns, so the first ``delta`` event could not be
timed, and httpx logs every call at info level through the very logging being measured
(a line per call that is the benchmark's, not Alice's). The first ``delta`` event and the
end of the response are timed as the app sends them. After an uncounted warm-up, turn
by turn, the two kinds alternating and the targets in a rotating order (A B C, B C A,
...), so no position favours one. Added latency = target minus ``bare``, p50 and p99,
with a bootstrap 95% confidence interval.

The traced app's batch exporter is a thread of this process: while it serializes and
sends a batch it holds the interpreter lock whichever target is being timed, so a little
of tracing's cost lands on the other two and the ``traced`` difference slightly
understates it.

In process, for context: one ``/metrics`` scrape of the ``observed`` app after all its
turns (the exposition alone, and a whole ``GET /metrics``), and the middleware alone
around a trivial ASGI app (µs per request without it, with it, with it but its log line
dropped by the logger, with it and tracing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import orjson

from bench.alice_server import env_pairs
from bench.otlp_sink import sink_process
from bench.processes import loopback_url
from bench.stats import added_latency, summarize
from bench.upstream import upstream_process

__all__ = ["ObservabilityParams", "question", "run_observability"]

TARGET_OBSERVED_ADDED_P50_MS = 1.0
TARGET_TRACED_ADDED_P50_MS = 2.0
BASELINE = "bare"
TARGETS = (BASELINE, "observed", "traced")
MODEL = "bench-upstream"
#: What is timed per turn: key → what it is.
MEASURES = {
    "whole": "non-streamed turn (request → whole answer)",
    "stream_first_delta": "streamed turn, request → first delta event",
    "stream_total": "streamed turn, request → end of stream",
}

_JSON = [(b"content-type", b"application/json")]
_UNWRITTEN = "middleware, line not written"


def question(serial: int) -> str:
    """A short question, unique per serial (every turn opens a new conversation)."""
    return (
        f"Fråga {serial}: hur lång tid tar tåget från Stockholm till Göteborg, "
        f"och vilka museer har öppet på måndagar?"
    )


@dataclass(frozen=True)
class ObservabilityParams:
    """How much to measure."""

    #: Counted turns per target and kind (whole and streamed), after the warm-up.
    turns: int = 1500
    warmup: int = 40
    report_every: int = 250
    chunks: int = 32
    max_tokens: int = 64
    #: ``/metrics`` expositions (and as many ``GET /metrics``) timed.
    scrapes: int = 300
    #: Calls per variant of the middleware-alone timing, in blocks of rotating order.
    middleware_calls: int = 20000
    middleware_block: int = 500
    alice_env: tuple[str, ...] = ()
    quick: bool = False


def _target_env(name: str, upstream: str, sink: str, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "ALICE_PROVIDER": "openai",
        "ALICE_MODEL": MODEL,
        "ALICE_OPENAI_BASE_URL": upstream,
        "ALICE_GUARDIAN_ENABLED": "false",
        "ALICE_CACHE": "off",
        "ALICE_AUTH": "off",
        "ALICE_RATE_LIMIT": "off",
        **extra,
    }
    if name == "traced":
        env |= {"ALICE_OTEL_ENDPOINT": sink, "ALICE_OTEL_SAMPLE_RATIO": "1.0"}
    return env


def _build_app(name: str, env: dict[str, str], data_dir: Path) -> Any:
    from alice.app import create_app
    from alice.observability import ObservabilityMiddleware
    from alice.settings import Settings

    settings = {k.removeprefix("ALICE_").lower(): v for k, v in env.items()}
    app = create_app(Settings(_env_file=None, data_dir=data_dir, **settings))  # type: ignore[call-arg]
    if name == BASELINE:
        kept = [m for m in app.user_middleware if m.cls is not ObservabilityMiddleware]
        if len(kept) != len(app.user_middleware) - 1 or app.middleware_stack is not None:
            raise RuntimeError("expected one ObservabilityMiddleware in a stack not built yet")
        app.user_middleware = kept
    return app


@dataclass
class _Answer:
    """One response as the app sent it, with the times of its first delta and its end."""

    status: int = 0
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    first_delta_ms: float | None = None
    total_ms: float = 0.0


async def _call(app: Any, method: str, path: str, body: bytes = b"") -> _Answer:
    """One request, the app called as an ASGI server calls it (see the module docstring)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"alice"), *_JSON, (b"content-length", b"%d" % len(body))],
        "server": ("alice", 80),
        "client": ("127.0.0.1", 50000),
    }
    answer = _Answer()
    ended = asyncio.Event()
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Like a server: the client stays until the response has ended.
        await ended.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers.update(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            if answer.first_delta_ms is None and b"event: delta" in chunk:
                answer.first_delta_ms = (time.perf_counter() - start) * 1000
            answer.body += chunk
            if not message.get("more_body", False):
                ended.set()

    start = time.perf_counter()
    await app(scope, receive, send)
    answer.total_ms = (time.perf_counter() - start) * 1000
    if answer.status != 200:
        raise RuntimeError(f"{method} {path}: {answer.status} {bytes(answer.body[:200])!r}")
    return answer


async def _turn(app: Any, payload: dict[str, Any]) -> tuple[dict[str, float], bool]:
    """One chat turn: its timings by measure, and whether it carried an X-Request-ID."""
    answer = await _call(app, "POST", "/api/chat", orjson.dumps(payload))
    has_id = b"x-request-id" in answer.headers
    if not payload.get("stream"):
        whole = orjson.loads(answer.body)
        if not whole.get("text") or whole.get("offline"):
            raise RuntimeError(f"a whole turn without content: {bytes(answer.body[:200])!r}")
        return {"whole": answer.total_ms}, has_id
    if answer.first_delta_ms is None or b"event: done" not in answer.body[-1024:]:
        raise RuntimeError(f"a streamed turn that did not end well: {bytes(answer.body[-200:])!r}")
    return {"stream_first_delta": answer.first_delta_ms, "stream_total": answer.total_ms}, has_id


def _check_ids(name: str, has_request_id: bool) -> None:
    if has_request_id != (name != BASELINE):
        state = "has" if has_request_id else "lacks"
        raise RuntimeError(f"{name} {state} X-Request-ID: its middleware is not as intended")


def _progress(samples: dict[str, dict[str, list[float]]], every: int) -> str:
    parts = []
    for key in MEASURES:
        medians = []
        for name, values in samples[key].items():
            last = sorted(values[-every:])
            medians.append(f"{name} {last[len(last) // 2]:.2f}")
        parts.append(f"{key} " + " ".join(medians))
    return "; ".join(parts)


async def _turns(
    apps: dict[str, Any], params: ObservabilityParams, log: Any
) -> dict[str, dict[str, list[float]]]:
    samples: dict[str, dict[str, list[float]]] = {k: {n: [] for n in apps} for k in MEASURES}
    names = list(apps)
    total = params.warmup + params.turns
    serial = 0
    for turn in range(total):
        shift = turn % len(names)
        order = names[shift:] + names[:shift]
        for stream in (False, True) if turn % 2 == 0 else (True, False):
            for name in order:
                serial += 1
                payload: dict[str, Any] = {
                    "text": question(serial),
                    "max_tokens": params.max_tokens,
                }
                if stream:
                    payload["stream"] = True
                timings, has_id = await _turn(apps[name], payload)
                if turn == 0:
                    _check_ids(name, has_id)
                if turn >= params.warmup:
                    for key, value in timings.items():
                        samples[key][name].append(value)
        counted = turn + 1 - params.warmup
        if counted > 0 and counted % params.report_every == 0:
            log(
                f"  turn {counted}/{params.turns}: p50 ms {_progress(samples, params.report_every)}"
            )
    return samples


def _timed_us(call: Callable[[], Any], count: int) -> list[float]:
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1_000_000)
    return timings


async def _scrapes(app: Any, params: ObservabilityParams) -> dict[str, Any]:
    """A ``/metrics`` scrape of ``app``: the exposition alone (µs), a whole GET (ms)."""
    metrics = app.state.metrics
    exposition: bytes = metrics.exposition()
    served = sum(
        int(float(line.rsplit(b" ", 1)[1]))
        for line in exposition.splitlines()
        if line.startswith(b"alice_http_requests_total{")
    )
    _timed_us(metrics.exposition, 20)
    expose_us = _timed_us(metrics.exposition, params.scrapes)
    get_ms = []
    for index in range(20 + params.scrapes):
        answer = await _call(app, "GET", "/metrics")
        if index >= 20:
            get_ms.append(answer.total_ms)
    return {
        "requests_counted_before": served,
        "exposition_bytes": len(exposition),
        "exposition_samples": sum(1 for ln in exposition.splitlines() if not ln.startswith(b"#")),
        "exposition_us": summarize(expose_us),
        "get_metrics_ms": summarize(get_ms),
    }


async def _middleware_alone(params: ObservabilityParams, sink: str) -> dict[str, Any]:
    """The middleware around a trivial ASGI app, one awaited call at a time (µs)."""
    from alice.observability import Metrics, ObservabilityMiddleware, Tracing

    # FastAPI puts the matched route in the scope; the trivial app does the same, so the
    # middleware names the route as it does in Alice (not by matching templates).
    route = SimpleNamespace(path="/ping")
    answer = b'{"ok":true}'

    async def trivial(scope: Any, _receive: Any, send: Any) -> None:
        scope["route"] = route
        await send({"type": "http.response.start", "status": 200, "headers": _JSON})
        await send({"type": "http.response.body", "body": answer})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: Any) -> None:
        return None

    tracing = Tracing(endpoint=sink, sample_ratio=1.0)
    http_log = logging.getLogger("alice.http")

    def wrapped(tracer: Any) -> Any:
        return ObservabilityMiddleware(
            trivial,
            metrics=Metrics(),
            tracing=tracer,
            mode=lambda: "ok",
            routes=lambda: [("/ping", {"GET"})],
        )

    variants: dict[str, Callable[..., Awaitable[None]]] = {
        "none": trivial,
        "middleware": wrapped(Tracing()),
        _UNWRITTEN: wrapped(Tracing()),
        "middleware+tracing": wrapped(tracing),
    }
    template = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/ping",
        "raw_path": b"/ping",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"alice"), (b"user-agent", b"bench")],
        "server": ("alice", 80),
        "client": ("127.0.0.1", 50000),
    }
    timings: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    blocks = max(1, params.middleware_calls // params.middleware_block)
    for block in range(blocks + 1):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            app = variants[name]
            # How much of the middleware is writing its line: the same, the line dropped
            # by the standard library logger (structlog's processors still run).
            http_log.disabled = name == _UNWRITTEN
            for _ in range(params.middleware_block):
                scope = dict(template)
                start = time.perf_counter()
                await app(scope, receive, send)
                elapsed = (time.perf_counter() - start) * 1_000_000
                if block > 0:  # the first block warms up
                    timings[name].append(elapsed)
    http_log.disabled = False
    tracing.shutdown()
    out: dict[str, Any] = {name: summarize(values) for name, values in timings.items()}
    base = out["none"]
    for name in names[1:]:
        out[name]["added_p50"] = round(out[name]["p50"] - base["p50"], 3)
        out[name]["added_p99"] = round(out[name]["p99"] - base["p99"], 3)
    return out


def _log_lines(work: Path) -> dict[str, Any]:
    """What the run wrote to the NDJSON log (every rotated file), by event."""
    events: Counter[str] = Counter()
    routes: Counter[str] = Counter()
    invalid = 0
    for path in sorted(work.glob("alice.log*")):
        with path.open("rb") as lines:
            for line in lines:
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    invalid += 1
                    continue
                events[entry.get("event", "?")] += 1
                if entry.get("event") == "http.request":
                    routes[f"{entry.get('method')} {entry.get('route')}"] += 1
    return {
        "events": dict(events.most_common(12)),
        "http_request_by_route": dict(routes),
        "invalid_lines": invalid,
    }


async def _in_process(
    upstream: str, sink: str, work: Path, params: ObservabilityParams, log: Any
) -> dict[str, Any]:
    extra = env_pairs(params.alice_env)
    envs = {name: _target_env(name, upstream, sink, extra) for name in TARGETS}
    apps = {name: _build_app(name, envs[name], work / name) for name in TARGETS}
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        log(f"{len(apps)} apps ready: " + ", ".join(apps))
        samples = await _turns(apps, params, log)
        log("a /metrics scrape of the observed app")
        scrape = await _scrapes(apps["observed"], params)
    # The traced app's lifespan has ended: its tracing flushed what it had buffered.
    spans_after_turns = _sink_stats(sink)
    log("the middleware alone around a trivial app")
    middleware = await _middleware_alone(params, sink)
    return {
        "envs": envs,
        "samples": samples,
        "scrape": scrape,
        "middleware_us": middleware,
        "sink_after_turns": spans_after_turns,
    }


def _sink_stats(sink: str) -> dict[str, int]:
    with httpx.Client(trust_env=False, timeout=10) as client:
        stats: dict[str, int] = client.get(sink + "/stats").raise_for_status().json()
    return stats


def _run_logged(upstream: str, sink: str, work: Path, params: ObservabilityParams, log: Any) -> Any:
    """`_in_process` with Alice's logging configured, put back as it was afterwards."""
    import structlog

    from alice.observability import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        configure_logging(level="info", fmt="json", log_file=work / "alice.log")
        try:
            return asyncio.run(_in_process(upstream, sink, work, params, log))
        finally:
            for handler in root.handlers:
                handler.close()
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
            structlog.reset_defaults()


def _targets_met(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    for name, limit in (
        ("observed", TARGET_OBSERVED_ADDED_P50_MS),
        ("traced", TARGET_TRACED_ADDED_P50_MS),
    ):
        for key, label in MEASURES.items():
            added = analysis[key]["added_ms"][name]
            checks.append(
                {
                    "name": f"{name}: added p50, {label}",
                    "value": added["p50"],
                    "unit": "ms",
                    "limit": f"< {limit}",
                    "passed": added["p50"] < limit,
                    "ci95": added["ci95"]["p50"],
                    "headline": key == "whole",
                }
            )
    return checks


def run_observability(params: ObservabilityParams, log: Any = print) -> dict[str, Any]:
    """Start the upstream and the OTLP receiver, measure the three apps, stop them."""
    with (
        tempfile.TemporaryDirectory(prefix="alice-bench-observability-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        upstream, up_port = upstream_process(work, model=MODEL, chunks=params.chunks)
        sink, sink_port = sink_process(work)
        stack.enter_context(upstream)
        stack.enter_context(sink)
        upstream.wait_ready(loopback_url(up_port) + "/v1/models", timeout_s=60)
        sink.wait_ready(loopback_url(sink_port) + "/health", timeout_s=60)
        sink_url = loopback_url(sink_port)
        run = _run_logged(loopback_url(up_port) + "/v1", sink_url, work, params, log)
        sink_total = _sink_stats(sink_url)
        log_lines = _log_lines(work)
    samples = run["samples"]
    analysis: dict[str, Any] = {key: added_latency(samples[key], BASELINE) for key in MEASURES}
    traced_requests = 2 * (params.warmup + params.turns)
    after_turns = run["sink_after_turns"]
    analysis["scrape"] = run["scrape"]
    analysis["middleware_us"] = run["middleware_us"]
    analysis["log_lines"] = log_lines
    analysis["otlp"] = {
        "traced_chat_requests": traced_requests,
        "spans_from_turns": after_turns.get("spans", 0),
        "spans_per_traced_request": round(after_turns.get("spans", 0) / traced_requests, 2),
        "exports_from_turns": after_turns.get("requests", 0),
        "spans_from_middleware_timing": sink_total.get("spans", 0) - after_turns.get("spans", 0),
    }
    parameters = asdict(params)
    parameters["alice_settings"] = run["envs"]
    blocks = max(1, params.middleware_calls // params.middleware_block) + 1
    parameters["expected_http_request_lines"] = {
        # observed and traced, whole and streamed; the middleware variants that write.
        "POST /api/chat": 2 * 2 * (params.warmup + params.turns),
        "GET /ping": 2 * blocks * params.middleware_block,
    }
    return {
        "parameters": parameters,
        "analysis": analysis,
        "samples_ms": {
            key: {n: [round(v, 4) for v in vs] for n, vs in by_target.items()}
            for key, by_target in samples.items()
        },
        "targets_met": _targets_met(analysis),
    }
