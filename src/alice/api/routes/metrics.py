"""``GET /metrics``: Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from alice.api.deps import SettingsDep, operator
from alice.api.schemas import error_responses
from alice.observability import Metrics

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."},
        **error_responses(401, 403, 429),
    },
)
async def metrics(request: Request, settings: SettingsDep) -> Response:
    """Every metric (catalogue in docs/observability.md).

    Public unless ``ALICE_METRICS_PUBLIC=false``; then it needs an operator key (admin
    scope, default tenant), since the numbers cover every tenant.
    """
    if not settings.metrics_public:
        await operator(request)
    registry: Metrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
