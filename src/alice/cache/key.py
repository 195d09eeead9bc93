"""The cache key of a completion request: equal keys mean interchangeable answers.

Only deterministic requests get a key. A request with ``temperature > 0`` samples, so
replaying an earlier answer would change its behaviour; `cache_key` returns None for it.

The key is the sha256 of a canonical JSON document holding everything that decides the
answer: the conversation (role and content of each message), ``model``, ``max_tokens``,
``temperature``, ``top_p``, ``stop`` and ``seed``, plus `CACHE_KEY_VERSION` and the
``scope`` (the tenant): tenants never share entries, since a hit would tell one tenant
that another asked the same thing (and later, answers may depend on a tenant's data).
Normalisation, deliberately small:

* message content: runs of whitespace become one space, ends are stripped. Case is kept
  (``"Hej"`` and ``"hej"`` may well deserve different answers).
* ``stop``: sorted and de-duplicated, since the order of stop sequences does not matter.
  The sequences themselves are kept byte for byte.
* ``-0.0`` is written as ``0.0``.
"""

from __future__ import annotations

import hashlib
import json
import math

from alice.llm.types import CompletionRequest

__all__ = ["CACHE_KEY_VERSION", "cache_key"]

# Bump when the document below, the normalisation or the stored value changes: every
# old entry then simply stops being found and expires on its own.
CACHE_KEY_VERSION = 3


def scope_tag(scope: str) -> str:
    """The first part of every key of ``scope``: `ResponseCache.purge` finds them by it."""
    return hashlib.sha256(b"alice-cache-scope:" + scope.encode("utf-8")).hexdigest()[:16]


def cache_key(request: CompletionRequest, *, scope: str) -> str | None:
    """The cache key of ``request``, or None when it must not be answered from a cache.

    Args:
        request: the completion as it would be sent to the provider.
        scope: whose entry it is (the tenant id); equal requests of two scopes differ.

    Returns:
        ``<scope tag>.<64 hex characters>``, or None when ``temperature`` is above 0 (or
        NaN).
    """
    if math.isnan(request.temperature) or request.temperature > 0:
        return None
    document = {
        "version": CACHE_KEY_VERSION,
        "scope": scope,
        "messages": [[m.role, _collapse_whitespace(m.content)] for m in request.messages],
        "model": request.model,
        "max_tokens": request.max_tokens,
        # + 0.0 turns -0.0 into 0.0 (and an int into a float), so equal values hash equal.
        "temperature": request.temperature + 0.0,
        "top_p": request.top_p + 0.0,
        "stop": sorted(set(request.stop)),
        "seed": request.seed,
    }
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{scope_tag(scope)}.{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def _collapse_whitespace(text: str) -> str:
    return " ".join(text.split())
