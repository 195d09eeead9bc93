"""What the HTTP providers share: the client, and vendor errors mapped once.

aiohttp's exceptions and the upstream's status codes are translated here into Alice's
`ModelError` family, so the providers and everything above them only ever see those.
`upstream_client` (httpx) serves the remote voice backends, which send multipart
uploads and are off the per-token hot path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import httpx
import orjson
from yarl import URL

from alice.errors import (
    AliceError,
    InvalidRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
    UpstreamError,
)

__all__ = [
    "HttpProvider",
    "UpstreamConfig",
    "body_lines",
    "error_for_status",
    "open_stream",
    "upstream_client",
    "upstream_session",
]

_DEFAULT_RETRY_AFTER_S = 5
_JSON = {"Content-Type": "application/json"}


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
    """Connection-pool lifecycle shared by the providers that speak HTTP.

    The model-serving hot path uses aiohttp rather than httpx: its C HTTP parser and
    leaner connection pool cost about a seventh of httpx's CPU per streamed answer
    (docs/decisions/0016-aiohttp-for-model-upstreams.md).
    """

    name = "http"

    def __init__(self, config: UpstreamConfig, *, models: tuple[str, ...]) -> None:
        if not models:
            raise ValueError("at least one model name is required")
        self._config = config
        self._models = models
        self._session: aiohttp.ClientSession | None = None
        self._base = config.base_url.rstrip("/")
        self._urls: dict[str, URL] = {}

    @property
    def models(self) -> tuple[str, ...]:
        """Model names served through this upstream, the default first."""
        return self._models

    async def start(self) -> None:
        """Open the connection pool."""
        if self._session is None:
            self._session = upstream_session(self._config)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("provider used before start()")
        return self._session

    def _url(self, path: str) -> URL:
        """The upstream URL of ``path``, parsed once (yarl parsing is not free)."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = URL(self._base + path)
        return url

    async def _get(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` within the connect timeout: the status and body of the answer.

        Raises:
            aiohttp.ClientError | TimeoutError: the upstream could not be asked.
        """
        if self._session is None:
            raise aiohttp.ClientConnectionError("the provider is not started")
        timeout = aiohttp.ClientTimeout(total=self._config.connect_timeout_s)
        async with self._session.get(self._url(path), timeout=timeout) as response:
            return response.status, await response.read()


def upstream_session(config: UpstreamConfig) -> aiohttp.ClientSession:
    """An aiohttp session with Alice's timeouts and pool limits for one model server.

    ``connect`` bounds both the wait for a free pooled connection and opening a new
    one; ``sock_read`` bounds each silence while an answer streams, not its length.
    Proxy variables and ``.netrc`` are not consulted (``trust_env=False``): model
    servers are reached directly, and reading them per request costs time.
    """
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=config.connect_timeout_s,
        sock_connect=config.connect_timeout_s,
        sock_read=config.read_timeout_s,
    )
    connector = aiohttp.TCPConnector(limit=config.max_connections, limit_per_host=0)
    return aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout, trust_env=False
    )


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
    session: aiohttp.ClientSession, url: URL, payload: dict[str, object]
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST ``payload`` and yield the streaming response, mapping every failure."""
    try:
        async with session.post(url, data=orjson.dumps(payload), headers=_JSON) as response:
            if response.status >= 400:
                body = await response.read()
                raise error_for_status(response.status, body, response.headers)
            yield response
    except aiohttp.ConnectionTimeoutError as exc:
        raise ModelUnavailableError(
            "The model server did not accept a connection in time.",
            retry_after=_DEFAULT_RETRY_AFTER_S,
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        raise ModelUnavailableError(
            "The model server cannot be reached.", retry_after=_DEFAULT_RETRY_AFTER_S
        ) from exc
    except aiohttp.ServerTimeoutError as exc:
        raise ModelTimeoutError() from exc
    except (
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientPayloadError,
        aiohttp.ClientOSError,
        aiohttp.ClientResponseError,
    ) as exc:
        # A cut connection, a truncated or malformed body, an unparseable status line.
        raise UpstreamError(
            "The model server closed the connection mid-answer.", transient=True
        ) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"The model server could not be read ({type(exc).__name__}).") from exc


async def body_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The lines of a streamed body as bytes (LF, CRLF or CR endings), as they arrive.

    SSE and NDJSON are UTF-8 and every byte that matters to them is ASCII, so splitting
    bytes is exact and no text is decoded before the JSON parser sees it.
    """
    buffer = b""
    async for data in chunks:
        buffer += data
        if b"\r" in buffer:
            # Normalise; a CR at the very end may be half of a CRLF still to come.
            keep = buffer.endswith(b"\r")
            body = buffer[:-1] if keep else buffer
            buffer = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if keep else b"")
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line
    if buffer:
        yield buffer.rstrip(b"\r")
