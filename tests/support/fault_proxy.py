"""A fault-injecting proxy in front of a real OpenAI-compatible upstream.

The fault is the first path segment: ``{proxy}/{fault}/v1/chat/completions``.

| fault            | behaviour                                                        |
|------------------|------------------------------------------------------------------|
| ``pass``         | forwards to the upstream                                         |
| ``fail-N``       | the first N calls answer 503, later ones are forwarded           |
| ``500``          | always 500                                                       |
| ``hang``         | never answers                                                    |
| ``slow-S``       | waits S seconds, then forwards                                   |
| ``stall-after-K``| forwards K content chunks, then sends nothing more               |
| ``cut-after-K``  | forwards K content chunks, then drops the connection             |

``GET {proxy}/_calls/{fault}`` tells how many chat calls a fault path has seen.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def fault_proxy(upstream_v1: str) -> Starlette:
    calls: Counter[str] = Counter()

    async def forward(body: bytes, limit: int | None, then: str) -> Response:
        client = httpx.AsyncClient(base_url=upstream_v1, timeout=60)
        request = client.build_request(
            "POST", "/chat/completions", content=body, headers={"content-type": "application/json"}
        )
        upstream = await client.send(request, stream=True)

        async def relay() -> AsyncIterator[bytes]:
            sent = 0
            try:
                async for line in upstream.aiter_lines():
                    if limit is not None and line.startswith("data:") and '"content"' in line:
                        if sent >= limit:
                            if then == "stall":
                                await asyncio.sleep(3600)
                            raise ConnectionResetError("fault: cut mid-answer")
                        sent += 1
                    yield (line + "\n").encode()
            finally:
                await upstream.aclose()
                await client.aclose()

        return StreamingResponse(
            relay(),
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type"),
        )

    async def completions(request: Request) -> Response:
        fault = request.path_params["fault"]
        calls[fault] += 1
        body = await request.body()
        if fault == "500":
            return JSONResponse({"error": {"message": "internal failure"}}, status_code=500)
        if fault == "hang":
            await asyncio.sleep(3600)
        if fault.startswith("fail-") and calls[fault] <= int(fault.split("-")[1]):
            return JSONResponse({"error": {"message": "warming up"}}, status_code=503)
        if fault.startswith("slow-"):
            await asyncio.sleep(float(fault.split("-")[1]))
        for kind in ("stall", "cut"):
            if fault.startswith(f"{kind}-after-"):
                return await forward(body, int(fault.rsplit("-", 1)[1]), kind)
        return await forward(body, None, "")

    async def models(request: Request) -> Response:
        async with httpx.AsyncClient(base_url=upstream_v1) as client:
            upstream = await client.get("/models")
        return Response(upstream.content, media_type="application/json")

    async def call_count(request: Request) -> Response:
        return JSONResponse({"calls": calls[request.path_params["fault"]]})

    return Starlette(
        routes=[
            Route("/{fault}/v1/chat/completions", completions, methods=["POST"]),
            Route("/{fault}/v1/models", models),
            Route("/_calls/{fault}", call_count),
        ]
    )
