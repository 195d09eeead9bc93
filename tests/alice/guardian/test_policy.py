from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alice.guardian import (
    Decision,
    GpuReading,
    GuardianPolicy,
    Mode,
    Sample,
    Thresholds,
)

GIB = 1024**3
MIB = 1024**2


def sample(
    *,
    ram: float | None = 50.0,
    cpu: float | None = 10.0,
    lag: float | None = 0.01,
    disk: int | None = 100 * GIB,
    rss: int | None = 200 * MIB,
    gpu: GpuReading | None = None,
    at: float = 0.0,
) -> Sample:
    return Sample(
        taken_at=at,
        ram_pct=ram,
        cpu_pct=cpu,
        disk_free_bytes=disk,
        rss_bytes=rss,
        loop_lag_s=lag,
        gpu=gpu,
    )


CALM = sample()


class Clock:
    """Feeds samples one second apart."""

    def __init__(self, policy: GuardianPolicy) -> None:
        self.policy = policy
        self.now = 0.0

    def feed(self, *samples: Sample, times: int = 1) -> Decision:
        decision = None
        for _ in range(times):
            for s in samples:
                self.now += 1.0
                decision = self.policy.step(s, self.now)
        assert decision is not None
        return decision

    def modes(self, samples: Iterable[Sample]) -> list[Mode]:
        return [self.feed(s).mode for s in samples]


def clock(**overrides: object) -> Clock:
    return Clock(GuardianPolicy(Thresholds(**overrides)))  # type: ignore[arg-type]


def to_brownout(c: Clock) -> None:
    c.feed(sample(ram=83.0), times=3)
    assert c.policy.mode == "brownout"


def to_emergency(c: Clock) -> None:
    c.feed(sample(ram=95.0), times=3)
    assert c.policy.mode == "emergency"


# --- ok → brownout ---------------------------------------------------------------------


def test_starts_ok_and_calm_samples_keep_it_ok() -> None:
    c = clock()
    assert c.policy.mode == "ok"
    assert c.policy.last_decision is None
    decision = c.feed(CALM, times=10)
    assert decision.mode == "ok"
    assert decision.transition is None
    assert decision.killswitch is False
    assert decision.disk_low is False
    assert decision.cause == "every probe ok"
    assert decision.probes == {"ram": "ok", "cpu": "ok", "loop-lag": "ok", "disk": "ok"}
    assert c.policy.transitions == ()
    assert c.policy.last_decision is decision


def test_ram_pressure_browns_out_after_three_samples_not_two() -> None:
    c = clock()
    assert c.modes([sample(ram=83.1)] * 2) == ["ok", "ok"]
    assert c.policy.last_decision is not None
    assert c.policy.last_decision.cause == "ram 83.1% >= 80.0% (2 of 3 samples)"
    assert c.policy.last_decision.probes["ram"] == "degraded"
    decision = c.feed(sample(ram=83.1))
    assert decision.mode == "brownout"
    assert decision.transition is not None
    assert decision.transition.from_mode == "ok"
    assert decision.transition.to_mode == "brownout"
    assert decision.transition.at == c.now
    assert decision.transition.cause == "ram 83.1% >= 80.0% for 3 samples"
    assert decision.cause == decision.transition.cause
    assert c.policy.transitions == (decision.transition,)


def test_the_enter_threshold_itself_is_degraded() -> None:
    c = clock()
    assert c.modes([sample(ram=80.0)] * 3) == ["ok", "ok", "brownout"]


def test_an_interrupted_streak_starts_again() -> None:
    c = clock()
    modes = c.modes([sample(ram=85.0)] * 2 + [CALM] + [sample(ram=85.0)] * 3)
    assert modes == ["ok", "ok", "ok", "ok", "ok", "brownout"]


def test_different_degraded_probes_add_up_to_one_streak() -> None:
    c = clock()
    modes = c.modes([sample(ram=85.0), sample(cpu=97.0), sample(lag=0.7)])
    assert modes == ["ok", "ok", "brownout"]
    assert c.policy.transitions[-1].cause == "loop-lag 0.70 s >= 0.50 s for 3 samples"


def test_cause_names_every_degraded_probe() -> None:
    c = clock()
    decision = c.feed(sample(ram=85.0, cpu=99.0), times=3)
    assert decision.transition is not None
    assert decision.transition.cause == "ram 85.0% >= 80.0%, cpu 99.0% >= 95.0% for 3 samples"


# --- hysteresis ------------------------------------------------------------------------


def test_75_percent_ram_neither_enters_nor_leaves_brownout() -> None:
    c = clock()
    assert set(c.modes([sample(ram=75.0)] * 20)) == {"ok"}
    to_brownout(c)
    assert set(c.modes([sample(ram=75.0)] * 20)) == {"brownout"}
    assert c.policy.last_decision is not None
    assert c.policy.last_decision.cause == "brownout: ram 75.0% not below 70.0%"


def test_brownout_ends_after_three_samples_below_exit_not_two() -> None:
    c = clock()
    to_brownout(c)
    assert c.modes([sample(ram=65.0)] * 2) == ["brownout", "brownout"]
    assert c.policy.last_decision is not None
    assert c.policy.last_decision.cause == "brownout: recovering (2 of 3 samples below exit)"
    decision = c.feed(sample(ram=65.0))
    assert decision.mode == "ok"
    assert decision.transition is not None
    assert decision.transition.cause == "every probe below its brownout exit for 3 samples"


def test_the_exit_threshold_itself_does_not_recover() -> None:
    c = clock()
    to_brownout(c)
    assert set(c.modes([sample(ram=70.0)] * 10)) == {"brownout"}
    assert c.modes([sample(ram=69.9)] * 3) == ["brownout", "brownout", "ok"]


def test_a_relapse_during_recovery_restarts_the_count() -> None:
    c = clock()
    to_brownout(c)
    modes = c.modes([sample(ram=60.0)] * 2 + [sample(ram=72.0)] + [sample(ram=60.0)] * 3)
    assert modes == ["brownout"] * 5 + ["ok"]


def test_counts_restart_after_a_transition() -> None:
    """Samples that counted towards brownout do not count towards what comes next."""
    c = clock()
    # Two hard-fail samples, then degraded: brownout at the third (hard streak is only 1).
    modes = c.modes([sample(ram=95.0), sample(ram=95.0), sample(ram=85.0)])
    assert modes == ["ok", "ok", "brownout"]
    # Emergency needs three new hard-fail samples after the transition.
    assert c.modes([sample(ram=95.0)] * 3) == ["brownout", "brownout", "emergency"]


def test_custom_sample_counts() -> None:
    c = clock(samples_to_enter=1, samples_to_exit=5)
    assert c.modes([sample(ram=85.0)]) == ["brownout"]
    assert c.modes([CALM] * 5) == ["brownout"] * 4 + ["ok"]


# --- emergency -------------------------------------------------------------------------


def test_ok_goes_straight_to_emergency_on_hard_fail() -> None:
    c = clock()
    assert c.modes([sample(ram=95.0)] * 3) == ["ok", "ok", "emergency"]
    transition = c.policy.transitions[-1]
    assert (transition.from_mode, transition.to_mode) == ("ok", "emergency")
    assert transition.cause == "ram 95.0% >= 92.0% for 3 samples"
    assert c.policy.last_decision is not None
    assert c.policy.last_decision.probes["ram"] == "hard-fail"


def test_brownout_escalates_to_emergency_after_three_hard_fail_samples() -> None:
    c = clock()
    to_brownout(c)
    assert c.modes([sample(ram=93.0)] * 2) == ["brownout", "brownout"]
    assert c.policy.last_decision is not None
    assert c.policy.last_decision.cause == "ram 93.0% >= 92.0% (2 of 3 samples)"
    decision = c.feed(sample(ram=93.0))
    assert decision.mode == "emergency"
    assert decision.transition is not None
    assert decision.transition.from_mode == "brownout"


def test_emergency_steps_down_to_brownout_then_ok() -> None:
    c = clock()
    to_emergency(c)
    # 86% is not below the emergency exit (85%): stays.
    assert set(c.modes([sample(ram=86.0)] * 10)) == {"emergency"}
    assert c.policy.last_decision is not None
    assert c.policy.last_decision.cause == "emergency: ram 86.0% not below 85.0%"
    assert c.modes([sample(ram=84.0)] * 3) == ["emergency", "emergency", "brownout"]
    assert c.policy.transitions[-1].cause == ("every probe below its emergency exit for 3 samples")
    # 84% is degraded but below the emergency exit: brownout holds.
    assert set(c.modes([sample(ram=84.0)] * 10)) == {"brownout"}
    assert c.modes([CALM] * 3) == ["brownout", "brownout", "ok"]
    assert [(t.from_mode, t.to_mode) for t in c.policy.transitions] == [
        ("ok", "emergency"),
        ("emergency", "brownout"),
        ("brownout", "ok"),
    ]


def test_emergency_never_jumps_straight_to_ok() -> None:
    c = clock()
    to_emergency(c)
    modes = c.modes([CALM] * 6)
    assert modes == ["emergency", "emergency", "brownout", "brownout", "brownout", "ok"]


def test_cpu_saturation_alone_only_browns_out_by_default() -> None:
    c = clock()
    assert set(c.modes([sample(cpu=100.0)] * 20)[2:]) == {"brownout"}
    assert c.policy.last_decision is not None
    assert c.policy.last_decision.probes["cpu"] == "degraded"


def test_cpu_emergency_when_configured() -> None:
    c = clock(cpu_emergency_enter_pct=99.0)
    assert c.modes([sample(cpu=99.5)] * 3)[-1] == "emergency"


# --- each probe ------------------------------------------------------------------------

PROBES = [
    # (probe, ok, degraded, hard-fail or None when it has no emergency by default)
    ("ram", {"ram": 60.0}, {"ram": 85.0}, {"ram": 95.0}),
    ("cpu", {"cpu": 50.0}, {"cpu": 96.0}, None),
    ("loop-lag", {"lag": 0.1}, {"lag": 0.8}, {"lag": 3.0}),
    ("disk", {"disk": 3 * GIB}, {"disk": GIB}, {"disk": 100 * MIB}),
    (
        "gpu-memory",
        {"gpu": GpuReading(50.0, 99.0)},
        {"gpu": GpuReading(93.0, 10.0)},
        {"gpu": GpuReading(98.0, 10.0)},
    ),
]


@pytest.mark.parametrize(("probe", "ok", "degraded", "hard"), PROBES)
def test_every_probe_classifies_and_drives_the_mode(
    probe: str,
    ok: dict[str, object],
    degraded: dict[str, object],
    hard: dict[str, object] | None,
) -> None:
    c = clock()
    assert c.feed(sample(**ok)).probes[probe] == "ok"  # type: ignore[arg-type]
    decision = c.feed(sample(**degraded), times=3)  # type: ignore[arg-type]
    assert decision.probes[probe] == "degraded"
    assert decision.mode == "brownout"
    assert decision.transition is not None
    assert decision.transition.cause.startswith(probe)
    if hard is not None:
        decision = c.feed(sample(**hard), times=3)  # type: ignore[arg-type]
        assert decision.probes[probe] == "hard-fail"
        assert decision.mode == "emergency"
    assert c.feed(sample(**ok), times=6).mode == "ok"  # type: ignore[arg-type]


def test_disk_thresholds_are_free_bytes_below() -> None:
    c = clock()
    at_threshold = c.feed(sample(disk=2 * GIB))
    assert at_threshold.probes["disk"] == "ok"
    assert at_threshold.disk_low is False
    assert c.feed(sample(disk=2 * GIB - 1)).probes["disk"] == "degraded"
    low = c.feed(sample(disk=3 * GIB // 2), times=2)
    assert low.probes["disk"] == "degraded"
    assert low.disk_low is True
    assert low.mode == "brownout"
    assert low.transition is not None
    assert low.transition.cause == "disk 1.50 GiB free < 2.00 GiB for 3 samples"
    # Recovery needs more than 2.5 GiB free.
    assert set(c.modes([sample(disk=5 * GIB // 2)] * 5)) == {"brownout"}
    assert c.modes([sample(disk=3 * GIB)] * 3)[-1] == "ok"
    critical = c.feed(sample(disk=100 * MIB))
    assert critical.probes["disk"] == "hard-fail"
    assert critical.disk_low is True


def test_gpu_probe_is_absent_without_a_gpu() -> None:
    c = clock()
    assert "gpu-memory" not in c.feed(sample(gpu=None)).probes
    assert c.feed(sample(gpu=GpuReading(None, 50.0))).probes["gpu-memory"] == "unknown"


# --- unknown readings ------------------------------------------------------------------


def test_unknown_degraded_and_hard_fail_are_distinct() -> None:
    decision = clock().feed(
        sample(ram=95.0, cpu=None, lag=0.6, disk=3 * GIB, gpu=GpuReading(None, None))
    )
    assert decision.probes == {
        "ram": "hard-fail",
        "cpu": "unknown",
        "loop-lag": "degraded",
        "disk": "ok",
        "gpu-memory": "unknown",
    }


def test_unknown_probes_other_than_ram_neither_cause_nor_block() -> None:
    c = clock()
    unknown = sample(cpu=None, lag=None, disk=None, gpu=GpuReading(None, None))
    assert set(c.modes([unknown] * 20)) == {"ok"}
    to_brownout(c)
    assert c.modes([unknown] * 3) == ["brownout", "brownout", "ok"]
    to_emergency(c)
    assert c.modes([unknown] * 6)[-1] == "ok"


def test_ram_unknown_counts_as_degraded_after_three_strikes() -> None:
    c = clock()
    modes = c.modes([sample(ram=None)] * 5)
    # Strikes 1-2 do not count; from the 3rd on it is pressure, 3 samples of which enter.
    assert modes == ["ok", "ok", "ok", "ok", "brownout"]
    assert c.policy.transitions[-1].cause == "ram unknown for 3 samples"
    assert c.policy.last_decision is not None
    assert c.policy.last_decision.probes["ram"] == "unknown"
    # Unknown is degraded, never hard-fail: no emergency however long it lasts.
    assert set(c.modes([sample(ram=None)] * 20)) == {"brownout"}


def test_a_ram_reading_resets_the_unknown_strikes() -> None:
    c = clock()
    modes = c.modes([sample(ram=None)] * 2 + [CALM] + [sample(ram=None)] * 4)
    assert set(modes) == {"ok"}
    assert c.feed(sample(ram=None)).mode == "brownout"


def test_unknown_strikes_setting() -> None:
    c = clock(unknown_strikes=1)
    assert c.modes([sample(ram=None)] * 3) == ["ok", "ok", "brownout"]


def test_ram_unknown_blocks_recovery_from_brownout() -> None:
    c = clock(unknown_strikes=100)
    to_brownout(c)
    assert set(c.modes([sample(ram=None)] * 20)) == {"brownout"}
    assert c.policy.last_decision is not None
    assert c.policy.last_decision.cause == "brownout: ram unknown"
    assert c.modes([CALM] * 3)[-1] == "ok"


def test_ram_unknown_does_not_hold_an_emergency() -> None:
    c = clock()
    to_emergency(c)
    modes = c.modes([sample(ram=None)] * 10)
    assert modes[:3] == ["emergency", "emergency", "brownout"]
    assert set(modes[3:]) == {"brownout"}


# --- drills ----------------------------------------------------------------------------


def test_brownout_drill_forces_the_mode_until_it_expires() -> None:
    c = clock()
    c.feed(CALM)
    decision = c.policy.drill("brownout", now=c.now)
    assert decision.mode == "brownout"
    assert decision.transition is not None
    assert decision.transition.cause == "drill: brownout for 60 s"
    assert decision.probes["ram"] == "ok"  # the last sample's statuses
    drill_started = c.now
    while c.now + 1.0 < drill_started + 60.0:
        held = c.feed(CALM)
        assert held.mode == "brownout"
        assert held.transition is None
    assert held.cause == "drill: brownout in force; sampled: every probe ok"
    expired = c.feed(CALM)
    assert c.now == drill_started + 60.0
    assert expired.mode == "ok"
    assert expired.transition is not None
    assert expired.transition.cause == "drill expired; every probe ok"


def test_emergency_drill_and_clear() -> None:
    c = clock()
    decision = c.policy.drill("emergency", now=0.0)
    assert decision.mode == "emergency"
    assert decision.probes == {}
    assert c.feed(CALM, times=5).mode == "emergency"
    cleared = c.policy.drill("clear", now=c.now)
    assert cleared.mode == "ok"
    assert cleared.transition is not None
    assert cleared.transition.cause == "drill cleared"
    assert c.feed(CALM).mode == "ok"


def test_clear_without_a_drill_changes_nothing() -> None:
    c = clock()
    decision = c.policy.drill("clear", now=0.0)
    assert decision.mode == "ok"
    assert decision.transition is None
    assert decision.cause == "no drill to clear"


def test_after_a_drill_the_sampled_mode_applies() -> None:
    c = clock(drill_s=10.0)
    c.policy.drill("emergency", now=0.0)
    # The samples move the sampled mode to brownout under the drill, silently.
    modes = c.modes([sample(ram=85.0)] * 9)
    assert set(modes) == {"emergency"}
    assert len(c.policy.transitions) == 1
    decision = c.feed(sample(ram=85.0))
    assert c.now == 10.0
    assert decision.mode == "brownout"
    assert decision.transition is not None
    assert (decision.transition.from_mode, decision.transition.to_mode) == (
        "emergency",
        "brownout",
    )


def test_a_drill_to_the_current_mode_makes_no_transition() -> None:
    c = clock()
    to_brownout(c)
    decision = c.policy.drill("brownout", now=c.now)
    assert decision.mode == "brownout"
    assert decision.transition is None


def test_a_new_drill_replaces_the_running_one() -> None:
    c = clock(drill_s=10.0)
    c.policy.drill("brownout", now=0.0)
    decision = c.policy.drill("emergency", now=5.0)
    assert decision.mode == "emergency"
    assert c.policy.step(CALM, 14.9).mode == "emergency"
    assert c.policy.step(CALM, 15.0).mode == "ok"


def test_a_drill_that_expired_before_the_next_drill_call() -> None:
    c = clock(drill_s=10.0)
    c.policy.drill("emergency", now=0.0)
    decision = c.policy.drill("clear", now=20.0)
    assert decision.mode == "ok"
    assert decision.transition is not None
    assert decision.transition.cause == "drill expired; no drill to clear"


# --- killswitch ------------------------------------------------------------------------


def test_killswitch_drill_fires_once_without_changing_the_mode() -> None:
    c = clock()
    to_brownout(c)
    decision = c.policy.drill("killswitch", now=c.now)
    assert decision.killswitch is True
    assert decision.mode == "brownout"
    assert decision.transition is None
    assert decision.cause == "drill: killswitch"
    assert c.feed(sample(ram=83.0)).killswitch is False


def test_rss_over_the_limit_fires_the_killswitch_once_and_rearms_below() -> None:
    c = clock(rss_limit_bytes=4 * GIB)
    assert c.feed(sample(rss=4 * GIB)).killswitch is False
    fired = c.feed(sample(rss=5 * GIB))
    assert fired.killswitch is True
    assert fired.mode == "ok"
    assert fired.transition is None
    assert fired.cause == "killswitch: rss 5.00 GiB > 4.00 GiB; every probe ok"
    assert c.feed(sample(rss=5 * GIB), times=5).killswitch is False
    # An unknown RSS neither fires nor re-arms.
    assert c.feed(sample(rss=None)).killswitch is False
    assert c.feed(sample(rss=5 * GIB)).killswitch is False
    assert c.feed(sample(rss=GIB)).killswitch is False
    assert c.feed(sample(rss=5 * GIB)).killswitch is True


def test_no_rss_limit_means_no_killswitch() -> None:
    assert clock().feed(sample(rss=10**15)).killswitch is False


def test_a_transition_cause_does_not_carry_the_killswitch_note() -> None:
    c = clock(rss_limit_bytes=GIB)
    c.feed(sample(ram=85.0), times=2)
    decision = c.feed(sample(ram=85.0, rss=2 * GIB))
    assert decision.killswitch is True
    assert decision.transition is not None
    assert decision.transition.cause == "ram 85.0% >= 80.0% for 3 samples"
    assert decision.cause.startswith("killswitch: rss 2.00 GiB > 1.00 GiB; ram 85.0%")


# --- history ---------------------------------------------------------------------------


def test_transitions_keep_the_last_50_newest_last() -> None:
    c = clock(samples_to_enter=1, samples_to_exit=1)
    for _ in range(40):
        c.feed(sample(ram=85.0), CALM)
    transitions = c.policy.transitions
    assert len(transitions) == 50
    assert transitions[-1].at == c.now
    assert [t.at for t in transitions] == sorted(t.at for t in transitions)
    assert all(t.cause for t in transitions)


# --- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"ram_brownout_exit_pct": 80.0},  # exit not below enter
        {"ram_brownout_exit_pct": 85.0},
        {"ram_emergency_exit_pct": 92.0},
        {"ram_brownout_enter_pct": 95.0},  # brownout past emergency
        {"cpu_brownout_exit_pct": -1.0},
        {"loop_lag_emergency_enter_s": 0.4},
        {"loop_lag_brownout_exit_s": 0.5},
        {"disk_brownout_exit_above_bytes": 2 * GIB},  # exit not above enter
        {"disk_emergency_exit_above_bytes": 512 * MIB},
        {"disk_emergency_below_bytes": 3 * GIB},  # emergency above brownout
        {"disk_emergency_below_bytes": -1},
        {"gpu_memory_emergency_exit_pct": 98.0},
        {"samples_to_enter": 0},
        {"samples_to_exit": 0},
        {"unknown_strikes": 0},
        {"rss_limit_bytes": 0},
        {"drill_s": 0.0},
    ],
)
def test_inconsistent_thresholds_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Thresholds(**overrides)  # type: ignore[arg-type]


def test_defaults_are_valid_and_as_documented() -> None:
    t = Thresholds()
    assert (t.ram_brownout_enter_pct, t.ram_brownout_exit_pct) == (80.0, 70.0)
    assert (t.ram_emergency_enter_pct, t.ram_emergency_exit_pct) == (92.0, 85.0)
    assert t.cpu_emergency_enter_pct > 100.0
    assert t.disk_brownout_below_bytes == 2 * GIB
    assert t.disk_brownout_exit_above_bytes == 2 * GIB + 512 * MIB
    assert t.disk_emergency_below_bytes == 512 * MIB
    assert t.disk_emergency_exit_above_bytes == GIB
    assert (t.samples_to_enter, t.samples_to_exit, t.unknown_strikes) == (3, 3, 3)
    assert t.rss_limit_bytes is None
    assert t.drill_s == 60.0


# --- properties ------------------------------------------------------------------------

pct = st.one_of(st.none(), st.floats(0.0, 110.0))
samples = st.builds(
    sample,
    ram=pct,
    cpu=pct,
    lag=st.one_of(st.none(), st.floats(0.0, 5.0)),
    disk=st.one_of(st.none(), st.integers(0, 4 * GIB)),
    rss=st.one_of(st.none(), st.integers(0, 8 * GIB)),
    gpu=st.one_of(st.none(), st.builds(GpuReading, pct, pct)),
)
calm_samples = st.builds(
    sample,
    ram=st.floats(0.0, 60.0),  # a RAM reading is needed to leave brownout
    cpu=st.one_of(st.none(), st.floats(0.0, 70.0)),
    lag=st.one_of(st.none(), st.floats(0.0, 0.1)),
    disk=st.one_of(st.none(), st.integers(3 * GIB, 100 * GIB)),
    gpu=st.one_of(st.none(), st.builds(GpuReading, st.floats(0.0, 70.0), pct)),
)
thresholds = st.builds(
    Thresholds,
    samples_to_enter=st.integers(1, 4),
    samples_to_exit=st.integers(1, 4),
    unknown_strikes=st.integers(1, 4),
    cpu_emergency_enter_pct=st.sampled_from([99.0, 100.1]),
    rss_limit_bytes=st.one_of(st.none(), st.just(4 * GIB)),
)


@settings(max_examples=300, deadline=None)
@given(thresholds, st.lists(samples, max_size=80))
def test_the_mode_never_changes_faster_than_hysteresis_allows(
    t: Thresholds, sequence: list[Sample]
) -> None:
    policy = GuardianPolicy(t)
    changed_at: list[int] = []
    previous = policy.mode
    for index, s in enumerate(sequence):
        decision = policy.step(s, float(index))
        assert (decision.transition is not None) == (decision.mode != previous)
        if decision.transition is not None:
            assert decision.transition.cause
            changed_at.append(index)
        previous = decision.mode
    gap = min(t.samples_to_enter, t.samples_to_exit)
    assert all(b - a >= gap for a, b in itertools.pairwise(changed_at))


@settings(max_examples=300, deadline=None)
@given(thresholds, st.lists(samples, max_size=60), st.data())
def test_the_mode_is_ok_once_pressure_has_ended(
    t: Thresholds, pressure: list[Sample], data: st.DataObject
) -> None:
    policy = GuardianPolicy(t)
    for index, s in enumerate(pressure):
        policy.step(s, float(index))
    calm = data.draw(st.lists(calm_samples, min_size=2 * t.samples_to_exit))
    now = float(len(pressure))
    for s in calm:
        now += 1.0
        decision = policy.step(s, now)
    assert decision.mode == "ok"
    assert policy.mode == "ok"
