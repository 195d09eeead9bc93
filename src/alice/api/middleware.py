"""Pure ASGI middleware: body size, Guardian header, low-disk uploads, query parameters.

The body limit counts streamed (chunked) bodies too; uploads are refused while the
Guardian's disk sentinel says free disk is low. `send_error` answers with Alice's JSON
error body from any middleware, before a route runs. A query parameter given twice is
refused rather than silently reduced to its last value.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alice.errors import (
    AliceError,
    InsufficientStorageError,
    InvalidRequestError,
    PayloadTooLargeError,
)

__all__ = [
    "BodyLimitMiddleware",
    "GuardianHeaderMiddleware",
    "SingleQueryMiddleware",
    "UploadGuardMiddleware",
    "send_error",
]


async def send_error(
    send: Send, exc: AliceError, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with Alice's JSON error body (for middleware, before any route runs)."""
    body = orjson.dumps(exc.to_dict())
    all_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    if exc.retry_after is not None and not any(h[0] == b"retry-after" for h in all_headers):
        all_headers.append((b"retry-after", str(exc.retry_after).encode()))
    await send({"type": "http.response.start", "status": exc.status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413.

    A declared ``Content-Length`` over the limit is refused before the body is read; a
    chunked body is counted as it arrives and refused when it passes the limit.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, path_limits: tuple[tuple[str, int], ...] = ()
    ) -> None:
        self.app = app
        self.default_bytes = max_bytes
        self.max_bytes = max_bytes
        #: (path prefix, limit) pairs for routes that take larger bodies (audio uploads).
        self.path_limits = path_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting ``receive``, or refuse it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.default_bytes
        for prefix, bytes_ in self.path_limits:
            if scope["path"].startswith(prefix):
                limit = bytes_
                break
        if limit != self.max_bytes:
            # A per-request copy keeps the shared instance's limit untouched.
            await BodyLimitMiddleware(self.app, max_bytes=limit)(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
                break
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes."

    async def _refuse(self, send: Send) -> None:
        await send_error(send, PayloadTooLargeError(self._message()), [(b"connection", b"close")])


class GuardianHeaderMiddleware:
    """Adds ``x-guardian-mode`` to every HTTP response."""

    def __init__(self, app: ASGIApp, *, mode: Callable[[], str]) -> None:
        self.app = app
        self.mode = mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; stamp the mode on the response's headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-guardian-mode", self.mode().encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)


_UPLOAD_TYPES = (b"multipart/form-data", b"application/octet-stream")


class UploadGuardMiddleware:
    """While ``disk_low()``, refuse uploads (multipart or binary bodies) with 507.

    The Guardian's disk sentinel degrades when free disk on the data folder falls below
    ``ALICE_GUARDIAN__DISK_BROWNOUT_BELOW_BYTES``; chat (small JSON bodies, needed to keep
    serving) goes on, files that would fill the disk are refused before they are read.
    """

    def __init__(self, app: ASGIApp, *, disk_low: Callable[[], bool], retry_after_s: int) -> None:
        self.app = app
        self.disk_low = disk_low
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an upload while disk is low; pass everything else on."""
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
            if content_type.lower().startswith(_UPLOAD_TYPES) and self.disk_low():
                await send_error(send, InsufficientStorageError(retry_after=self.retry_after_s))
                return
        await self.app(scope, receive, send)


class SingleQueryMiddleware:
    """Refuse a query string that names a parameter twice with 422 ``invalid-request``.

    Every query parameter Alice takes is single-valued; frameworks silently keep the last
    of ``?tenant=a&tenant=b``, so a filter could act on a value the client did not mean
    (or a proxy and Alice could read different ones). Requests without a query string
    pass untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a repeated query parameter; pass everything else on."""
        if scope["type"] == "http" and b"&" in scope["query_string"]:
            seen: set[str] = set()
            query = scope["query_string"].decode("latin-1")
            for name, _ in parse_qsl(query, keep_blank_values=True):
                if name in seen:
                    message = f"The query parameter '{name[:64]}' is given more than once."
                    await send_error(send, InvalidRequestError(message, field=name[:64]))
                    return
                seen.add(name)
        await self.app(scope, receive, send)
