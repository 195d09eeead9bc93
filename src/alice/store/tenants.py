"""Tenants and API keys in the database.

`KeyStore.principal` finds the caller of a key (by the key's hash, the only lookup that
is not tenant-scoped: the key is what says whose it is). Everything else is scoped to a
tenant the same way `ConversationRepository` is: another tenant's key id is "not found".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy import Select, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from alice.errors import (
    ApiKeyNotFoundError,
    InvalidRequestError,
    StorageError,
    TenantExistsError,
    TenantNotFoundError,
)
from alice.security.keys import (
    Principal,
    RateOverride,
    display_prefix,
    expand_scopes,
    generate_key,
    hash_key,
    valid_tenant_name,
)
from alice.store.database import Database
from alice.store.models import DEFAULT_TENANT, ApiKey, Conversation, Message, Meta, Tenant, utcnow
from alice.store.repository import new_id

__all__ = ["UNSET", "ApiKeyRecord", "IssuedKey", "KeyStore", "TenantRecord"]

T = TypeVar("T")

# Every change to tenants and keys is logged with ids only (never a key).
log = structlog.get_logger("alice.keys")

_tenants: Table = Tenant.__table__  # type: ignore[assignment]
_keys: Table = ApiKey.__table__  # type: ignore[assignment]
_meta: Table = Meta.__table__  # type: ignore[assignment]
_conversations: Table = Conversation.__table__  # type: ignore[assignment]
_messages: Table = Message.__table__  # type: ignore[assignment]

_BY_HASH = select(
    _keys.c.id,
    _keys.c.tenant_id,
    _keys.c.scopes,
    _keys.c.rate_requests,
    _keys.c.rate_burst,
    _keys.c.rate_window_s,
).where(_keys.c.hash == bindparam("hash"), _keys.c.revoked_at.is_(None))
_KEY_COLUMNS = (
    _keys.c.id,
    _keys.c.tenant_id,
    _keys.c.name,
    _keys.c.prefix,
    _keys.c.scopes,
    _keys.c.rate_requests,
    _keys.c.rate_burst,
    _keys.c.rate_window_s,
    _keys.c.created_at,
    _keys.c.last_used_at,
    _keys.c.revoked_at,
)
_TOUCH_KEY = (
    update(_keys).where(_keys.c.id == bindparam("key")).values(last_used_at=bindparam("now"))
)
BOOTSTRAP_FACT = "bootstrap-admin-key"


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant, how many live keys it has, and its privacy policy (None: default)."""

    id: str
    created_at: datetime
    key_count: int
    pii_masking: bool | None = None
    retention_days: int | None = None


class _Unset:
    """Marks a policy field an update leaves as it is."""


UNSET: Any = _Unset()


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored key (never the key itself)."""

    id: str
    tenant_id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    rate_requests: int | None
    rate_burst: int | None
    rate_window_s: float | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``key`` is shown to its owner once and never stored."""

    key: str
    record: ApiKeyRecord


class KeyStore:
    """Tenants and API keys."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def _run(self, work: Callable[[Connection], T]) -> T:
        try:
            return await self._database.run(work)
        except IntegrityError:
            raise
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise StorageError() from exc

    # -- authentication -------------------------------------------------------------

    async def principal_by_hash(self, digest: str) -> Principal | None:
        """The caller of the key with this hash, or None for an unknown or revoked key."""

        def work(conn: Connection) -> Principal | None:
            row = conn.execute(_BY_HASH, {"hash": digest}).first()
            if row is None:
                return None
            return Principal(
                tenant_id=row.tenant_id,
                key_id=row.id,
                scopes=expand_scopes(row.scopes),
                rate=RateOverride(row.rate_requests, row.rate_burst, row.rate_window_s),
            )

        return await self._run(work)

    async def touch(self, key_id: str) -> None:
        """Record that a key was used now."""
        await self._run(lambda conn: conn.execute(_TOUCH_KEY, {"key": key_id, "now": utcnow()}))

    # -- tenants --------------------------------------------------------------------

    async def create_tenant(self, name: str) -> TenantRecord:
        """Create a tenant.

        Raises:
            InvalidRequestError: the name is not a valid tenant name.
            TenantExistsError: the tenant exists.
        """
        if not valid_tenant_name(name):
            raise InvalidRequestError(
                "A tenant name is 1-63 lowercase letters, digits, '-' or '_'.", field="name"
            )
        now = utcnow()
        try:
            await self._run(
                lambda conn: conn.execute(insert(_tenants), {"id": name, "created_at": now})
            )
        except IntegrityError as exc:
            raise TenantExistsError(f"Tenant {name!r} exists.") from exc
        log.info("tenant.created", tenant=name)
        return TenantRecord(id=name, created_at=now, key_count=0)

    async def list_tenants(self) -> list[TenantRecord]:
        """Every tenant with its number of live keys."""
        query = _tenant_query().order_by(_tenants.c.id)

        def work(conn: Connection) -> list[TenantRecord]:
            return [_tenant_record(r) for r in conn.execute(query)]

        return await self._run(work)

    async def get_tenant(self, name: str) -> TenantRecord:
        """One tenant.

        Raises:
            TenantNotFoundError: no such tenant.
        """
        query = _tenant_query().where(_tenants.c.id == name)
        row = await self._run(lambda conn: conn.execute(query).first())
        if row is None:
            raise TenantNotFoundError(f"No tenant {name!r}.")
        return _tenant_record(row)

    async def update_tenant(
        self, name: str, *, pii_masking: bool | None = UNSET, retention_days: int | None = UNSET
    ) -> TenantRecord:
        """Change a tenant's privacy policy (None: back to the server's default).

        Raises:
            InvalidRequestError: ``retention_days`` is below 1.
            TenantNotFoundError: no such tenant.
        """
        values: dict[str, Any] = {}
        if pii_masking is not UNSET:
            values["pii_masking"] = pii_masking
        if retention_days is not UNSET:
            if retention_days is not None and retention_days < 1:
                raise InvalidRequestError(
                    "retention_days is at least 1 (or null for the default).",
                    field="retention_days",
                )
            values["retention_days"] = retention_days
        if values:
            statement = update(_tenants).where(_tenants.c.id == name).values(values)
            if (await self._run(lambda conn: conn.execute(statement).rowcount)) != 1:
                raise TenantNotFoundError(f"No tenant {name!r}.")
            log.info("tenant.policy_changed", tenant=name, **values)
        return await self.get_tenant(name)

    async def delete_tenant(self, name: str) -> None:
        """Delete a tenant with its keys, conversations and messages.

        Raises:
            InvalidRequestError: ``name`` is the default (operator) tenant.
            TenantNotFoundError: no such tenant.
        """
        if name == DEFAULT_TENANT:
            raise InvalidRequestError("The default tenant cannot be deleted.", field="name")

        def work(conn: Connection) -> None:
            conn.execute(delete(_messages).where(_messages.c.tenant_id == name))
            conn.execute(delete(_conversations).where(_conversations.c.tenant_id == name))
            conn.execute(delete(_keys).where(_keys.c.tenant_id == name))
            if conn.execute(delete(_tenants).where(_tenants.c.id == name)).rowcount != 1:
                raise TenantNotFoundError(f"No tenant {name!r}.")

        await self._run(work)
        log.info("tenant.deleted", tenant=name)

    # -- keys -----------------------------------------------------------------------

    async def create_key(
        self,
        tenant_id: str,
        scopes: tuple[str, ...],
        *,
        name: str = "",
        rate: RateOverride | None = None,
        key: str | None = None,
    ) -> IssuedKey:
        """Issue a key for a tenant (``key`` given: store that one, e.g. a bootstrap key).

        Raises:
            TenantNotFoundError: no such tenant.
        """
        issued = key or generate_key()
        row = _key_row(tenant_id, issued, scopes, name, rate or RateOverride())

        def work(conn: Connection) -> None:
            exists = conn.execute(select(_tenants.c.id).where(_tenants.c.id == tenant_id)).first()
            if exists is None:
                raise TenantNotFoundError(f"No tenant {tenant_id!r}.")
            conn.execute(insert(_keys), row)

        await self._run(work)
        log.info("key.created", key_id=row["id"], tenant=tenant_id, scopes=row["scopes"])
        return IssuedKey(key=issued, record=_key_record(row))

    async def list_keys(self, tenant_id: str | None) -> list[ApiKeyRecord]:
        """A tenant's keys, revoked ones included (``None``: every tenant's)."""
        query = select(*_KEY_COLUMNS).order_by(_keys.c.tenant_id, _keys.c.created_at)
        if tenant_id is not None:
            query = query.where(_keys.c.tenant_id == tenant_id)

        def work(conn: Connection) -> list[ApiKeyRecord]:
            return [_key_record(row._asdict()) for row in conn.execute(query)]

        return await self._run(work)

    async def get_key(self, tenant_id: str | None, key_id: str) -> ApiKeyRecord:
        """One key of a tenant (``None``: of any tenant).

        Raises:
            ApiKeyNotFoundError: no such key for this tenant.
        """
        query = select(*_KEY_COLUMNS).where(_keys.c.id == key_id)
        if tenant_id is not None:
            query = query.where(_keys.c.tenant_id == tenant_id)

        def work(conn: Connection) -> ApiKeyRecord:
            row = conn.execute(query).first()
            if row is None:
                raise ApiKeyNotFoundError()
            return _key_record(row._asdict())

        return await self._run(work)

    async def revoke_key(self, tenant_id: str | None, key_id: str) -> ApiKeyRecord:
        """Revoke a key at once (idempotent for a revoked key).

        Raises:
            ApiKeyNotFoundError: no such key for this tenant.
        """
        now = utcnow()
        where = [_keys.c.id == key_id]
        if tenant_id is not None:
            where.append(_keys.c.tenant_id == tenant_id)
        revoke = update(_keys).where(*where, _keys.c.revoked_at.is_(None)).values(revoked_at=now)
        query = select(*_KEY_COLUMNS).where(*where)

        def work(conn: Connection) -> ApiKeyRecord:
            conn.execute(revoke)
            row = conn.execute(query).first()
            if row is None:
                raise ApiKeyNotFoundError()
            return _key_record(row._asdict())

        record = await self._run(work)
        log.info("key.revoked", key_id=record.id, tenant=record.tenant_id)
        return record

    async def rotate_key(self, tenant_id: str | None, key_id: str) -> IssuedKey:
        """Revoke a live key and issue its replacement (same tenant, scopes, limits).

        Raises:
            ApiKeyNotFoundError: no such live key for this tenant.
        """
        old = await self.get_key(tenant_id, key_id)
        if old.revoked_at is not None:
            raise ApiKeyNotFoundError("The key is revoked; create a new one instead.")
        issued = generate_key()
        rate = RateOverride(old.rate_requests, old.rate_burst, old.rate_window_s)
        row = _key_row(old.tenant_id, issued, old.scopes, old.name, rate)
        revoke = (
            update(_keys)
            .where(_keys.c.id == old.id, _keys.c.revoked_at.is_(None))
            .values(revoked_at=row["created_at"])
        )

        def work(conn: Connection) -> None:
            if conn.execute(revoke).rowcount != 1:
                raise ApiKeyNotFoundError("The key was revoked meanwhile.")
            conn.execute(insert(_keys), row)

        await self._run(work)
        log.info("key.rotated", key_id=row["id"], replaces=old.id, tenant=old.tenant_id)
        return IssuedKey(key=issued, record=_key_record(row))

    async def bootstrap(self, key: str | None = None) -> IssuedKey | None:
        """Issue the first admin key of the default tenant, once per database.

        Only the first caller ever gets a key (a fact row is inserted in the same
        transaction, so replicas starting together cannot both issue one); every later
        call returns None. With ``key`` that key is stored instead of a new one.
        """
        issued = key or generate_key()
        row = _key_row(DEFAULT_TENANT, issued, ("admin",), "bootstrap admin", RateOverride())
        now = row["created_at"]

        def work(conn: Connection) -> bool:
            done = conn.execute(select(_meta.c.key).where(_meta.c.key == BOOTSTRAP_FACT)).first()
            if done is not None:
                return False
            conn.execute(
                insert(_meta), {"key": BOOTSTRAP_FACT, "value": row["id"], "created_at": now}
            )
            conn.execute(insert(_keys), row)
            return True

        try:
            created = await self._run(work)
        except IntegrityError:
            return None  # another process issued it at the same moment
        return IssuedKey(key=issued, record=_key_record(row)) if created else None


def _key_row(
    tenant_id: str, key: str, scopes: tuple[str, ...], name: str, rate: RateOverride
) -> dict[str, Any]:
    # Every column, always: one compiled INSERT serves every key.
    return {
        "id": new_id(),
        "tenant_id": tenant_id,
        "name": name,
        "hash": hash_key(key),
        "prefix": display_prefix(key),
        "scopes": " ".join(scopes),
        "rate_requests": rate.requests,
        "rate_burst": rate.burst,
        "rate_window_s": rate.window_s,
        "created_at": utcnow(),
        "last_used_at": None,
        "revoked_at": None,
    }


def _key_record(row: Mapping[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=tuple(row["scopes"].split()),
        rate_requests=row["rate_requests"],
        rate_burst=row["rate_burst"],
        rate_window_s=row["rate_window_s"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


def _tenant_query() -> Select[Any]:
    live = (
        select(func.count(_keys.c.id))
        .where(_keys.c.tenant_id == _tenants.c.id, _keys.c.revoked_at.is_(None))
        .scalar_subquery()
    )
    return select(
        _tenants.c.id,
        _tenants.c.created_at,
        live.label("keys"),
        _tenants.c.pii_masking,
        _tenants.c.retention_days,
    )


def _tenant_record(row: Any) -> TenantRecord:
    return TenantRecord(row.id, row.created_at, int(row.keys), row.pii_masking, row.retention_days)
