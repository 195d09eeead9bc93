"""The fake upstream with a fixed service time: the upstream of the overload benchmark.

``python -m bench.slow_upstream --port 8123 --model bench-upstream --delay-ms 200``

The same server as `bench.upstream` (same answers, same parser), except that every
response leaves ``--delay-ms`` after its request arrived, each on its own timer: a fixed
service time with unlimited parallelism. In front of it, a gateway's capacity is set by
its own concurrency limit alone: ``capacity = concurrency / service time``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from bench.upstream import Answers, UpstreamProtocol

__all__ = ["DelayedTransport", "SlowUpstreamProtocol", "main"]


class DelayedTransport:
    """Wraps a transport: writes (and a close after them) happen ``delay_s`` later.

    Writes keep their order (equal delays, timers run in the order they were set), so a
    keep-alive connection still answers its requests in order.
    """

    def __init__(self, transport: asyncio.Transport, delay_s: float) -> None:
        self._transport = transport
        self._delay_s = delay_s
        self._loop = asyncio.get_running_loop()
        self._closing = False

    def write(self, data: bytes) -> None:
        """Send ``data`` after the delay (dropped if the peer went away meanwhile)."""
        self._loop.call_later(self._delay_s, self._write_now, data)

    def _write_now(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Close after the writes already scheduled."""
        self._closing = True
        self._loop.call_later(self._delay_s, self._transport.close)

    def is_closing(self) -> bool:
        """Whether a close is scheduled or done."""
        return self._closing or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class SlowUpstreamProtocol(UpstreamProtocol):
    """`UpstreamProtocol` whose every response is delayed by ``delay_s``."""

    def __init__(self, answers: Answers, delay_s: float) -> None:
        super().__init__(answers)
        self._delay_s = delay_s

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep a delaying wrapper of the transport."""
        super().connection_made(transport)
        assert self._transport is not None
        self._transport = DelayedTransport(self._transport, self._delay_s)  # type: ignore[assignment]


async def serve(host: str, port: int, answers: Answers, delay_s: float) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await loop.create_server(
        lambda: SlowUpstreamProtocol(answers, delay_s),
        host,
        port,
        reuse_address=True,
        backlog=1024,
    )
    print(
        f"slow upstream on http://{host}:{port}/v1 model={answers.model} "
        f"delay={delay_s * 1000:g} ms",
        flush=True,
    )
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.slow_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="bench-upstream")
    parser.add_argument("--chunks", type=int, default=8, help="content chunks per answer")
    parser.add_argument("--delay-ms", type=float, default=200.0, help="service time per request")
    args = parser.parse_args(argv)
    if args.host != "127.0.0.1":
        parser.error("the benchmark upstream only binds 127.0.0.1")
    if args.delay_ms < 0:
        parser.error("--delay-ms must not be negative")
    answers = Answers(model=args.model, chunks=args.chunks)
    delay_s = args.delay_ms / 1000
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port, answers, delay_s))
    except ImportError:
        asyncio.run(serve(args.host, args.port, answers, delay_s))


if __name__ == "__main__":
    main()
