"""``GET /guardian/status`` and ``POST /api/admin/guardian/drill``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from alice.api.deps import AdminDep, OperatorDep
from alice.api.schemas import error_responses
from alice.guardian.runtime import Guardian

__all__ = ["router"]

router = APIRouter(tags=["guardian"])


class DrillCreate(BaseModel):
    """A drill to run."""

    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["brownout", "emergency", "killswitch", "clear"]


def _guardian(request: Request) -> Guardian:
    guardian: Guardian = request.app.state.guardian
    return guardian


@router.get("/guardian/status", responses=error_responses(401, 403, 429))
async def guardian_status(request: Request, _caller: AdminDep) -> dict[str, Any]:
    """Mode, latest sample, probe states, thresholds, recent transitions, backends."""
    return _guardian(request).status()


@router.post("/api/admin/guardian/drill", responses=error_responses(401, 403, 422, 429))
async def guardian_drill(
    body: DrillCreate, request: Request, _caller: OperatorDep
) -> dict[str, Any]:
    """Run a Guardian drill.

    ``brownout`` or ``emergency`` force that mode for the drill period, ``killswitch``
    stops every backend (they come back by themselves), ``clear`` ends a drill. Needs an
    operator key (admin scope, default tenant).
    """
    guardian = _guardian(request)
    decision = guardian.drill(body.action)
    return {"action": body.action, "cause": decision.cause, **guardian.status()}
