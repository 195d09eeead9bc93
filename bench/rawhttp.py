"""A minimal HTTP/1.1 client for timing streamed answers: one kept-alive socket, no library.

The TTFT benchmark times Alice from the request's bytes leaving to the first answer
event arriving. An HTTP library adds its own Python work to both ends of that interval
(httpx: building the request, its connection pool, h11's parser), which is the client's
cost, not Alice's, and on a 2-core machine it also competes with the model for the CPU.
This client writes the request with one ``sendall`` and parses the response with a few
``bytes.find`` calls, so the interval holds Alice's work and the loopback only.

It speaks just what Alice's streamed answers need: a ``Content-Length`` request body,
and a response with ``Content-Length`` or ``Transfer-Encoding: chunked``. It reconnects
when the server closes the connection.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

__all__ = ["RawHttpClient", "RawResponse", "sse_events"]


def sse_events(chunks: Iterable[bytes]) -> Iterator[tuple[str, Any]]:
    """(event name, decoded JSON data) for each Server-Sent Event in a raw byte stream.

    Yields each event as soon as its frame is complete, so a caller can time it.
    """
    pending = b""
    for data in chunks:
        pending += data
        while (end := pending.find(b"\n\n")) >= 0:
            frame, pending = pending[:end], pending[end + 2 :]
            event = ""
            payload = b""
            for line in frame.split(b"\n"):
                if line.startswith(b"event:"):
                    event = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    payload += line[5:].strip()
            yield event, orjson.loads(payload) if payload else None


class RawResponse:
    """A response whose body is read as it arrives (`iter_raw`)."""

    def __init__(
        self, client: RawHttpClient, status: int, headers: dict[str, str], buffered: bytes
    ) -> None:
        self.status_code = status
        self.headers = headers
        self._client = client
        self._pending = buffered
        self._chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        self._remaining = int(headers.get("content-length", "0")) if not self._chunked else 0
        self._done = False

    def _more(self) -> None:
        data = self._client.recv()
        if not data:
            raise ConnectionError("the server closed the connection mid-response")
        self._pending += data

    def iter_raw(self) -> Iterator[bytes]:
        """The body's bytes, piece by piece, as they arrive."""
        if self._chunked:
            yield from self._iter_chunked()
        else:
            yield from self._iter_sized()
        self._done = True
        if self.headers.get("connection", "").lower() == "close":
            self._client.close()

    def _iter_sized(self) -> Iterator[bytes]:
        while self._remaining > 0:
            if not self._pending:
                self._more()
            piece, self._pending = (
                self._pending[: self._remaining],
                self._pending[self._remaining :],
            )
            self._remaining -= len(piece)
            yield piece

    def _iter_chunked(self) -> Iterator[bytes]:
        while True:
            while (end := self._pending.find(b"\r\n")) < 0:
                self._more()
            size = int(self._pending[:end].split(b";", 1)[0], 16)
            self._pending = self._pending[end + 2 :]
            if size == 0:
                while not self._pending.startswith(b"\r\n"):  # no trailers expected
                    if (cut := self._pending.find(b"\r\n")) >= 0:
                        self._pending = self._pending[cut + 2 :]
                        continue
                    self._more()
                self._pending = self._pending[2:]
                return
            while len(self._pending) < size + 2:
                self._more()
            piece, self._pending = self._pending[:size], self._pending[size + 2 :]
            yield piece

    def read(self) -> bytes:
        """The whole (remaining) body."""
        return b"".join(self.iter_raw())


class RawHttpClient:
    """HTTP/1.1 requests to one server over one kept-alive TCP connection."""

    def __init__(self, host: str, port: int, headers: Mapping[str, str] | None = None) -> None:
        self._address = (host, port)
        self._host = f"{host}:{port}"
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection(self._address, timeout=300)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        return self._sock

    def recv(self) -> bytes:
        """The next bytes from the server (blocking)."""
        assert self._sock is not None
        return self._sock.recv(65536)

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def post(
        self, path: str, body: bytes, *, content_type: str = "application/json"
    ) -> RawResponse:
        """Send a POST and read the response's head; the body is read by the caller."""
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self._host}\r\n{self._headers}"
            f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        for attempt in range(2):
            sock = self._connect()
            try:
                sock.sendall(head + body)
                return self._read_head()
            except (ConnectionError, OSError):
                self.close()  # a kept-alive connection the server had closed
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_head(self) -> RawResponse:
        pending = b""
        while (end := pending.find(b"\r\n\r\n")) < 0:
            data = self.recv()
            if not data:
                raise ConnectionError("the server closed the connection")
            pending += data
        lines = pending[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return RawResponse(self, status, headers, pending[end + 4 :])
