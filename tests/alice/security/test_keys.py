"""Key format, hashing and scopes."""

from __future__ import annotations

from alice.security.keys import (
    Principal,
    expand_scopes,
    generate_key,
    hash_key,
    looks_like_key,
    valid_tenant_name,
)


def test_keys_are_prefixed_random_and_recognisable() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(k.startswith("alice_") and len(k) == 46 and looks_like_key(k) for k in keys)
    assert not looks_like_key("alice_short")
    assert not looks_like_key("sk-" + "a" * 40)
    assert not looks_like_key(next(iter(keys)) + "x")


def test_only_a_hash_identifies_a_key() -> None:
    key = generate_key()
    digest = hash_key(key)
    assert len(digest) == 64 and key not in digest
    assert digest == hash_key(key) and digest != hash_key(generate_key())


def test_admin_includes_chat_and_only_default_admins_are_operators() -> None:
    assert expand_scopes("admin") == {"admin", "chat"}
    assert expand_scopes("chat") == {"chat"}
    assert expand_scopes("nonsense") == frozenset()
    assert Principal("default", "k", expand_scopes("admin")).is_operator
    assert not Principal("acme", "k", expand_scopes("admin")).is_operator
    assert not Principal("default", "k", expand_scopes("chat")).is_operator


def test_tenant_names() -> None:
    assert all(valid_tenant_name(n) for n in ("acme", "a", "team-2", "x_y"))
    assert not any(valid_tenant_name(n) for n in ("", "Acme", "-a", "a b", "a" * 64, "å"))
