"""Server-Sent Events framing and the streaming response both chat APIs use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

__all__ = ["SSE_HEADERS", "SseResponse", "sse_event", "sse_response"]

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # Tell nginx-style proxies not to buffer the stream.
    "X-Accel-Buffering": "no",
}


def sse_event(data: Any, *, event: str | None = None) -> bytes:
    """One SSE frame; ``data`` is JSON-encoded unless it is already bytes."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


class SseResponse(StreamingResponse):
    """A ``text/event-stream`` response whose first frames may already be known (``head``).

    The head goes out in the request's own task, right after the response start:
    Starlette streams the body from a second task, which first runs on the next turn of
    the event loop, once its disconnect listener is waiting. For a chat answer the head
    is the first piece of text, so the time to first token loses that wait.
    """

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        head: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            frames, media_type="text/event-stream", headers={**SSE_HEADERS, **(headers or {})}
        )
        self._head = head
        self._started = False

    async def _start(self, send: Send) -> None:
        if not self._started:
            self._started = True
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the start and the head now, then stream the rest (Starlette's way)."""
        if self._head and scope["type"] == "http":
            await self._start(send)
            await send({"type": "http.response.body", "body": self._head, "more_body": True})
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        """The body after the head; the start unless it went out with the head."""
        await self._start(send)
        async for chunk in self.body_iterator:
            body = chunk if isinstance(chunk, bytes | memoryview) else chunk.encode(self.charset)
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def sse_response(
    frames: AsyncIterator[bytes], *, head: bytes = b"", headers: Mapping[str, str] | None = None
) -> SseResponse:
    """A ``text/event-stream`` response: ``head`` at once, then ``frames`` as they come."""
    return SseResponse(frames, head=head, headers=headers)
