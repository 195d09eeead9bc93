"""Ollama's native streaming ``/api/chat`` (NDJSON lines, one object per piece)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from alice.errors import UpstreamError
from alice.llm.provider import ComponentHealth
from alice.llm.providers._http import HttpProvider, body_lines, open_stream
from alice.llm.types import Chunk, CompletionRequest, FinishReason, Usage

__all__ = ["OllamaProvider", "parse_line", "to_payload"]


def to_payload(request: CompletionRequest) -> dict[str, Any]:
    """The ``/api/chat`` request body for ``request``."""
    options: dict[str, Any] = {
        "num_predict": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
    }
    if request.stop:
        options["stop"] = list(request.stop)
    if request.seed is not None:
        options["seed"] = request.seed
    return {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
        "options": options,
    }


def parse_line(data: dict[str, Any]) -> tuple[str, FinishReason | None, Usage | None]:
    """Text, finish reason and usage of one NDJSON object from ``/api/chat``.

    Raises:
        UpstreamError: the object is an error report.
    """
    if "error" in data:
        raise UpstreamError(f"Ollama failed mid-answer: {data['error']}")
    message = data.get("message") or {}
    text = str(message.get("content") or "")
    if not data.get("done"):
        return text, None, None
    finish: FinishReason = "length" if data.get("done_reason") == "length" else "stop"
    usage = Usage(
        prompt_tokens=int(data.get("prompt_eval_count") or 0),
        completion_tokens=int(data.get("eval_count") or 0),
    )
    return text, finish, usage


class OllamaProvider(HttpProvider):
    """Streams chat answers from an Ollama server."""

    name = "ollama"

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        """Stream Ollama's answer; see `alice.llm.provider.Provider.stream`."""
        url = self._url("/api/chat")
        async with open_stream(self._http(), url, to_payload(request)) as resp:
            async for line in body_lines(resp.content.iter_any()):
                if not line.strip():
                    continue
                try:
                    data = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise UpstreamError("Ollama sent an unreadable line.") from exc
                text, finish, usage = parse_line(data)
                if finish is not None:
                    yield Chunk(text=text, finish_reason=finish, usage=usage)
                    return
                if text:
                    yield Chunk(text=text)
        raise UpstreamError("Ollama ended the stream before finishing.")

    async def health(self) -> ComponentHealth:
        """Healthy when Ollama lists its models and ours is among them."""
        try:
            status, body = await self._get("/api/tags")
            if status >= 400:
                return ComponentHealth("unhealthy", f"upstream answered {status}")
            names = {m.get("name", "") for m in orjson.loads(body).get("models", [])}
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
            return ComponentHealth("unhealthy", f"unreachable: {type(exc).__name__}")
        wanted = self._models[0]
        if wanted in names or f"{wanted}:latest" in names:
            return ComponentHealth("healthy", self._config.base_url)
        return ComponentHealth("degraded", f"model {wanted!r} is not pulled on the server")
