"""``/api/conversations``: read and delete stored conversations.

Every read and delete is written to the audit log (who, which conversation) before the
answer leaves; a read that cannot be recorded is refused (503).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from alice.api.deps import AuditDep, CallerDep, ChatServiceDep, actor
from alice.api.schemas import (
    ConversationList,
    ConversationPublic,
    ConversationSummary,
    error_responses,
)
from alice.privacy.audit import record_in

__all__ = ["router"]

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

_NOT_FOUND = error_responses(404, 503)


@router.get("", response_model=ConversationList)
async def list_conversations(
    service: ChatServiceDep,
    caller: CallerDep,
    audit: AuditDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ConversationList:
    """List conversations, most recently active first."""
    records = await service.repository(caller.tenant_id).list(limit=limit, offset=offset)
    await audit.record(
        caller.tenant_id, actor(caller), "conversation.list", detail={"count": len(records)}
    )
    return ConversationList(
        data=[ConversationSummary.of(r) for r in records], limit=limit, offset=offset
    )


@router.get("/{conversation_id}", response_model=ConversationPublic, responses=_NOT_FOUND)
async def get_conversation(
    conversation_id: str, service: ChatServiceDep, caller: CallerDep, audit: AuditDep
) -> ConversationPublic:
    """One conversation with all its messages, oldest first."""
    record = await service.repository(caller.tenant_id).get(conversation_id)
    await audit.record(
        caller.tenant_id,
        actor(caller),
        "conversation.read",
        target=conversation_id,
        detail={"messages": len(record.messages)},
    )
    return ConversationPublic.of(record)


@router.delete("/{conversation_id}", status_code=204, responses=_NOT_FOUND)
async def delete_conversation(
    conversation_id: str, service: ChatServiceDep, caller: CallerDep
) -> Response:
    """Delete a conversation and all its messages."""
    # The audit entry commits with the deletion.
    await service.repository(caller.tenant_id).delete(
        conversation_id,
        also=partial(
            record_in,
            tenant_id=caller.tenant_id,
            actor=actor(caller),
            action="conversation.delete",
            target=conversation_id,
        ),
    )
    return Response(status_code=204)
