"""An OpenAI-compatible audio server (``/audio/*``), with its failures mapped once.

Used by the remote STT and TTS engines. Every httpx error and error status becomes the
stage's `VoiceError` subclass with ``transient`` set the way the fallback chain needs:
a server that is down, busy or slow is transient (try the next engine, and this one
again later); a request it refuses is not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from alice.errors import VoiceError
from alice.llm.providers._http import UpstreamConfig, upstream_client

__all__ = ["RemoteAudio"]

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class RemoteAudio:
    """A connection pool to one OpenAI-compatible audio server."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        error: type[VoiceError],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._error = error
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = upstream_client(self._config, transport=self._transport)
        return self._client

    async def aclose(self) -> None:
        """Close the pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _failed(self, status: int, body: bytes) -> VoiceError:
        detail = body[:200].decode("utf-8", "replace").strip()
        return self._error(
            f"The audio server answered {status}" + (f": {detail}" if detail else "."),
            transient=status in _TRANSIENT_STATUS,
        )

    def _unreachable(self, exc: httpx.HTTPError) -> VoiceError:
        return self._error(
            f"The audio server could not be reached or read ({type(exc).__name__}).",
            transient=True,
        )

    async def post_form(
        self, path: str, *, data: Mapping[str, str], files: Mapping[str, Any]
    ) -> httpx.Response:
        """POST a multipart form; the (successful) response."""
        try:
            response = await self._http().post(path, data=dict(data), files=dict(files))
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise self._failed(response.status_code, response.content)
        return response

    @asynccontextmanager
    async def stream_json(
        self, path: str, payload: dict[str, Any]
    ) -> AsyncIterator[httpx.Response]:
        """POST JSON and yield the streaming (successful) response."""
        try:
            async with self._http().stream("POST", path, json=payload) as response:
                if response.status_code >= 400:
                    raise self._failed(response.status_code, await response.aread())
                yield response
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
