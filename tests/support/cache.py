"""A cached answer for the cache tests."""

from __future__ import annotations

from alice.cache import CachedAnswer


def answer(text: str) -> CachedAnswer:
    """A small answer whose only varying part is its text."""
    return CachedAnswer(
        text=text,
        model="m",
        finish_reason="stop",
        prompt_tokens=3,
        completion_tokens=2,
        created_at=1_700_000_000.0,
    )
