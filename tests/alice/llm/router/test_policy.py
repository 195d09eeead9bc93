from __future__ import annotations

import random

import pytest

from alice.errors import (
    AliceError,
    InvalidRequestError,
    MessageTooLongError,
    ModelError,
    ModelTimeoutError,
    ModelUnavailableError,
    OverloadedError,
    UpstreamError,
)
from alice.llm.router.policy import Backoff, category_of


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (InvalidRequestError(), "client"),
        (MessageTooLongError(), "client"),
        (ModelUnavailableError(), "transient"),
        (ModelTimeoutError(), "transient"),
        (OverloadedError(), "transient"),
        (UpstreamError(transient=True), "transient"),
        (UpstreamError(), "backend"),
        (ModelError(), "backend"),
        (AliceError(), "backend"),
    ],
)
def test_every_error_has_one_category(error: AliceError, category: str) -> None:
    assert category_of(error) == category


def test_backoff_grows_exponentially_with_full_jitter_and_a_ceiling() -> None:
    backoff = Backoff(base_s=0.1, factor=2, max_s=0.5)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spreads over the whole range
