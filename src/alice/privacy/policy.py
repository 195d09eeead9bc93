"""Per-tenant privacy policy as the chat path reads it: cached, with server defaults.

A turn asks whether its tenant's messages are masked; the answer comes from a small TTL
cache (``ALICE_AUTH_CACHE_TTL_S``, like key lookups) so a turn does no database read for
it. A change through the admin API clears this process's cache at once; other replicas
follow within the TTL.
"""

from __future__ import annotations

import cachetools

from alice.errors import TenantNotFoundError
from alice.store.tenants import KeyStore

__all__ = ["TenantPolicies"]


class TenantPolicies:
    """Each tenant's effective PII masking (its own setting, else the default)."""

    def __init__(self, keys: KeyStore, *, mask_pii: bool, ttl_s: float = 10.0) -> None:
        self._keys = keys
        self._default = mask_pii
        self._cache: cachetools.TTLCache[str, bool] = cachetools.TTLCache(
            maxsize=10_000, ttl=max(ttl_s, 0.001)
        )
        self._ttl_s = ttl_s

    async def mask_pii(self, tenant_id: str) -> bool:
        """Whether this tenant's dialogue is masked before the model."""
        cached = self._cache.get(tenant_id)
        if cached is not None:
            return cached
        try:
            own = (await self._keys.get_tenant(tenant_id)).pii_masking
        except TenantNotFoundError:
            own = None
        effective = self._default if own is None else own
        if self._ttl_s > 0:
            self._cache[tenant_id] = effective
        return effective

    def forget(self) -> None:
        """Drop cached policies (after a change)."""
        self._cache.clear()
