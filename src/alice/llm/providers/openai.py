"""Any OpenAI-compatible chat server: vLLM, llama.cpp server, LM Studio, OpenAI itself.

Translation between Alice's types and the wire format is done by the pure functions
`to_payload` and `parse_event`; `OpenAIProvider` only moves bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from alice.errors import UpstreamError
from alice.llm.provider import ComponentHealth
from alice.llm.providers._http import HttpProvider, body_lines, open_stream
from alice.llm.types import Chunk, CompletionRequest, FinishReason, Usage

__all__ = ["OpenAIProvider", "parse_event", "to_payload"]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "eos": "stop",
    "content_filter": "stop",
    "tool_calls": "stop",
    "function_call": "stop",
}


def to_payload(request: CompletionRequest) -> dict[str, Any]:
    """The ``/chat/completions`` streaming request body for ``request``."""
    payload: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.stop:
        payload["stop"] = list(request.stop)
    if request.seed is not None:
        payload["seed"] = request.seed
    return payload


def parse_event(data: dict[str, Any]) -> tuple[str, FinishReason | None, Usage | None]:
    """Text, finish reason and usage carried by one streamed ``chat.completion.chunk``.

    Raises:
        UpstreamError: the event is an error report.
    """
    if "error" in data:
        err = data["error"]
        message = err.get("message") if isinstance(err, dict) else err
        raise UpstreamError(f"The model server failed mid-answer: {message}")
    text = ""
    finish: FinishReason | None = None
    for choice in data.get("choices") or ():
        delta = choice.get("delta") or {}
        text += delta.get("content") or ""
        reason = choice.get("finish_reason")
        if reason:
            finish = _FINISH.get(reason, "stop")
    usage = None
    raw = data.get("usage")
    if isinstance(raw, dict):
        usage = Usage(
            prompt_tokens=int(raw.get("prompt_tokens") or 0),
            completion_tokens=int(raw.get("completion_tokens") or 0),
        )
    return text, finish, usage


class OpenAIProvider(HttpProvider):
    """Streams chat completions from an OpenAI-compatible server."""

    name = "openai"

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        """Stream the upstream's answer; see `alice.llm.provider.Provider.stream`."""
        finish: FinishReason | None = None
        usage: Usage | None = None
        pieces = 0
        done = False
        async with open_stream(
            self._http(), self._url("/chat/completions"), to_payload(request)
        ) as response:
            async for line in body_lines(response.content.iter_any()):
                if not line.startswith(b"data:"):
                    continue  # blank separators, comments (": ping"), event names
                data = line[5:].strip()
                if data == b"[DONE]":
                    # Keep reading to the end of the body: a response left unread closes
                    # the connection instead of returning it to the pool.
                    done = True
                    continue
                try:
                    event = orjson.loads(data)
                except orjson.JSONDecodeError as exc:
                    raise UpstreamError("The model server sent an unreadable event.") from exc
                text, reason, event_usage = parse_event(event)
                finish = reason or finish
                usage = event_usage or usage
                if text:
                    pieces += 1
                    yield Chunk(text=text)
        if not done and finish is None:
            raise UpstreamError(
                "The model server ended the stream before finishing.", transient=True
            )
        # Servers that ignore stream_options send no usage; one streamed piece is one
        # token on every server we know, so the count is a fair fallback.
        yield Chunk(
            finish_reason=finish or "stop",
            usage=usage or Usage(prompt_tokens=0, completion_tokens=pieces),
        )

    async def health(self) -> ComponentHealth:
        """Healthy when the upstream lists its models."""
        try:
            status, _ = await self._get("/models")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return ComponentHealth("unhealthy", f"unreachable: {type(exc).__name__}")
        if status >= 500:
            return ComponentHealth("unhealthy", f"upstream answered {status}")
        if status >= 400:
            return ComponentHealth("degraded", f"upstream answered {status}")
        return ComponentHealth("healthy", self._config.base_url)
