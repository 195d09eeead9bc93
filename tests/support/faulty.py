"""A real OpenAI-compatible HTTP server that misbehaves on purpose (fault injection).

The fault is chosen by the first path segment: ``{base}/{fault}/v1/chat/completions``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

FAULTS = ("status-500", "status-429", "status-400", "refuse-auth", "hang", "garbage", "cut")


def _chunk(text: str) -> bytes:
    event = {
        "id": "x",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return f"data: {json.dumps(event)}\n\n".encode()


async def _completions(request: Request) -> Response:
    fault = request.path_params["fault"]
    await request.body()
    if fault == "status-500":
        return JSONResponse({"error": {"message": "CUDA out of memory"}}, status_code=500)
    if fault == "status-429":
        return JSONResponse(
            {"error": {"message": "slow down"}}, status_code=429, headers={"Retry-After": "7"}
        )
    if fault == "status-400":
        return JSONResponse(
            {"error": {"message": "prompt exceeds context window"}}, status_code=400
        )
    if fault == "refuse-auth":
        return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
    if fault == "hang":
        await asyncio.sleep(3600)
    if fault == "garbage":
        return StreamingResponse(iter([b"data: {not json\n\n"]), media_type="text/event-stream")

    async def cut() -> AsyncIterator[bytes]:
        yield _chunk("Hej")
        yield _chunk(" då")
        await asyncio.sleep(0.05)
        raise ConnectionResetError("upstream died mid-answer")

    return StreamingResponse(cut(), media_type="text/event-stream")


async def _models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "faulty", "object": "model"}]})


app = Starlette(
    routes=[
        Route("/{fault}/v1/chat/completions", _completions, methods=["POST"]),
        Route("/{fault}/v1/models", _models),
    ]
)
