"""Authentication (API keys, tenants, scopes), rate limits and request limits."""

from alice.security.keys import Principal, generate_key, hash_key

__all__ = ["Principal", "generate_key", "hash_key"]
