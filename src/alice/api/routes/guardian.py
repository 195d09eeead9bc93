"""``GET /guardian/status`` and ``POST /api/admin/guardian/drill``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from alice.guardian.runtime import Guardian

__all__ = ["router"]

router = APIRouter(tags=["guardian"])


class DrillCreate(BaseModel):
    """A drill to run."""

    action: Literal["brownout", "emergency", "killswitch", "clear"]


def _guardian(request: Request) -> Guardian:
    guardian: Guardian = request.app.state.guardian
    return guardian


@router.get("/guardian/status")
async def guardian_status(request: Request) -> dict[str, Any]:
    """Mode, latest sample, probe states, thresholds, recent transitions, backends."""
    return _guardian(request).status()


@router.post("/api/admin/guardian/drill")
async def guardian_drill(body: DrillCreate, request: Request) -> dict[str, Any]:
    """Run a Guardian drill.

    ``brownout`` or ``emergency`` force that mode for the drill period, ``killswitch``
    stops every backend (they come back by themselves), ``clear`` ends a drill. Admin
    only once authentication exists.
    """
    guardian = _guardian(request)
    decision = guardian.drill(body.action)
    return {"action": body.action, "cause": decision.cause, **guardian.status()}
