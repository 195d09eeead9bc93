"""An asyncio load generator for OpenAI-compatible chat endpoints.

One `httpx.AsyncClient` per target, its pool sized to the concurrency, run on uvloop
when it is installed. A batch is ``requests`` requests spread over ``concurrency``
workers, each sending its next request as soon as its previous one is done (a closed
loop). For each request it records:

- ``ttft``: streaming, the time from sending the request to the first chunk that
  carries content; whole, the time to the complete response;
- ``total``: the time to the end of the response;
- how many content chunks arrived (to check that every target delivers the answer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson

__all__ = ["BatchResult", "ChatLoad", "make_client", "run_in_loop"]

T = TypeVar("T")


@dataclass
class BatchResult:
    """What one batch of requests measured."""

    ttft_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    content_chunks: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def ok(self) -> int:
        """Requests that succeeded."""
        return len(self.ttft_ms)

    @property
    def requests_per_s(self) -> float:
        """Successful requests per second of wall time."""
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0


def make_client(
    base_url: str, *, concurrency: int, headers: Mapping[str, str]
) -> httpx.AsyncClient:
    """A keep-alive client whose pool holds exactly ``concurrency`` connections."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers=dict(headers),
        limits=httpx.Limits(
            max_connections=concurrency,
            max_keepalive_connections=concurrency,
            # Idle between rounds while the other targets run: keep the connections.
            keepalive_expiry=None,
        ),
        timeout=httpx.Timeout(60.0, connect=10.0),
        trust_env=False,  # loopback only, never through a proxy
    )


def _contents(payload: bytes) -> int:
    """Content-carrying choices in one SSE ``data:`` payload."""
    if payload == b"[DONE]":
        return 0
    event = orjson.loads(payload)
    count = 0
    for choice in event.get("choices") or ():
        if (choice.get("delta") or {}).get("content"):
            count += 1
    return count


@dataclass(frozen=True)
class ChatLoad:
    """Chat completion requests of one shape against one endpoint path."""

    path: str
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        """Whether the requests ask for a streamed answer."""
        return bool(self.body.get("stream"))

    async def _one_streamed(
        self, client: httpx.AsyncClient, content: bytes, out: BatchResult
    ) -> None:
        started = time.perf_counter()
        first: float | None = None
        chunks = 0
        async with client.stream(
            "POST", self.path, content=content, headers={"content-type": "application/json"}
        ) as response:
            if response.status_code != 200:
                body = await response.aread()
                out.errors.append(f"{response.status_code}: {body[:200]!r}")
                return
            pending = b""
            async for data in response.aiter_raw():
                pending += data.replace(b"\r\n", b"\n") if b"\r" in data else data
                while (end := pending.find(b"\n\n")) >= 0:
                    event, pending = pending[:end], pending[end + 2 :]
                    for line in event.split(b"\n"):
                        if line.startswith(b"data:"):
                            found = _contents(line[5:].strip())
                            if found and first is None:
                                first = time.perf_counter()
                            chunks += found
        finished = time.perf_counter()
        if first is None:
            out.errors.append("stream without content")
            return
        out.ttft_ms.append((first - started) * 1000)
        out.total_ms.append((finished - started) * 1000)
        out.content_chunks.append(chunks)

    async def _one_whole(self, client: httpx.AsyncClient, content: bytes, out: BatchResult) -> None:
        started = time.perf_counter()
        response = await client.post(
            self.path, content=content, headers={"content-type": "application/json"}
        )
        finished = time.perf_counter()
        if response.status_code != 200:
            out.errors.append(f"{response.status_code}: {response.content[:200]!r}")
            return
        message = orjson.loads(response.content)["choices"][0]["message"]
        if not message.get("content"):
            out.errors.append("answer without content")
            return
        elapsed = (finished - started) * 1000
        out.ttft_ms.append(elapsed)
        out.total_ms.append(elapsed)
        out.content_chunks.append(1)

    async def batch(
        self, client: httpx.AsyncClient, *, requests: int, concurrency: int
    ) -> BatchResult:
        """Send ``requests`` requests, ``concurrency`` at a time."""
        content = orjson.dumps(self.body)
        one = self._one_streamed if self.stream else self._one_whole
        out = BatchResult()
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                try:
                    await one(client, content, out)
                except httpx.HTTPError as exc:
                    out.errors.append(f"{type(exc).__name__}: {exc}")

        cpu_before = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        out.wall_s = time.perf_counter() - started
        out.client_cpu_s = time.process_time() - cpu_before
        return out


def run_in_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main`` on uvloop when it is installed, else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())
