"""The vocabulary of the response cache: a cached answer, counters and the cache seam."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from alice.llm.types import Usage

__all__ = ["CacheStats", "CachedAnswer", "ResponseCache"]


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A complete model answer, stored so an identical deterministic request can reuse it.

    Attributes:
        text: the whole completion text.
        model: the model that actually produced it.
        finish_reason: why generation stopped (``"stop"``, ``"length"``).
        prompt_tokens: prompt tokens of the original completion.
        completion_tokens: completion tokens of the original completion.
        created_at: when the answer was produced, unix time in seconds.
    """

    text: str
    model: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    created_at: float

    @property
    def usage(self) -> Usage:
        """The token counts of the original completion."""
        return Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens)

    def to_json(self) -> str:
        """This answer as a compact JSON object (the Redis value)."""
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> CachedAnswer:
        """Read an answer written by `to_json`.

        Raises:
            ValueError: ``data`` is not such an object (wrong JSON, missing or mistyped
                fields).
        """
        try:
            raw: Any = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError("cached answer is not valid JSON") from exc
        if not isinstance(raw, dict):
            raise ValueError("cached answer is not a JSON object")
        try:
            text, model, finish_reason = raw["text"], raw["model"], raw["finish_reason"]
            prompt_tokens, completion_tokens = raw["prompt_tokens"], raw["completion_tokens"]
            created_at = raw["created_at"]
        except KeyError as exc:
            raise ValueError(f"cached answer lacks {exc.args[0]!r}") from exc
        if not all(isinstance(v, str) for v in (text, model, finish_reason)):
            raise ValueError("cached answer has a non-string text, model or finish_reason")
        # bool is an int subclass; a JSON true is not a token count.
        if not all(_is_int(v) for v in (prompt_tokens, completion_tokens)):
            raise ValueError("cached answer has non-integer token counts")
        if not (_is_int(created_at) or isinstance(created_at, float)):
            raise ValueError("cached answer has a non-numeric created_at")
        return cls(
            text=text,
            model=model,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            created_at=float(created_at),
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(slots=True)
class CacheStats:
    """Counters of one cache instance (per process: replicas do not share them).

    Attributes:
        hits: lookups that returned an answer.
        misses: lookups that did not (including those skipped while a backend is down).
        sets: answers stored.
        evictions: live entries removed to stay within ``max_entries``; entries that
            simply expired are not counted.
        errors: backend operations that failed (always 0 for the in-memory cache).
    """

    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    errors: int = 0


class ResponseCache(Protocol):
    """Where deterministic answers are kept, keyed by `alice.cache.cache_key`.

    ``get`` and ``set`` never raise because a backend is unavailable: a cache must not
    fail a chat request. ``clear`` is an operator action and does raise.
    """

    @property
    def name(self) -> str:
        """Short backend name for logs and metrics (``"memory"``, ``"redis"``)."""
        ...

    @property
    def stats(self) -> CacheStats:
        """This instance's counters."""
        ...

    async def get(self, key: str) -> CachedAnswer | None:
        """The answer stored under ``key``, or None; a hit counts as a use for LRU."""
        ...

    async def set(self, key: str, answer: CachedAnswer) -> None:
        """Store ``answer`` under ``key``, evicting the least recently used if full."""
        ...

    async def clear(self) -> None:
        """Remove every entry of this cache."""
        ...

    async def purge(self, scope: str) -> int:
        """Remove every entry of ``scope`` (a tenant, or a tenant's data subject).

        Returns how many. An operator action (GDPR erasure): raises when the backend fails.
        """
        ...
