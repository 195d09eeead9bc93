"""``/health`` (the process is alive) and ``/ready`` (it can serve chat)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from alice.api.deps import ChatServiceDep, DatabaseDep
from alice.api.schemas import ComponentPublic, ReadyPublic

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: answers as long as the process serves HTTP."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=ReadyPublic,
    responses={503: {"model": ReadyPublic, "description": "A component is unhealthy."}},
)
async def ready(database: DatabaseDep, service: ChatServiceDep) -> Response:
    """Readiness: each component's state; 503 while any is unhealthy."""
    db, model = await asyncio.gather(database.health(), service.router.health())
    components = {
        "database": ComponentPublic(state=db.state, detail=db.detail),
        "model": ComponentPublic(state=model.state, detail=model.detail),
    }
    ok = all(c.state != "unhealthy" for c in components.values())
    body = ReadyPublic(status="ready" if ok else "not-ready", components=components)
    return Response(
        body.model_dump_json(), status_code=200 if ok else 503, media_type="application/json"
    )
