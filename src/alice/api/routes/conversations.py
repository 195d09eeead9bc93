"""``/api/conversations``: read and delete stored conversations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from alice.api.deps import ChatServiceDep, TenantDep
from alice.api.schemas import (
    ConversationList,
    ConversationPublic,
    ConversationSummary,
    error_responses,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

_NOT_FOUND = error_responses(404)


@router.get("", response_model=ConversationList)
async def list_conversations(
    service: ChatServiceDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ConversationList:
    """List conversations, most recently active first."""
    records = await service.repository(tenant).list(limit=limit, offset=offset)
    return ConversationList(
        data=[ConversationSummary.of(r) for r in records], limit=limit, offset=offset
    )


@router.get("/{conversation_id}", response_model=ConversationPublic, responses=_NOT_FOUND)
async def get_conversation(
    conversation_id: str, service: ChatServiceDep, tenant: TenantDep
) -> ConversationPublic:
    """One conversation with all its messages, oldest first."""
    return ConversationPublic.of(await service.repository(tenant).get(conversation_id))


@router.delete("/{conversation_id}", status_code=204, responses=_NOT_FOUND)
async def delete_conversation(
    conversation_id: str, service: ChatServiceDep, tenant: TenantDep
) -> Response:
    """Delete a conversation and all its messages."""
    await service.repository(tenant).delete(conversation_id)
    return Response(status_code=204)
