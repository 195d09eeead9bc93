from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alice.llm.router.breaker import BreakerConfig, CircuitBreaker

CONFIG = BreakerConfig(failure_rate=0.5, min_requests=4, window_s=30, cooldown_s=10)


def test_stays_closed_below_the_minimum_request_count() -> None:
    breaker = CircuitBreaker(CONFIG)
    for t in range(3):
        assert breaker.record(False, t) == "closed"
    assert breaker.allow(3)


def test_opens_at_the_failure_rate_once_enough_requests_were_seen() -> None:
    breaker = CircuitBreaker(CONFIG)
    for t, ok in enumerate([True, False, True, False]):
        state = breaker.record(ok, t)
    assert state == "open"
    assert breaker.last_reason == "2/4 calls failed"
    assert not breaker.allow(5)


def test_old_outcomes_leave_the_window() -> None:
    breaker = CircuitBreaker(CONFIG)
    for t in range(3):
        breaker.record(False, t)
    # 40 s later the three failures are out of the 30 s window.
    assert breaker.record(False, 40) == "closed"


def test_half_open_after_cooldown_lets_one_probe_through() -> None:
    breaker = CircuitBreaker(CONFIG)
    breaker.force_open(0, "stalled")
    assert breaker.state(9.9) == "open"
    assert breaker.state(10) == "half-open"
    assert breaker.allow(10)
    assert not breaker.allow(10.5)  # one probe at a time


def test_a_successful_probe_closes_and_a_failed_one_reopens() -> None:
    breaker = CircuitBreaker(CONFIG)
    breaker.force_open(0, "stalled")
    assert breaker.allow(10)
    assert breaker.record(True, 11) == "closed"
    breaker.force_open(20, "stalled")
    assert breaker.allow(30)
    assert breaker.record(False, 31) == "open"
    assert breaker.state(40.9) == "open"  # cooldown restarted at 31
    assert breaker.state(41) == "half-open"


def test_reset_closes_at_once() -> None:
    breaker = CircuitBreaker(CONFIG)
    breaker.force_open(0, "killswitch")
    breaker.reset()
    assert breaker.allow(0.1)


@pytest.mark.parametrize(
    "kwargs",
    [{"failure_rate": 0}, {"failure_rate": 1.5}, {"min_requests": 0}, {"window_s": 0}],
)
def test_invalid_config_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


@given(st.lists(st.booleans(), max_size=60))
def test_all_successes_never_open_and_open_always_recovers(outcomes: list[bool]) -> None:
    breaker = CircuitBreaker(CONFIG)
    now = 0.0
    for ok in outcomes:
        if breaker.allow(now):
            breaker.record(ok, now)
        now += 1
    if all(outcomes):
        assert breaker.state(now) == "closed"
    # Whatever happened, after the cooldown a successful probe closes it.
    now += CONFIG.cooldown_s
    if breaker.state(now) != "closed":
        assert breaker.allow(now)
        assert breaker.record(True, now) == "closed"


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 20)), max_size=80))
def test_the_running_failure_count_matches_a_recount_of_the_window(
    events: list[tuple[bool, float]],
) -> None:
    breaker = CircuitBreaker(BreakerConfig(min_requests=1000, window_s=30))
    now = 0.0
    for ok, step in events:
        now += step
        breaker.record(ok, now)
        assert breaker._failures == sum(1 for _, good in breaker._outcomes if not good)
