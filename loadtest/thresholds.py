"""The targets of `loadtest/thresholds.toml`, read into one frozen object.

Every value is required: a missing or misspelt key stops the run before Alice starts,
instead of silently judging against a default that nobody wrote down.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_PATH", "Thresholds", "load_thresholds"]

DEFAULT_PATH = Path(__file__).resolve().parent / "thresholds.toml"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Targets and measurement windows (see the comments in thresholds.toml)."""

    sized_rps: float
    p95_s: float
    p99_s: float
    max_error_ratio: float
    max_server_fault_ratio: float
    stage_settle_s: float
    late_after_s: float
    max_late_ratio: float
    brownout_p95_s: float
    brownout_settle_s: float
    brownout_min_mode_share: float
    memory_warmup_s: float
    max_slope_mb_per_hour: float
    max_growth_mb: float
    recovery_window_s: float
    recovery_success_ratio: float
    recovery_tolerates_overload: bool
    max_recovery_s: dict[str, float]
    max_acknowledged_lost: int
    smoke_stage_settle_s: float
    smoke_brownout_settle_s: float
    smoke_memory_warmup_s: float

    def for_smoke(self) -> Thresholds:
        """The same targets with the shorter smoke-run settle and warm-up periods."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(
            stage_settle_s=self.smoke_stage_settle_s,
            brownout_settle_s=self.smoke_brownout_settle_s,
            memory_warmup_s=self.smoke_memory_warmup_s,
        )
        return Thresholds(**values)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for report.json."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _number(table: dict[str, Any], section: str, key: str) -> float:
    try:
        value = table[section][key]
    except KeyError:
        raise ValueError(f"thresholds: [{section}] {key} is missing") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"thresholds: [{section}] {key} must be a number, got {value!r}")
    if value < 0:
        raise ValueError(f"thresholds: [{section}] {key} must not be negative")
    return float(value)


def _flag(table: dict[str, Any], section: str, key: str) -> bool:
    try:
        value = table[section][key]
    except KeyError:
        raise ValueError(f"thresholds: [{section}] {key} is missing") from None
    if not isinstance(value, bool):
        raise ValueError(f"thresholds: [{section}] {key} must be true or false, got {value!r}")
    return value


def load_thresholds(path: Path = DEFAULT_PATH) -> Thresholds:
    """Read and check the thresholds file.

    Raises:
        ValueError: a value is missing, not a number, or negative.
        OSError: the file cannot be read.
    """
    with path.open("rb") as handle:
        table = tomllib.load(handle)

    def n(section: str, key: str) -> float:
        return _number(table, section, key)

    return Thresholds(
        sized_rps=n("load", "sized_rps"),
        p95_s=n("load", "p95_s"),
        p99_s=n("load", "p99_s"),
        max_error_ratio=n("load", "max_error_ratio"),
        max_server_fault_ratio=n("load", "max_server_fault_ratio"),
        stage_settle_s=n("load", "stage_settle_s"),
        late_after_s=n("arrivals", "late_after_s"),
        max_late_ratio=n("arrivals", "max_late_ratio"),
        brownout_p95_s=n("brownout", "p95_s"),
        brownout_settle_s=n("brownout", "settle_s"),
        brownout_min_mode_share=n("brownout", "min_mode_share"),
        memory_warmup_s=n("memory", "warmup_s"),
        max_slope_mb_per_hour=n("memory", "max_slope_mb_per_hour"),
        max_growth_mb=n("memory", "max_growth_mb"),
        recovery_window_s=n("chaos", "window_s"),
        recovery_success_ratio=n("chaos", "success_ratio"),
        recovery_tolerates_overload=_flag(table, "chaos", "overload_refusals_are_healthy"),
        max_recovery_s={
            kind: n("chaos", f"max_recovery_s_{kind}")
            for kind in ("killswitch", "upstream", "postgres")
        },
        max_acknowledged_lost=int(n("durability", "max_acknowledged_lost")),
        smoke_stage_settle_s=n("smoke", "stage_settle_s"),
        smoke_brownout_settle_s=n("smoke", "brownout_settle_s"),
        smoke_memory_warmup_s=n("smoke", "memory_warmup_s"),
    )
