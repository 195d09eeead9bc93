"""The arrival schedule and the plans built from it."""

from __future__ import annotations

import itertools
import math

import pytest

from loadtest.plan import Plan, build_plan, parse_duration
from loadtest.schedule import Dispenser, arrival_offsets


def test_arrivals_follow_each_stage_rate() -> None:
    stages = [(2.0, 5000.0), (0.0, 1000.0), (0.5, 4000.0)]
    offsets = list(arrival_offsets(stages, seed=7))

    assert offsets == sorted(offsets)
    assert all(0 < t < 10000 for t in offsets)
    assert not [t for t in offsets if 5000 <= t < 6000]  # the pause
    for (rate, duration), start in zip(stages, (0.0, 5000.0, 6000.0), strict=True):
        count = sum(1 for t in offsets if start <= t < start + duration)
        expected = rate * duration
        # A Poisson count: within 5 standard deviations of rate x duration.
        assert abs(count - expected) <= 5 * math.sqrt(expected) + 1e-9


def test_arrivals_are_repeatable_by_seed() -> None:
    stages = [(3.0, 100.0)]
    assert list(arrival_offsets(stages, seed=1)) == list(arrival_offsets(stages, seed=1))
    assert list(arrival_offsets(stages, seed=1)) != list(arrival_offsets(stages, seed=2))


def test_dispenser_hands_out_every_arrival_once_then_finishes() -> None:
    offsets = [0.5, 1.0, 2.5]
    dispenser = Dispenser(iter(offsets))
    assert dispenser.take() is None  # not started yet
    dispenser.start(1000.0)

    tickets = list(itertools.islice(iter(dispenser.take, None), 10))

    assert tickets == [(i, 1000.0 + t) for i, t in enumerate(offsets)]
    assert dispenser.exhausted and not dispenser.finished()
    for _ in tickets:
        dispenser.done()
    assert dispenser.finished()


def test_parse_duration() -> None:
    assert parse_duration("900") == 900
    assert parse_duration("90s") == 90
    assert parse_duration("15m") == 15 * 60
    assert parse_duration("2h") == 2 * 3600
    for bad in ("", "m", "-5", "0", "1d", "abc"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_ramp_plan_splits_the_duration_over_its_steps() -> None:
    rates = (1.0, 3.0, 6.0, 10.0, 2.0)
    plan = build_plan("ramp", smoke=False, sized_rps=6, duration_s=300, ramp_rates=rates)

    assert [s.rate_rps for s in plan.stages] == list(rates)
    assert [s.duration_s for s in plan.stages] == [300 / len(rates)] * len(rates)
    assert plan.duration_s == pytest.approx(300)
    assert plan.pool_size >= max(rates) * plan.client_timeout_s


def test_soak_plan_puts_the_brownout_drill_inside_the_run() -> None:
    plan = build_plan("soak", smoke=False, sized_rps=4, duration_s=1000, brownout_at=0.5)

    assert [(s.rate_rps, s.duration_s) for s in plan.stages] == [(4, 1000)]
    (drill,) = plan.faults
    assert drill.kind == "brownout"
    assert drill.at_s == 500
    assert drill.duration_s > 0 and drill.at_s + drill.duration_s <= 1000
    assert build_plan("soak", smoke=False, sized_rps=4, brownout_at=None).faults == ()
    with pytest.raises(ValueError):
        build_plan("soak", smoke=False, sized_rps=4, duration_s=1000, brownout_at=0.99)


def test_chaos_plan_spreads_its_faults_and_survives_json() -> None:
    plan = build_plan("chaos-upstream", smoke=False, sized_rps=6, duration_s=400, faults=3)

    assert [(f.kind, f.at_s) for f in plan.faults] == [
        ("upstream", 100.0),
        ("upstream", 200.0),
        ("upstream", 300.0),
    ]
    assert Plan.from_dict(plan.to_dict()) == plan
    assert build_plan("chaos-postgres", smoke=True, sized_rps=6).database == "postgresql"
