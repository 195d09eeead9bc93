"""An Ollama-protocol server (``/api/chat`` NDJSON, ``/api/tags``) backed by a real model.

Ollama itself cannot be installed here; this speaks its wire protocol with the real
embedded model behind it, so the Ollama provider is tested against real answers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from alice.llm.provider import Provider
from alice.llm.types import ChatMessage, CompletionRequest


def ollama_app(provider: Provider, *, model_tag: str) -> Starlette:
    async def chat(request: Request) -> Response:
        body = await request.json()
        if body["model"] not in (model_tag, model_tag.removesuffix(":latest")):
            return JSONResponse({"error": f"model '{body['model']}' not found"}, status_code=404)
        options = body.get("options", {})
        completion = CompletionRequest(
            messages=tuple(ChatMessage(m["role"], m["content"]) for m in body["messages"]),
            model=provider.models[0],
            max_tokens=options.get("num_predict", 128),
            temperature=options.get("temperature", 0.8),
            top_p=options.get("top_p", 1.0),
            stop=tuple(options.get("stop", ())),
            seed=options.get("seed"),
        )

        async def lines() -> AsyncIterator[bytes]:
            async for chunk in provider.stream(completion):
                line = {
                    "model": body["model"],
                    "created_at": "2026-11-21T00:00:00Z",
                    "message": {"role": "assistant", "content": chunk.text},
                    "done": chunk.finish_reason is not None,
                }
                if chunk.finish_reason is not None and chunk.usage is not None:
                    line["done_reason"] = chunk.finish_reason
                    line["prompt_eval_count"] = chunk.usage.prompt_tokens
                    line["eval_count"] = chunk.usage.completion_tokens
                yield (json.dumps(line) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def tags(request: Request) -> Response:
        return JSONResponse({"models": [{"name": model_tag, "model": model_tag}]})

    return Starlette(routes=[Route("/api/chat", chat, methods=["POST"]), Route("/api/tags", tags)])
