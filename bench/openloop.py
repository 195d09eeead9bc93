"""An open-loop load generator: requests fired on a fixed schedule, whatever the answers.

A closed loop (each worker waits for its answer before sending again) slows down with
the server it measures, so it can never overload it. Here request ``i`` is sent at
``start + i / rate`` whether or not earlier ones have been answered, each in its own
task; so arrivals stay at ``rate`` even while the server falls behind. Every request
records when it was meant to go, when it actually went (the difference is the load
generator's own lag: it shows whether the generator kept up), its status, its
``Retry-After``, time to first content and time to the end of the answer.

Two request shapes, both streamed Server-Sent Events:

- `openai_stream`: ``POST /v1/chat/completions`` (``data:`` chunks, ``[DONE]``);
- `native_stream`: ``POST /api/chat`` (``start``, ``delta``, ``done``/``error`` events;
  ``done`` says whether the answer was Alice's offline message).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import orjson

from bench.alice_server import ALICE_AUTH_HEADERS
from bench.stats import summarize

__all__ = [
    "Fire",
    "Outcome",
    "native_stream",
    "open_loop",
    "openai_stream",
    "outcome_summary",
    "schedule_summary",
    "wide_client",
]

#: ``kind`` of a request that got a complete model answer.
OK = "ok"


@dataclass(frozen=True)
class Outcome:
    """What one request of an open-loop run measured (times in seconds/ms)."""

    index: int
    intended_s: float  # scheduled send time, perf_counter seconds
    sent_s: float  # actual send time, perf_counter seconds
    status: int  # HTTP status; 0 when no response came
    kind: str  # "ok", "http-429", "sse-error:<code>", "offline", "transport:<Error>", ...
    total_ms: float  # send → end of the response (or the failure)
    ttft_ms: float | None = None  # send → first content (streamed answers)
    retry_after: str | None = None
    done_s: float = 0.0  # perf_counter seconds when the response ended

    @property
    def ok(self) -> bool:
        """A complete answer from a model."""
        return self.kind == OK

    @property
    def lag_ms(self) -> float:
        """How late the generator sent this request."""
        return (self.sent_s - self.intended_s) * 1000

    def record(self, origin: float) -> dict[str, Any]:
        """As a JSON-able dict with times relative to ``origin``."""
        data = asdict(self)
        for name in ("intended_s", "sent_s", "done_s"):
            data[name] = round(data[name] - origin, 4)
        for name in ("total_ms", "ttft_ms"):
            if data[name] is not None:
                data[name] = round(data[name], 3)
        return data


#: Sends request ``index`` (scheduled for ``intended``) and reports how it went.
Fire = Callable[[int, float], Coroutine[Any, Any, Outcome]]


def wide_client(base_url: str, *, connections: int = 1024) -> httpx.AsyncClient:
    """A keep-alive client with room for every request an overload keeps in flight."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers=ALICE_AUTH_HEADERS,
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=None,
        ),
        timeout=httpx.Timeout(120.0, connect=10.0),
        trust_env=False,  # loopback only, never through a proxy
    )


async def _sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, bytes]]:
    """(event name, data) of each Server-Sent Event (name ``message`` when unnamed)."""
    pending = b""
    async for data in response.aiter_raw():
        pending += data.replace(b"\r\n", b"\n") if b"\r" in data else data
        while (end := pending.find(b"\n\n")) >= 0:
            block, pending = pending[:end], pending[end + 2 :]
            name = "message"
            lines: list[bytes] = []
            for line in block.split(b"\n"):
                if line.startswith(b"event:"):
                    name = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    lines.append(line[5:].strip())
            if lines:
                yield name, b"\n".join(lines)


async def _refused(index: int, intended: float, sent: float, response: httpx.Response) -> Outcome:
    """The outcome of a request answered with an HTTP error status (read to its end)."""
    await response.aread()
    done = time.perf_counter()
    return Outcome(
        index,
        intended,
        sent,
        response.status_code,
        f"http-{response.status_code}",
        (done - sent) * 1000,
        retry_after=response.headers.get("retry-after"),
        done_s=done,
    )


def openai_stream(client: httpx.AsyncClient, body: dict[str, Any]) -> Fire:
    """Streamed ``POST /v1/chat/completions`` requests with ``body``."""
    content = orjson.dumps({**body, "stream": True})
    headers = {"content-type": "application/json"}

    async def fire(index: int, intended: float) -> Outcome:
        sent = time.perf_counter()
        first: float | None = None
        kind = "no-content"
        try:
            async with client.stream(
                "POST", "/v1/chat/completions", content=content, headers=headers
            ) as response:
                if response.status_code != 200:
                    return await _refused(index, intended, sent, response)
                async for _name, data in _sse_events(response):
                    if data == b"[DONE]":
                        if kind == "no-content" and first is not None:
                            kind = OK
                        continue
                    event = orjson.loads(data)
                    if "error" in event:
                        kind = f"sse-error:{(event['error'] or {}).get('code', '?')}"
                        continue
                    for choice in event.get("choices") or ():
                        if (choice.get("delta") or {}).get("content") and first is None:
                            first = time.perf_counter()
                status = response.status_code
        except httpx.HTTPError as exc:
            return _transport_failure(index, intended, sent, exc)
        done = time.perf_counter()
        ttft = (first - sent) * 1000 if first is not None else None
        return Outcome(index, intended, sent, status, kind, (done - sent) * 1000, ttft, None, done)

    return fire


def native_stream(client: httpx.AsyncClient, bodies: Sequence[dict[str, Any]]) -> Fire:
    """Streamed ``POST /api/chat`` requests, request ``i`` sending ``bodies[i % len]``."""
    contents = [orjson.dumps({**body, "stream": True}) for body in bodies]
    headers = {"content-type": "application/json"}

    async def fire(index: int, intended: float) -> Outcome:
        sent = time.perf_counter()
        first: float | None = None
        kind = "no-done-event"
        try:
            async with client.stream(
                "POST", "/api/chat", content=contents[index % len(contents)], headers=headers
            ) as response:
                if response.status_code != 200:
                    return await _refused(index, intended, sent, response)
                async for name, data in _sse_events(response):
                    if name == "delta" and first is None:
                        first = time.perf_counter()
                    elif name == "error":
                        error = orjson.loads(data).get("error") or {}
                        kind = f"sse-error:{error.get('code', '?')}"
                    elif name == "done":
                        kind = "offline" if orjson.loads(data).get("offline") else OK
                status = response.status_code
        except httpx.HTTPError as exc:
            return _transport_failure(index, intended, sent, exc)
        done = time.perf_counter()
        ttft = (first - sent) * 1000 if first is not None else None
        return Outcome(index, intended, sent, status, kind, (done - sent) * 1000, ttft, None, done)

    return fire


def _transport_failure(index: int, intended: float, sent: float, exc: Exception) -> Outcome:
    """The outcome of a request that got no HTTP response at all."""
    done = time.perf_counter()
    return Outcome(
        index,
        intended,
        sent,
        0,
        f"transport:{type(exc).__name__}",
        (done - sent) * 1000,
        done_s=done,
    )


async def open_loop(
    fire: Fire,
    *,
    rate_per_s: float,
    duration_s: float,
    stop: asyncio.Event | None = None,
    start: float | None = None,
) -> list[Outcome]:
    """Send ``rate_per_s`` requests per second for ``duration_s``; wait for every answer.

    With ``stop``, sending also ends (at the next scheduled request) once it is set.
    ``start`` (a `time.perf_counter` value) is when request 0 is due; default: now.
    """
    if rate_per_s <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be positive")
    count = max(1, round(rate_per_s * duration_s))
    interval = 1.0 / rate_per_s
    if start is None:
        start = time.perf_counter() + 0.02
    tasks: list[asyncio.Task[Outcome]] = []
    for index in range(count):
        intended = start + index * interval
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if stop is not None and stop.is_set():
            break
        tasks.append(asyncio.create_task(fire(index, intended)))
    return list(await asyncio.gather(*tasks))


def schedule_summary(outcomes: Sequence[Outcome], rate_per_s: float) -> dict[str, Any]:
    """Intended versus achieved arrival rate, and the generator's send lag."""
    if not outcomes:
        return {"requests": 0}
    sends = sorted(o.sent_s for o in outcomes)
    span = sends[-1] - sends[0]
    achieved = (len(sends) - 1) / span if span > 0 else 0.0
    return {
        "requests": len(outcomes),
        "intended_rate_per_s": round(rate_per_s, 3),
        "achieved_rate_per_s": round(achieved, 3),
        "achieved_over_intended": round(achieved / rate_per_s, 4) if rate_per_s else None,
        "send_lag_ms": summarize([o.lag_ms for o in outcomes]),
    }


def outcome_summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Counts by kind and status, and latency summaries of the answered requests."""
    ok = [o for o in outcomes if o.ok]
    return {
        "requests": len(outcomes),
        "ok": len(ok),
        "kinds": dict(Counter(o.kind for o in outcomes)),
        "statuses": {str(k): v for k, v in sorted(Counter(o.status for o in outcomes).items())},
        "ok_total_ms": summarize([o.total_ms for o in ok]),
        "ok_ttft_ms": summarize([o.ttft_ms for o in ok if o.ttft_ms is not None]),
    }
