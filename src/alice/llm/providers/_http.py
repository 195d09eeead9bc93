"""What the HTTP providers share: the client, and vendor errors mapped once.

httpx's exceptions and the upstream's status codes are translated here into Alice's
`ModelError` family, so the providers and everything above them only ever see those.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import orjson

from alice.errors import (
    AliceError,
    InvalidRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
    UpstreamError,
)

__all__ = ["HttpProvider", "UpstreamConfig", "error_for_status", "open_stream", "upstream_client"]

_DEFAULT_RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """Where a remote model server is and how long to wait for it."""

    base_url: str
    api_key: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0
    max_connections: int = 100

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise ValueError("timeouts must be positive")


def upstream_client(
    config: UpstreamConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An HTTP client with Alice's timeouts and pool limits for one upstream."""
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    timeout = httpx.Timeout(
        connect=config.connect_timeout_s,
        read=config.read_timeout_s,
        write=config.read_timeout_s,
        pool=config.connect_timeout_s,
    )
    limits = httpx.Limits(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_connections,
    )
    return httpx.AsyncClient(
        base_url=config.base_url,
        headers=headers,
        timeout=timeout,
        limits=limits,
        transport=transport,
    )


class HttpProvider:
    """Connection-pool lifecycle shared by the providers that speak HTTP."""

    name = "http"

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        models: tuple[str, ...],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not models:
            raise ValueError("at least one model name is required")
        self._config = config
        self._models = models
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @property
    def models(self) -> tuple[str, ...]:
        """Model names served through this upstream, the default first."""
        return self._models

    async def start(self) -> None:
        """Open the connection pool."""
        if self._client is None:
            self._client = upstream_client(self._config, transport=self._transport)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("provider used before start()")
        return self._client


def _message_of(body: bytes) -> str:
    """The upstream's own error message, when its body has one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        err = data.get("error", data.get("message", data.get("detail")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return str(err)[:500]
    return ""


def _retry_after(headers: Mapping[str, str]) -> int:
    try:
        return max(1, int(float(headers.get("retry-after", _DEFAULT_RETRY_AFTER_S))))
    except ValueError:
        return _DEFAULT_RETRY_AFTER_S


def error_for_status(status: int, body: bytes, headers: Mapping[str, str]) -> AliceError:
    """The Alice error for an upstream's HTTP error answer."""
    detail = _message_of(body)
    suffix = f": {detail}" if detail else ""
    if status in (400, 413, 422):
        # The upstream judged the request itself (say, a prompt over its context size):
        # the client can fix that, so it is the client's error, not a server fault.
        return InvalidRequestError(f"The model server rejected the request{suffix}")
    if status == 404:
        return UpstreamError(f"The model server does not know this model or route{suffix}")
    if status in (401, 403):
        return UpstreamError("The model server refused Alice's credentials.")
    if status in (408, 429, 502, 503, 504):
        return ModelUnavailableError(
            f"The model server is busy or unavailable ({status}){suffix}",
            retry_after=_retry_after(headers),
        )
    # 502/503/504 and 429 are "unavailable" above (retried); any other 5xx is the server's
    # own failure: fail over to the next backend instead of asking it again.
    return UpstreamError(f"The model server failed ({status}){suffix}")


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, method: str, path: str, payload: dict[str, object]
) -> AsyncIterator[httpx.Response]:
    """POST ``payload`` and yield the streaming response, mapping every failure."""
    try:
        async with client.stream(
            method,
            path,
            content=orjson.dumps(payload),
            headers={"Content-Type": "application/json"},
        ) as response:
            if response.status_code >= 400:
                body = await response.aread()
                raise error_for_status(response.status_code, body, response.headers)
            yield response
    except httpx.ConnectTimeout as exc:
        raise ModelUnavailableError(
            "The model server did not accept a connection in time.",
            retry_after=_DEFAULT_RETRY_AFTER_S,
        ) from exc
    except httpx.ConnectError as exc:
        raise ModelUnavailableError(
            "The model server cannot be reached.", retry_after=_DEFAULT_RETRY_AFTER_S
        ) from exc
    except httpx.PoolTimeout as exc:
        raise ModelUnavailableError(
            "Too many requests to the model server are in flight.",
            retry_after=_DEFAULT_RETRY_AFTER_S,
        ) from exc
    except httpx.TimeoutException as exc:
        raise ModelTimeoutError() from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise UpstreamError(
            "The model server closed the connection mid-answer.", transient=True
        ) from exc
    except httpx.HTTPError as exc:
        raise UpstreamError(f"The model server could not be read ({type(exc).__name__}).") from exc
