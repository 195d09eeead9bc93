"""A local OTLP/HTTP trace receiver: the collector of the observability benchmark.

``python -m bench.otlp_sink --port 4318``

A Starlette app under uvicorn that answers what Alice's exporter sends:

- ``POST /v1/traces``: an ``ExportTraceServiceRequest`` (protobuf, gzip or not); the
  spans are counted and the answer is 200 with an empty ``ExportTraceServiceResponse``,
  as a real collector's;
- ``GET /stats``: requests, spans and bytes received so far, so the benchmark can check
  that the traced target really exported its spans;
- ``GET /health``: readiness.

It keeps nothing but the counts: the benchmark measures what exporting costs Alice, not
what a collector does with the spans.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections import Counter
from pathlib import Path

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.machine import REPO_ROOT
from bench.processes import ManagedProcess, base_env, free_port

__all__ = ["build_app", "main", "sink_process"]

_PROTOBUF = "application/x-protobuf"


def build_app() -> Starlette:
    """The receiver, its counts starting at zero."""
    stats: Counter[str] = Counter()

    async def traces(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest()
        try:
            export.ParseFromString(body)
        except DecodeError:
            return JSONResponse({"error": "not an ExportTraceServiceRequest"}, status_code=400)
        stats["requests"] += 1
        stats["bytes"] += len(body)
        stats["spans"] += sum(
            len(scope.spans) for resource in export.resource_spans for scope in resource.scope_spans
        )
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=_PROTOBUF)

    async def read_stats(_request: Request) -> Response:
        return JSONResponse(dict(stats))

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/stats", read_stats),
            Route("/health", health),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.otlp_sink", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    print(f"otlp sink on http://127.0.0.1:{args.port}/v1/traces", flush=True)
    uvicorn.run(build_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()


def sink_process(work: Path) -> tuple[ManagedProcess, int]:
    """This receiver as a managed process on a free port (not started: enter it)."""
    port = free_port()
    process = ManagedProcess(
        "otlp-sink",
        [sys.executable, "-m", "bench.otlp_sink", "--port", str(port)],
        env=base_env({}),
        log_dir=work,
        cwd=REPO_ROOT,
    )
    return process, port
