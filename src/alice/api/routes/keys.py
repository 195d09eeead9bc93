"""API keys (``/api/keys``, admin scope) and tenants (``/api/admin/tenants``, operator).

An admin key manages its own tenant's keys: another tenant's key id is "not found".
Admin keys of the ``default`` tenant (the operator's) also manage tenants, and reach
another tenant's keys by naming it (``?tenant=`` or ``"tenant"`` in the body).
A new key is in the answer once; Alice keeps only its hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from alice.api.deps import AdminDep, AuthenticatorDep, KeyStoreDep, OperatorDep, PoliciesDep
from alice.api.schemas import error_responses
from alice.errors import ForbiddenError
from alice.security.keys import TENANT_PATTERN, Principal, RateOverride
from alice.store.tenants import ApiKeyRecord, IssuedKey, TenantRecord

__all__ = ["router"]

router = APIRouter(tags=["keys and tenants"])

TenantName = Annotated[str, Field(pattern=TENANT_PATTERN, max_length=63)]
TenantQuery = Annotated[
    str | None,
    Query(
        pattern=TENANT_PATTERN,
        max_length=63,
        description="Another tenant (operator keys only); default: the caller's.",
    ),
]


class ApiKeyPublic(BaseModel):
    """A key as listed: never the key itself."""

    id: str
    tenant: str
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    scopes: list[str]
    rate_requests: int | None
    rate_burst: int | None
    rate_window_s: float | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> ApiKeyPublic:
        """From the stored record."""
        return cls(
            id=record.id,
            tenant=record.tenant_id,
            name=record.name,
            prefix=record.prefix,
            scopes=list(record.scopes),
            rate_requests=record.rate_requests,
            rate_burst=record.rate_burst,
            rate_window_s=record.rate_window_s,
            created_at=record.created_at,
            last_used_at=record.last_used_at,
            revoked_at=record.revoked_at,
        )


class ApiKeyIssued(BaseModel):
    """A new key. ``key`` is shown this once: store it now."""

    key: str
    api_key: ApiKeyPublic

    @classmethod
    def of(cls, issued: IssuedKey) -> ApiKeyIssued:
        """From the store's answer."""
        return cls(key=issued.key, api_key=ApiKeyPublic.of(issued.record))


class ApiKeyList(BaseModel):
    """Keys of a tenant, revoked ones included."""

    data: list[ApiKeyPublic]


class ApiKeyCreate(BaseModel):
    """A key to issue."""

    model_config = ConfigDict(extra="forbid", strict=True)

    scope: Literal["chat", "admin"] = "chat"
    name: str = Field("", max_length=200)
    tenant: TenantName | None = Field(None, description="Operator keys only.")
    rate_requests: int | None = Field(None, ge=1, le=1_000_000)
    rate_burst: int | None = Field(None, ge=1, le=1_000_000)
    rate_window_s: float | None = Field(None, ge=0.001, le=86400)


class TenantCreate(BaseModel):
    """A tenant to create."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: TenantName


class TenantUpdate(BaseModel):
    """A change of a tenant's privacy policy; a field left out stays, null means default."""

    model_config = ConfigDict(extra="forbid", strict=True)

    pii_masking: bool | None = Field(
        None, description="Mask personal numbers before the model (null: ALICE_PII_MASKING)."
    )
    retention_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Delete conversations idle this long (null: ALICE_RETENTION_DAYS).",
    )


class TenantPublic(BaseModel):
    """A tenant."""

    name: str
    created_at: datetime
    key_count: int = Field(description="Live (not revoked) keys.")
    pii_masking: bool | None = Field(description="null: the server's default.")
    retention_days: int | None = Field(description="null: the server's default.")

    @classmethod
    def of(cls, record: TenantRecord) -> TenantPublic:
        """From the stored record."""
        return cls(
            name=record.id,
            created_at=record.created_at,
            key_count=record.key_count,
            pii_masking=record.pii_masking,
            retention_days=record.retention_days,
        )


class TenantList(BaseModel):
    """Every tenant."""

    data: list[TenantPublic]


def resolve_tenant(caller: Principal, asked: str | None) -> str:
    """The tenant a call acts on: the caller's own, or (operator keys only) another."""
    if asked is None or asked == caller.tenant_id:
        return caller.tenant_id
    if not caller.is_operator:
        raise ForbiddenError("Only operator keys (admin, default tenant) reach other tenants.")
    return asked


_ADMIN_ERRORS = error_responses(401, 403, 422, 429)
_BY_ID_ERRORS = error_responses(401, 403, 404, 422, 429)


@router.get("/api/keys", response_model=ApiKeyList, responses=_ADMIN_ERRORS)
async def list_keys(caller: AdminDep, keys: KeyStoreDep, tenant: TenantQuery = None) -> ApiKeyList:
    """The tenant's API keys, revoked ones included."""
    records = await keys.list_keys(resolve_tenant(caller, tenant))
    return ApiKeyList(data=[ApiKeyPublic.of(r) for r in records])


@router.post(
    "/api/keys",
    status_code=201,
    response_model=ApiKeyIssued,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def create_key(body: ApiKeyCreate, caller: AdminDep, keys: KeyStoreDep) -> ApiKeyIssued:
    """Issue a key; the answer holds the key itself, this once."""
    issued = await keys.create_key(
        resolve_tenant(caller, body.tenant),
        (body.scope,),
        name=body.name,
        rate=RateOverride(body.rate_requests, body.rate_burst, body.rate_window_s),
    )
    return ApiKeyIssued.of(issued)


@router.get("/api/keys/{key_id}", response_model=ApiKeyPublic, responses=_BY_ID_ERRORS)
async def get_key(
    key_id: str, caller: AdminDep, keys: KeyStoreDep, tenant: TenantQuery = None
) -> ApiKeyPublic:
    """One key of the tenant."""
    return ApiKeyPublic.of(await keys.get_key(resolve_tenant(caller, tenant), key_id))


@router.delete("/api/keys/{key_id}", status_code=204, responses=_BY_ID_ERRORS)
async def revoke_key(
    key_id: str,
    caller: AdminDep,
    keys: KeyStoreDep,
    authenticator: AuthenticatorDep,
    tenant: TenantQuery = None,
) -> Response:
    """Revoke a key: it stops working at once here, within the auth cache TTL elsewhere."""
    await keys.revoke_key(resolve_tenant(caller, tenant), key_id)
    if authenticator is not None:
        authenticator.forget()
    return Response(status_code=204)


@router.post(
    "/api/keys/{key_id}/rotate",
    status_code=201,
    response_model=ApiKeyIssued,
    responses=_BY_ID_ERRORS,
)
async def rotate_key(
    key_id: str,
    caller: AdminDep,
    keys: KeyStoreDep,
    authenticator: AuthenticatorDep,
    tenant: TenantQuery = None,
) -> ApiKeyIssued:
    """Replace a key with a new one (same tenant, scope and limits); the old one is revoked."""
    issued = await keys.rotate_key(resolve_tenant(caller, tenant), key_id)
    if authenticator is not None:
        authenticator.forget()
    return ApiKeyIssued.of(issued)


@router.get("/api/admin/tenants", response_model=TenantList, responses=_ADMIN_ERRORS)
async def list_tenants(_caller: OperatorDep, keys: KeyStoreDep) -> TenantList:
    """Every tenant."""
    return TenantList(data=[TenantPublic.of(t) for t in await keys.list_tenants()])


@router.post(
    "/api/admin/tenants",
    status_code=201,
    response_model=TenantPublic,
    responses=error_responses(401, 403, 409, 422, 429),
)
async def create_tenant(
    body: TenantCreate, _caller: OperatorDep, keys: KeyStoreDep
) -> TenantPublic:
    """Create a tenant (then issue it keys with ``POST /api/keys``)."""
    return TenantPublic.of(await keys.create_tenant(body.name))


@router.patch("/api/admin/tenants/{name}", response_model=TenantPublic, responses=_BY_ID_ERRORS)
async def update_tenant(
    name: str,
    body: TenantUpdate,
    _caller: OperatorDep,
    keys: KeyStoreDep,
    policies: PoliciesDep,
) -> TenantPublic:
    """Set a tenant's privacy policy: PII masking on/off, retention in days.

    Takes effect here at once and on other replicas within ALICE_AUTH_CACHE_TTL_S.
    """
    given = {field: getattr(body, field) for field in body.model_fields_set}
    updated = await keys.update_tenant(name, **given)
    policies.forget()
    return TenantPublic.of(updated)


@router.delete("/api/admin/tenants/{name}", status_code=204, responses=_BY_ID_ERRORS)
async def delete_tenant(
    name: str, _caller: OperatorDep, keys: KeyStoreDep, authenticator: AuthenticatorDep
) -> Response:
    """Delete a tenant with all its keys, conversations and messages."""
    await keys.delete_tenant(name)
    if authenticator is not None:
        authenticator.forget()
    return Response(status_code=204)
