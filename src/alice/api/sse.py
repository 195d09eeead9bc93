"""Server-Sent Events framing and the streaming response both chat APIs use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from starlette.responses import StreamingResponse

__all__ = ["SSE_HEADERS", "sse_event", "sse_response"]

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


def sse_response(
    frames: AsyncIterator[bytes], *, headers: Mapping[str, str] | None = None
) -> StreamingResponse:
    """A ``text/event-stream`` response that streams ``frames`` as they come."""
    return StreamingResponse(
        frames, media_type="text/event-stream", headers={**SSE_HEADERS, **(headers or {})}
    )
