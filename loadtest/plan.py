"""What a scenario does: its load stages and the faults injected, full length or smoke.

A `Plan` is plain data. The orchestrator builds it, writes it to ``plan.json`` for the
Locust process (which turns the stages into an arrival schedule) and injects the faults
at their offsets; the analysis reads the same plan to know which window is which.

Full runs (``make loadtest``):

- ``ramp``: 1 -> 3 -> 6 -> 10 -> 2 requests/s, 72 s each (6 minutes);
- ``soak``: the sized rate for 15 minutes, a brownout drill in the middle;
- ``chaos-*``: 1 request/s for 4 minutes, the fault at 1, 2 and 3 minutes.

Smoke runs (``--smoke``) keep the shape at lower rates in under a minute.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

__all__ = [
    "SCENARIOS",
    "FaultKind",
    "FaultPlan",
    "Plan",
    "ScenarioName",
    "Stage",
    "build_plan",
    "parse_duration",
]

ScenarioName = Literal["ramp", "soak", "chaos-killswitch", "chaos-upstream", "chaos-postgres"]
SCENARIOS: tuple[ScenarioName, ...] = get_args(ScenarioName)
FaultKind = Literal["brownout", "killswitch", "upstream", "postgres"]
PgRestartMode = Literal["fast", "immediate"]

FULL_RAMP_RPS = (1.0, 3.0, 6.0, 10.0, 2.0)
FULL_RAMP_S = 360.0
SMOKE_RAMP_RPS = (0.5, 1.0, 1.5, 2.0, 0.5)
SMOKE_RAMP_S = 40.0
FULL_SOAK_S = 900.0
SMOKE_SOAK_S = 50.0
SMOKE_SOAK_RPS = 1.0
# Chaos runs at a rate the 2-core reference machine serves without refusals (its
# capacity is about 2 short answers a second), so that a refusal after the fault is the
# fault's doing and recovery can be told from plain overload.
CHAOS_RPS = 1.0
FULL_CHAOS_S = 240.0
FULL_CHAOS_FAULTS = 3
SMOKE_CHAOS_S = 40.0
SMOKE_CHAOS_FAULTS = 1
# Smoke: the fault comes early, leaving most of the run to recover in.
SMOKE_FAULT_AT = 0.3
# The brownout drill lasts a quarter of the soak, at least 10 s and at most 2 minutes.
BROWNOUT_SHARE = 0.25
BROWNOUT_MIN_S = 10.0
BROWNOUT_MAX_S = 120.0
CLIENT_TIMEOUT_S = 60.0
FOLLOWUP_SHARE = 0.3
STREAM_SHARE = 0.25
_POOL_MIN = 10
_POOL_MAX = 1000

_CHAOS_FAULT: dict[str, FaultKind] = {
    "chaos-killswitch": "killswitch",
    "chaos-upstream": "upstream",
    "chaos-postgres": "postgres",
}


@dataclass(frozen=True, slots=True)
class Stage:
    """A stretch of constant arrival rate."""

    rate_rps: float
    duration_s: float

    def __post_init__(self) -> None:
        if self.rate_rps < 0 or self.duration_s <= 0:
            raise ValueError("a stage needs a rate >= 0 and a positive duration")


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """A fault or drill, ``at_s`` seconds after the first arrival (``duration_s``: brownout)."""

    kind: FaultKind
    at_s: float
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Plan:
    """One scenario run: load stages, faults, and how the simulated users behave."""

    scenario: ScenarioName
    smoke: bool
    stages: tuple[Stage, ...]
    faults: tuple[FaultPlan, ...] = ()
    seed: int = 1
    followup_share: float = FOLLOWUP_SHARE
    stream_share: float = STREAM_SHARE
    client_timeout_s: float = CLIENT_TIMEOUT_S
    pg_restart_mode: PgRestartMode = "immediate"

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last possible arrival."""
        return sum(s.duration_s for s in self.stages)

    @property
    def max_rate_rps(self) -> float:
        """The highest stage rate."""
        return max(s.rate_rps for s in self.stages)

    @property
    def pool_size(self) -> int:
        """Simulated users: enough that every arrival finds one free.

        A user is busy for one request at a time, at most ``client_timeout_s``; with
        this many the schedule holds whatever Alice's latency does (late arrivals are
        recorded if it still does not).
        """
        wanted = math.ceil(self.max_rate_rps * self.client_timeout_s) + _POOL_MIN
        return max(_POOL_MIN, min(_POOL_MAX, wanted))

    @property
    def drain_s(self) -> float:
        """How long the last requests may take after the last arrival."""
        return self.client_timeout_s + 5.0

    @property
    def database(self) -> Literal["sqlite", "postgresql"]:
        """The database Alice runs on in this scenario."""
        return "postgresql" if self.scenario == "chaos-postgres" else "sqlite"

    def stage_bounds(self) -> list[tuple[float, float, Stage]]:
        """``(start_s, end_s, stage)`` for every stage."""
        bounds: list[tuple[float, float, Stage]] = []
        start = 0.0
        for stage in self.stages:
            bounds.append((start, start + stage.duration_s, stage))
            start += stage.duration_s
        return bounds

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for plan.json and report.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """The inverse of `to_dict`."""
        values = dict(data)
        values["stages"] = tuple(Stage(**s) for s in data["stages"])
        values["faults"] = tuple(FaultPlan(**f) for f in data["faults"])
        return cls(**values)

    def write(self, path: Path) -> None:
        """Write the plan as JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Plan:
        """Read a plan written by `write`."""
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def parse_duration(text: str) -> float:
    """Seconds from ``"900"``, ``"90s"``, ``"15m"`` or ``"2h"``.

    Raises:
        ValueError: not a positive duration.
    """
    text = text.strip().lower()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(text[-1:])
    number = text[:-1] if scale is not None else text
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (e.g. 900, 90s, 15m, 2h)") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be positive, got {text!r}")
    return seconds


def _spread_faults(kind: FaultKind, duration_s: float, count: int) -> tuple[FaultPlan, ...]:
    """``count`` faults evenly inside the run, each followed by as much time as the last."""
    return tuple(FaultPlan(kind, duration_s * (i + 1) / (count + 1)) for i in range(count))


def build_plan(
    scenario: ScenarioName,
    *,
    smoke: bool,
    sized_rps: float,
    duration_s: float | None = None,
    rate_rps: float | None = None,
    ramp_rates: tuple[float, ...] | None = None,
    brownout_at: float | None = 0.5,
    faults: int | None = None,
    seed: int = 1,
    pg_restart_mode: PgRestartMode = "immediate",
) -> Plan:
    """The plan of ``scenario``, full length or smoke, with the caller's overrides.

    Args:
        scenario: which scenario.
        smoke: the short version (about a minute, lower rates).
        sized_rps: the rate Alice is sized for (thresholds.toml); the soak's default.
        duration_s: total length (ramp: split evenly over its steps).
        rate_rps: the constant rate of a soak or chaos run.
        ramp_rates: the ramp's steps, requests/s.
        brownout_at: soak: where the brownout drill starts, as a fraction of the run;
            None: no drill.
        faults: chaos: how many times the fault is injected.
        seed: seeds arrivals and the users' choice of questions.
        pg_restart_mode: chaos-postgres: ``pg_ctl restart -m`` mode.

    Raises:
        ValueError: an override out of range.
    """
    if rate_rps is not None and rate_rps <= 0:
        raise ValueError("--rate must be positive")
    if brownout_at is not None and not 0.0 < brownout_at < 1.0:
        raise ValueError("--brownout-at must be between 0 and 1 (exclusive)")
    if faults is not None and faults < 1:
        raise ValueError("--faults must be at least 1")
    common: dict[str, Any] = {"scenario": scenario, "smoke": smoke, "seed": seed}
    if scenario == "ramp":
        rates = ramp_rates or (SMOKE_RAMP_RPS if smoke else FULL_RAMP_RPS)
        total = duration_s or (SMOKE_RAMP_S if smoke else FULL_RAMP_S)
        stages = tuple(Stage(rate, total / len(rates)) for rate in rates)
        return Plan(stages=stages, **common)
    if scenario == "soak":
        total = duration_s or (SMOKE_SOAK_S if smoke else FULL_SOAK_S)
        rate = rate_rps or (SMOKE_SOAK_RPS if smoke else sized_rps)
        drills: tuple[FaultPlan, ...] = ()
        if brownout_at is not None:
            window = min(BROWNOUT_MAX_S, max(BROWNOUT_MIN_S, BROWNOUT_SHARE * total))
            start = total * brownout_at
            if start + window > total:
                raise ValueError(
                    f"the brownout drill ({window:.0f} s from {start:.0f} s) must end "
                    f"before the soak does ({total:.0f} s): lower --brownout-at"
                )
            drills = (FaultPlan("brownout", start, window),)
        return Plan(stages=(Stage(rate, total),), faults=drills, **common)
    kind = _CHAOS_FAULT[scenario]
    total = duration_s or (SMOKE_CHAOS_S if smoke else FULL_CHAOS_S)
    count = faults or (SMOKE_CHAOS_FAULTS if smoke else FULL_CHAOS_FAULTS)
    spread = _spread_faults(kind, total, count)
    if smoke and count == 1:
        spread = (FaultPlan(kind, total * SMOKE_FAULT_AT),)
    return Plan(
        stages=(Stage(rate_rps or CHAOS_RPS, total),),
        faults=spread,
        pg_restart_mode=pg_restart_mode,
        **common,
    )
