"""API keys: their format, hashing, scopes and the principal a key stands for.

A key is ``alice_`` followed by 40 random base62 characters (about 238 bits). Only its
SHA-256 is stored: a key is as random as a hash input gets, so a slow password hash
(argon2, bcrypt) would add milliseconds to every request and no protection (see
docs/decisions/0010-api-keys-and-rate-limits.md). The first 12 characters are kept to
tell keys apart in listings.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from typing import Literal

from alice.store.models import DEFAULT_TENANT

__all__ = [
    "KEY_PREFIX",
    "SCOPES",
    "TENANT_PATTERN",
    "Principal",
    "RateOverride",
    "Scope",
    "generate_key",
    "hash_key",
    "looks_like_key",
    "valid_tenant_name",
]

KEY_PREFIX = "alice_"
_KEY_CHARS = 40
_ALPHABET = string.ascii_letters + string.digits
_KEY_PATTERN = re.compile(rf"^{KEY_PREFIX}[A-Za-z0-9]{{{_KEY_CHARS}}}$")
DISPLAY_CHARS = 12

Scope = Literal["chat", "admin"]
SCOPES: tuple[Scope, ...] = ("chat", "admin")
# admin includes chat: an admin key can do everything a chat key can.
_IMPLIED: dict[str, frozenset[str]] = {
    "chat": frozenset({"chat"}),
    "admin": frozenset({"chat", "admin"}),
}

TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_TENANT_RE = re.compile(TENANT_PATTERN)


def generate_key() -> str:
    """A new random API key."""
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_KEY_CHARS))


def looks_like_key(value: str) -> bool:
    """Whether ``value`` has the shape of an Alice key (checked before any lookup)."""
    return _KEY_PATTERN.match(value) is not None


def hash_key(key: str) -> str:
    """The stored form of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The part of a key shown in listings."""
    return key[:DISPLAY_CHARS]


def valid_tenant_name(name: str) -> bool:
    """Tenant names: lowercase letters, digits, ``-`` and ``_``, at most 63 characters."""
    return _TENANT_RE.match(name) is not None


def expand_scopes(scopes: str | tuple[str, ...]) -> frozenset[str]:
    """Every scope granted, implied ones included (``"admin"`` grants ``chat`` too)."""
    names = scopes.split() if isinstance(scopes, str) else scopes
    granted: set[str] = set()
    for name in names:
        granted |= _IMPLIED.get(name, frozenset())
    return frozenset(granted)


@dataclass(frozen=True, slots=True)
class RateOverride:
    """A key's own rate limit (``None`` fields fall back to the settings)."""

    requests: int | None = None
    burst: int | None = None
    window_s: float | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's tenant, id and scopes (or the development caller)."""

    tenant_id: str
    key_id: str | None
    scopes: frozenset[str]
    rate: RateOverride = RateOverride()

    @property
    def is_operator(self) -> bool:
        """Admin of the ``default`` tenant: manages every tenant."""
        return self.tenant_id == DEFAULT_TENANT and "admin" in self.scopes

    def allows(self, scope: str) -> bool:
        """Whether this caller holds ``scope``."""
        return scope in self.scopes
