"""GDPR and audit: ``POST /api/gdpr/export``, ``POST /api/gdpr/forget``, ``GET /api/audit``.

Admin keys act on their own tenant; operator keys (admin of ``default``) may name another
with ``tenant``. The user's id travels in the request body, never in a URL (URLs end up
in proxy logs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from alice.api.deps import AdminDep, AuditDep, GdprDep, actor
from alice.api.routes.keys import TenantName, TenantQuery, resolve_tenant
from alice.api.schemas import error_responses
from alice.privacy.gdpr import MAX_USER_CHARS

__all__ = ["router"]

router = APIRouter(tags=["privacy"])

User = Annotated[str, Field(min_length=1, max_length=MAX_USER_CHARS, pattern=r"\S")]
_ERRORS = error_responses(401, 403, 404, 422, 429, 503)


class ExportRequest(BaseModel):
    """Whose data to export."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user: User | None = Field(
        None, description="The end user (the `user` given with chat); omit for the tenant."
    )
    tenant: TenantName | None = Field(None, description="Operator keys only: another tenant.")


class ForgetRequest(BaseModel):
    """Whose data to erase."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user: User = Field(description="The end user (the `user` given with chat).")
    tenant: TenantName | None = Field(None, description="Operator keys only: another tenant.")


class ForgetPublic(BaseModel):
    """What an erasure deleted."""

    conversations: int
    messages: int
    cached_answers: int


class AuditPublic(BaseModel):
    """One audit entry (never content)."""

    seq: int
    at: datetime
    actor: str = Field(description="API key id, `cli`, `retention` (or `dev`: auth off).")
    action: str
    subject: str | None = Field(description="The data subject's reference, not their id.")
    target: str | None
    detail: dict[str, Any]


class AuditList(BaseModel):
    """A page of the audit log, oldest first."""

    data: list[AuditPublic]
    next_after: int = Field(description="Pass as `after` for the next page.")


@router.post("/api/gdpr/export", responses=_ERRORS)
async def export(body: ExportRequest, caller: AdminDep, gdpr: GdprDep) -> dict[str, Any]:
    """Everything Alice stores about an end user, or about the whole tenant, as JSON."""
    tenant = resolve_tenant(caller, body.tenant)
    return await gdpr.export(tenant, user=body.user, actor=actor(caller))


@router.post("/api/gdpr/forget", response_model=ForgetPublic, responses=_ERRORS)
async def forget(body: ForgetRequest, caller: AdminDep, gdpr: GdprDep) -> ForgetPublic:
    """Erase an end user: their conversations, messages and cached answers, for good."""
    tenant = resolve_tenant(caller, body.tenant)
    report = await gdpr.forget(tenant, user=body.user, actor=actor(caller))
    return ForgetPublic(
        conversations=report.conversations,
        messages=report.messages,
        cached_answers=report.cached_answers,
    )


@router.get("/api/audit", response_model=AuditList, responses=_ERRORS)
async def audit_log(
    caller: AdminDep,
    audit: AuditDep,
    tenant: TenantQuery = None,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditList:
    """The tenant's audit log: who read, exported or deleted which data."""
    entries = await audit.entries(resolve_tenant(caller, tenant), after=after, limit=limit)
    return AuditList(
        data=[
            AuditPublic(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                action=e.action,
                subject=e.subject,
                target=e.target,
                detail=dict(e.detail),
            )
            for e in entries
        ],
        next_after=entries[-1].seq if entries else after,
    )
