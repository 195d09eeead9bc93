"""A minimal, fast OpenAI-compatible server: the upstream of the gateway benchmark.

``python -m bench.upstream --port 8123 --model bench-upstream [--chunks 20]``

Raw asyncio (uvloop when installed) speaking just enough HTTP/1.1 (keep-alive,
Content-Length request bodies, chunked responses) to answer:

- ``POST /v1/chat/completions``: ``--chunks`` ``chat.completion.chunk`` events sent at
  once, a finishing chunk, a usage chunk when ``stream_options.include_usage``, then
  ``data: [DONE]``; or the whole ``chat.completion`` when not streaming.
- ``GET /v1/models``: the one model.
- ``GET /bench/stats``: how many completions it served (streamed and whole) and how many
  connections it accepted, so the benchmark can check that each request reached the
  upstream exactly once and whether the gateway reuses its connections.

The answers are built once per model and reused, so the server spends its time on I/O
and is never the bottleneck of what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import orjson

from bench.machine import REPO_ROOT
from bench.processes import ManagedProcess, base_env, free_port

__all__ = ["Answers", "UpstreamProtocol", "main", "upstream_process"]

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 411: b"Length Required"}
_MAX_HEAD = 64 * 1024


def _head(status: int, content_type: bytes, extra: bytes, keep_alive: bool) -> bytes:
    connection = b"keep-alive" if keep_alive else b"close"
    return b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\nconnection: %s\r\n%s\r\n" % (
        status,
        _REASONS.get(status, b"Error"),
        content_type,
        connection,
        extra,
    )


def _whole(status: int, body: bytes, keep_alive: bool) -> bytes:
    extra = b"content-length: %d\r\n" % len(body)
    return _head(status, b"application/json", extra, keep_alive) + body


def _chunked(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


@dataclass
class Answers:
    """The prebuilt answers of one upstream."""

    model: str
    chunks: int
    prompt_tokens: int = 12
    stats: Counter[str] = field(default_factory=Counter)
    _cache: dict[tuple[str, bool], bytes] = field(default_factory=dict)

    def pieces(self) -> list[str]:
        """The answer's text, one piece per streamed chunk."""
        return [("Hej" if i == 0 else f" ord{i}") for i in range(self.chunks)]

    def _usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.chunks,
            "total_tokens": self.prompt_tokens + self.chunks,
        }

    def stream_body(self, include_usage: bool) -> bytes:
        """The chunked SSE body of a streamed completion (built once)."""
        key = ("stream", include_usage)
        if key not in self._cache:
            head = {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "system_fingerprint": None,
            }
            events: list[bytes] = []
            for index, text in enumerate(self.pieces()):
                delta = {"role": "assistant", "content": text} if index == 0 else {"content": text}
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
                events.append(orjson.dumps({**head, "choices": [choice]}))
            finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
            events.append(orjson.dumps({**head, "choices": [finish]}))
            if include_usage:
                events.append(orjson.dumps({**head, "choices": [], "usage": self._usage()}))
            events.append(b"[DONE]")
            body = b"".join(_chunked(b"data: " + e + b"\n\n") for e in events)
            self._cache[key] = body + b"0\r\n\r\n"
        return self._cache[key]

    def whole_body(self) -> bytes:
        """The JSON body of a whole completion (built once)."""
        key = ("whole", False)
        if key not in self._cache:
            self._cache[key] = orjson.dumps(
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": self.model,
                    "system_fingerprint": None,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(self.pieces())},
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": self._usage(),
                }
            )
        return self._cache[key]

    def models_body(self) -> bytes:
        """The ``/v1/models`` body."""
        return orjson.dumps(
            {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "bench"}],
            }
        )

    def respond(self, method: bytes, path: bytes, body: bytes, keep_alive: bool) -> bytes:
        """The complete HTTP response to one request."""
        path = path.split(b"?", 1)[0]
        if method == b"POST" and path == b"/v1/chat/completions":
            return self._completion(body, keep_alive)
        if method == b"GET" and path == b"/v1/models":
            return _whole(200, self.models_body(), keep_alive)
        if method == b"GET" and path == b"/bench/stats":
            return _whole(200, orjson.dumps(dict(self.stats)), keep_alive)
        if method == b"GET" and path in (b"/health", b"/v1/health"):
            return _whole(200, b'{"status":"ok"}', keep_alive)
        return _error(404, "not found", keep_alive)

    def _completion(self, body: bytes, keep_alive: bool) -> bytes:
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error(400, "the body is not JSON", keep_alive)
        if not isinstance(request, dict) or not request.get("messages"):
            return _error(400, "messages are required", keep_alive)
        if request.get("model") != self.model:
            return _error(404, f"model {request.get('model')!r} not found", keep_alive)
        if request.get("stream"):
            options = request.get("stream_options") or {}
            self.stats["stream"] += 1
            extra = b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
            head = _head(200, b"text/event-stream", extra, keep_alive)
            return head + self.stream_body(bool(options.get("include_usage")))
        self.stats["whole"] += 1
        return _whole(200, self.whole_body(), keep_alive)


def _error(status: int, message: str, keep_alive: bool) -> bytes:
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error"}})
    return _whole(status, body, keep_alive)


class UpstreamProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: parse requests, write prebuilt answers."""

    def __init__(self, answers: Answers) -> None:
        self._answers = answers
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._answers.stats["connections"] += 1

    def data_received(self, data: bytes) -> None:
        """Answer every complete request in the buffer."""
        self._buffer += data
        transport = self._transport
        while transport is not None and not transport.is_closing():
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    transport.close()
                return
            lines = bytes(self._buffer[:end]).split(b"\r\n")
            try:
                method, target, version = lines[0].split(b" ", 2)
            except ValueError:
                transport.close()
                return
            length = 0
            connection = b""
            chunked = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip() or b"0")
                elif name == b"connection":
                    connection = value.strip().lower()
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
            if chunked:
                transport.write(_error(411, "send a Content-Length", False))
                transport.close()
                return
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            body = bytes(self._buffer[end + 4 : total])
            del self._buffer[:total]
            keep_alive = (
                connection != b"close" if version == b"HTTP/1.1" else connection == b"keep-alive"
            )
            transport.write(self._answers.respond(method, target, body, keep_alive))
            if not keep_alive:
                transport.close()


async def serve(host: str, port: int, answers: Answers) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await loop.create_server(
        lambda: UpstreamProtocol(answers), host, port, reuse_address=True, backlog=1024
    )
    print(f"upstream on http://{host}:{port}/v1 model={answers.model}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="bench-upstream")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per answer")
    args = parser.parse_args(argv)
    if args.host != "127.0.0.1":
        parser.error("the benchmark upstream only binds 127.0.0.1")
    answers = Answers(model=args.model, chunks=args.chunks)
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port, answers))
    except ImportError:
        asyncio.run(serve(args.host, args.port, answers))


if __name__ == "__main__":
    main()


def upstream_process(work: Path, *, model: str, chunks: int) -> tuple[ManagedProcess, int]:
    """This server as a managed process on a free port (not started: enter it)."""
    port = free_port()
    process = ManagedProcess(
        "upstream",
        [
            sys.executable,
            "-m",
            "bench.upstream",
            "--port",
            str(port),
            "--model",
            model,
            "--chunks",
            str(chunks),
        ],
        env=base_env({}),
        log_dir=work,
        cwd=REPO_ROOT,
    )
    return process, port
