"""The Guardian's policy: a pure state machine from samples to a mode.

Each `Sample` is classified probe by probe (RAM, CPU, event-loop lag, free disk, GPU
memory) against the *enter* thresholds: ``ok``, ``degraded`` (at or past the brownout
threshold), ``hard-fail`` (at or past the emergency threshold) or ``unknown`` (the probe
failed). The mode then moves with hysteresis, counted in consecutive samples::

    ok ──(samples_to_enter with some probe degraded or worse)──▶ brownout
    ok, brownout ──(samples_to_enter with some probe hard-fail)──▶ emergency
    emergency ──(samples_to_exit with every probe below its emergency exit)──▶ brownout
    brownout ──(samples_to_exit with every probe below its brownout exit)──▶ ok

Every count starts again after a transition, so the mode never changes twice within
fewer than ``min(samples_to_enter, samples_to_exit)`` samples. A reading between a
probe's exit and enter thresholds neither enters nor leaves a mode.

Unknown readings: RAM is the reading that matters most, so a RAM probe that stays
unknown for ``unknown_strikes`` consecutive samples counts as degraded from then on, and
an unknown RAM reading always blocks brownout → ok (it is treated as degraded, so it
does not keep the Guardian in emergency). Any other unknown probe neither causes nor
blocks a transition.

Drills force ``brownout`` or ``emergency`` for ``drill_s`` seconds (or until
``clear``); the sampled mode keeps being tracked underneath and applies again when the
drill ends. A killswitch (a drill, or the process tree's RSS above ``rss_limit_bytes``)
sets `Decision.killswitch` once without changing the mode; the RSS trigger re-arms when
the RSS is back under the limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from alice.guardian.sampler import Sample

__all__ = [
    "Decision",
    "DrillAction",
    "GuardianPolicy",
    "Mode",
    "ProbeStatus",
    "Thresholds",
    "Transition",
]

Mode = Literal["ok", "brownout", "emergency"]
ProbeStatus = Literal["ok", "degraded", "hard-fail", "unknown"]
DrillAction = Literal["brownout", "emergency", "killswitch", "clear"]

_GIB = 1024**3
_MIB = 1024**2
_MAX_TRANSITIONS = 50


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When the Guardian browns out, declares an emergency and recovers.

    Percentages and seconds are "higher is worse": a probe enters a mode at or above
    ``*_enter`` and has recovered below ``*_exit``. Free disk is "lower is worse": it
    enters below ``*_below_bytes`` and has recovered above ``*_exit_above_bytes``.
    """

    ram_brownout_enter_pct: float = 80.0
    ram_brownout_exit_pct: float = 70.0
    ram_emergency_enter_pct: float = 92.0
    ram_emergency_exit_pct: float = 85.0
    cpu_brownout_enter_pct: float = 95.0
    cpu_brownout_exit_pct: float = 80.0
    # Above 100 %: CPU saturation alone only browns out (busy is not dying).
    cpu_emergency_enter_pct: float = 100.1
    cpu_emergency_exit_pct: float = 95.0
    loop_lag_brownout_enter_s: float = 0.5
    loop_lag_brownout_exit_s: float = 0.2
    loop_lag_emergency_enter_s: float = 2.0
    loop_lag_emergency_exit_s: float = 1.0
    disk_brownout_below_bytes: int = 2 * _GIB
    disk_brownout_exit_above_bytes: int = 5 * _GIB // 2
    disk_emergency_below_bytes: int = 512 * _MIB
    disk_emergency_exit_above_bytes: int = _GIB
    gpu_memory_brownout_enter_pct: float = 90.0
    gpu_memory_brownout_exit_pct: float = 80.0
    gpu_memory_emergency_enter_pct: float = 97.0
    gpu_memory_emergency_exit_pct: float = 92.0
    samples_to_enter: int = 3
    samples_to_exit: int = 3
    unknown_strikes: int = 3
    rss_limit_bytes: int | None = None
    drill_s: float = 60.0

    def __post_init__(self) -> None:
        for band in _bands(self):
            band.validate()
        if self.samples_to_enter < 1 or self.samples_to_exit < 1 or self.unknown_strikes < 1:
            raise ValueError("samples_to_enter, samples_to_exit and unknown_strikes must be >= 1")
        if self.rss_limit_bytes is not None and self.rss_limit_bytes <= 0:
            raise ValueError("rss_limit_bytes must be positive")
        if self.drill_s <= 0:
            raise ValueError("drill_s must be positive")


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of mode and why it happened."""

    at: float
    from_mode: Mode
    to_mode: Mode
    cause: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What the Guardian decided after a sample or a drill.

    Attributes:
        mode: the mode now in force.
        transition: the change of mode this decision made, if any.
        killswitch: stop the model backend now (set once per trigger).
        disk_low: free disk is degraded or worse: stop writing what can wait.
        probes: each probe's status in the last sample; ``gpu-memory`` is absent when
            there is no GPU.
        cause: why the mode is what it is, for a person.
    """

    mode: Mode
    transition: Transition | None
    killswitch: bool
    disk_low: bool
    probes: dict[str, ProbeStatus]
    cause: str


@dataclass(frozen=True, slots=True)
class _Band:
    """One probe's four thresholds, in the probe's own direction."""

    name: str
    brownout_enter: float
    brownout_exit: float
    emergency_enter: float
    emergency_exit: float
    lower_is_worse: bool = False

    def validate(self) -> None:
        b_in, b_out = self.brownout_enter, self.brownout_exit
        e_in, e_out = self.emergency_enter, self.emergency_exit
        if self.lower_is_worse:
            entered = 0 <= e_in <= b_in
            safe_exits = b_out > b_in and e_out > e_in
        else:
            entered = 0 <= b_in <= e_in
            safe_exits = 0 <= b_out < b_in and 0 <= e_out < e_in
        if not entered:
            raise ValueError(f"{self.name}: the emergency threshold must be past the brownout one")
        if not safe_exits:
            raise ValueError(
                f"{self.name}: each exit threshold must be on the safe side of its enter"
            )

    def _worse(self, value: float, threshold: float) -> bool:
        return value < threshold if self.lower_is_worse else value >= threshold

    def _safe(self, value: float, threshold: float) -> bool:
        return value > threshold if self.lower_is_worse else value < threshold

    def status(self, value: float | None) -> ProbeStatus:
        if value is None:
            return "unknown"
        if self._worse(value, self.emergency_enter):
            return "hard-fail"
        if self._worse(value, self.brownout_enter):
            return "degraded"
        return "ok"

    def below_exit(self, value: float, level: Mode) -> bool:
        """Whether ``value`` is on the safe side of the exit threshold of ``level``."""
        threshold = self.emergency_exit if level == "emergency" else self.brownout_exit
        return self._safe(value, threshold)

    def fmt(self, value: float) -> str:
        if self.name == "disk":
            return f"{value / _GIB:.2f} GiB"
        if self.name == "loop-lag":
            return f"{value:.2f} s"
        return f"{value:.1f}%"

    def _reading(self, value: float) -> str:
        return f"{self.name} {self.fmt(value)}{' free' if self.name == 'disk' else ''}"

    def describe(self, value: float, status: ProbeStatus) -> str:
        """``"ram 83.1% >= 80.0%"``: a reading against the enter threshold it crossed."""
        threshold = self.emergency_enter if status == "hard-fail" else self.brownout_enter
        op = "<" if self.lower_is_worse else ">="
        return f"{self._reading(value)} {op} {self.fmt(threshold)}"

    def describe_blocking(self, value: float, level: Mode) -> str:
        """``"ram 75.0% not below 70.0%"``: a reading that keeps a mode in force."""
        threshold = self.emergency_exit if level == "emergency" else self.brownout_exit
        side = "above" if self.lower_is_worse else "below"
        return f"{self._reading(value)} not {side} {self.fmt(threshold)}"


def _bands(t: Thresholds) -> tuple[_Band, ...]:
    return (
        _Band(
            "ram",
            t.ram_brownout_enter_pct,
            t.ram_brownout_exit_pct,
            t.ram_emergency_enter_pct,
            t.ram_emergency_exit_pct,
        ),
        _Band(
            "cpu",
            t.cpu_brownout_enter_pct,
            t.cpu_brownout_exit_pct,
            t.cpu_emergency_enter_pct,
            t.cpu_emergency_exit_pct,
        ),
        _Band(
            "loop-lag",
            t.loop_lag_brownout_enter_s,
            t.loop_lag_brownout_exit_s,
            t.loop_lag_emergency_enter_s,
            t.loop_lag_emergency_exit_s,
        ),
        _Band(
            "disk",
            t.disk_brownout_below_bytes,
            t.disk_brownout_exit_above_bytes,
            t.disk_emergency_below_bytes,
            t.disk_emergency_exit_above_bytes,
            lower_is_worse=True,
        ),
        _Band(
            "gpu-memory",
            t.gpu_memory_brownout_enter_pct,
            t.gpu_memory_brownout_exit_pct,
            t.gpu_memory_emergency_enter_pct,
            t.gpu_memory_emergency_exit_pct,
        ),
    )


@dataclass(frozen=True, slots=True)
class _Findings:
    """One sample against the thresholds: statuses, and descriptions for the causes."""

    probes: dict[str, ProbeStatus]
    hard: list[str]  # probes at or past their emergency enter threshold
    pressure: list[str]  # probes at or past their brownout enter threshold
    blocking_brownout: list[str]  # known probes not yet below their brownout exit
    blocking_emergency: list[str]  # known probes not yet below their emergency exit


def _assess(bands: tuple[_Band, ...], sample: Sample) -> _Findings:
    readings: dict[str, float | None] = {
        "ram": sample.ram_pct,
        "cpu": sample.cpu_pct,
        "loop-lag": sample.loop_lag_s,
        "disk": sample.disk_free_bytes,
    }
    if sample.gpu is not None:
        readings["gpu-memory"] = sample.gpu.mem_used_pct
    found = _Findings({}, [], [], [], [])
    for band in bands:
        if band.name not in readings:
            continue
        value = readings[band.name]
        status = band.status(value)
        found.probes[band.name] = status
        if value is None:
            continue  # unknown: neither pressure nor blocking (RAM is handled by the policy)
        if status == "hard-fail":
            found.hard.append(band.describe(value, status))
        if status != "ok":
            found.pressure.append(band.describe(value, status))
        if not band.below_exit(value, "brownout"):
            found.blocking_brownout.append(band.describe_blocking(value, "brownout"))
        if not band.below_exit(value, "emergency"):
            found.blocking_emergency.append(band.describe_blocking(value, "emergency"))
    return found


class GuardianPolicy:
    """Turns samples (and drills) into the Guardian's mode; no I/O, no clock of its own."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._bands = _bands(self.thresholds)
        self._mode: Mode = "ok"  # the mode in force, drills included
        self._sampled: Mode = "ok"  # the mode the samples alone give
        self._drill: tuple[Mode, float] | None = None  # (forced mode, until)
        self._transitions: deque[Transition] = deque(maxlen=_MAX_TRANSITIONS)
        self._last: Decision | None = None
        # Consecutive-sample counts; all but the RAM one restart after a transition.
        self._pressure = 0  # some probe degraded or worse
        self._hard = 0  # some probe hard-fail
        self._calm_brownout = 0  # every probe below its brownout exit
        self._calm_emergency = 0  # every probe below its emergency exit
        self._ram_unknown = 0
        self._rss_armed = True

    @property
    def mode(self) -> Mode:
        """The mode in force."""
        return self._mode

    @property
    def transitions(self) -> tuple[Transition, ...]:
        """The last 50 transitions, newest last."""
        return tuple(self._transitions)

    @property
    def last_decision(self) -> Decision | None:
        """The decision of the last `step` or `drill`."""
        return self._last

    def step(self, sample: Sample, now: float) -> Decision:
        """Take one sample into account and decide the mode at ``now``."""
        t = self.thresholds
        found = _assess(self._bands, sample)
        ram_unknown = found.probes["ram"] == "unknown"
        self._ram_unknown = self._ram_unknown + 1 if ram_unknown else 0
        pressure = list(found.pressure)
        if self._ram_unknown >= t.unknown_strikes:
            pressure.append("ram unknown")
        blocking_brownout = list(found.blocking_brownout)
        if ram_unknown:
            blocking_brownout.append("ram unknown")

        self._hard = self._hard + 1 if found.hard else 0
        self._pressure = self._pressure + 1 if pressure else 0
        self._calm_brownout = 0 if blocking_brownout else self._calm_brownout + 1
        self._calm_emergency = 0 if found.blocking_emergency else self._calm_emergency + 1

        cause = self._advance(found.hard, pressure, blocking_brownout, found.blocking_emergency)
        if self._expire_drill(now):
            cause = f"drill expired; {cause}"
        elif self._drill is not None:
            cause = f"drill: {self._drill[0]} in force; sampled: {cause}"
        killswitch = self._rss_killswitch(sample.rss_bytes)
        return self._decide(
            now,
            cause,
            note=killswitch,
            probes=found.probes,
            disk_low=found.probes["disk"] in ("degraded", "hard-fail"),
            killswitch=bool(killswitch),
        )

    def drill(self, action: DrillAction, now: float) -> Decision:
        """Force a mode for ``drill_s`` seconds, end a drill, or fire the killswitch."""
        killswitch = False
        expired = self._expire_drill(now)
        if action == "killswitch":
            killswitch = True
            cause = "drill: killswitch"
        elif action == "clear":
            cause = "drill cleared" if self._drill is not None else "no drill to clear"
            self._drill = None
        else:
            self._drill = (action, now + self.thresholds.drill_s)
            cause = f"drill: {action} for {self.thresholds.drill_s:g} s"
        if expired:
            cause = f"drill expired; {cause}"
        last = self._last
        return self._decide(
            now,
            cause,
            probes=dict(last.probes) if last else {},
            disk_low=last.disk_low if last else False,
            killswitch=killswitch,
        )

    def _advance(
        self,
        hard: list[str],
        pressure: list[str],
        blocking_brownout: list[str],
        blocking_emergency: list[str],
    ) -> str:
        """Move the sampled mode when a count is reached; return the cause of the mode."""
        t = self.thresholds
        mode = self._sampled
        if mode != "emergency" and self._hard >= t.samples_to_enter:
            return self._move("emergency", f"{', '.join(hard)} for {self._hard} samples")
        if mode == "ok" and self._pressure >= t.samples_to_enter:
            return self._move("brownout", f"{', '.join(pressure)} for {self._pressure} samples")
        if mode == "emergency" and self._calm_emergency >= t.samples_to_exit:
            n = self._calm_emergency
            return self._move("brownout", f"every probe below its emergency exit for {n} samples")
        if mode == "brownout" and self._calm_brownout >= t.samples_to_exit:
            n = self._calm_brownout
            return self._move("ok", f"every probe below its brownout exit for {n} samples")
        # No change: say what is building up or holding the mode.
        if mode == "ok":
            if not pressure:
                return "every probe ok"
            return f"{', '.join(pressure)} ({self._pressure} of {t.samples_to_enter} samples)"
        if hard and mode == "brownout":
            return f"{', '.join(hard)} ({self._hard} of {t.samples_to_enter} samples)"
        blocking = blocking_emergency if mode == "emergency" else blocking_brownout
        if blocking:
            return f"{mode}: {', '.join(blocking)}"
        calm = self._calm_emergency if mode == "emergency" else self._calm_brownout
        return f"{mode}: recovering ({calm} of {t.samples_to_exit} samples below exit)"

    def _move(self, to: Mode, cause: str) -> str:
        self._sampled = to
        self._pressure = self._hard = self._calm_brownout = self._calm_emergency = 0
        return cause

    def _expire_drill(self, now: float) -> bool:
        """End a drill whose time is up; whether one ended."""
        if self._drill is not None and now >= self._drill[1]:
            self._drill = None
            return True
        return False

    def _rss_killswitch(self, rss_bytes: int | None) -> str:
        """The killswitch's cause when the RSS trigger fires now, else ``""``.

        It fires once when the RSS goes over the limit and re-arms when it is back under
        (the restarted backend starts small); an unknown RSS changes nothing.
        """
        limit = self.thresholds.rss_limit_bytes
        if limit is None or rss_bytes is None:
            return ""
        if rss_bytes <= limit:
            self._rss_armed = True
            return ""
        if not self._rss_armed:
            return ""
        self._rss_armed = False
        return f"killswitch: rss {rss_bytes / _GIB:.2f} GiB > {limit / _GIB:.2f} GiB"

    def _decide(
        self,
        now: float,
        cause: str,
        *,
        note: str = "",
        probes: dict[str, ProbeStatus],
        disk_low: bool,
        killswitch: bool,
    ) -> Decision:
        mode = self._drill[0] if self._drill is not None else self._sampled
        transition = None
        if mode != self._mode:
            transition = Transition(at=now, from_mode=self._mode, to_mode=mode, cause=cause)
            self._transitions.append(transition)
            self._mode = mode
        self._last = Decision(
            mode=mode,
            transition=transition,
            killswitch=killswitch,
            disk_low=disk_low,
            probes=probes,
            cause=f"{note}; {cause}" if note else cause,
        )
        return self._last
