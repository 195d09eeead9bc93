"""The Guardian: watches the machine and decides when Alice browns out or sheds load.

`Sampler` reads the machine (I/O only); `GuardianPolicy` turns its samples into a
`Mode` (a pure state machine with an injected clock).
"""

from alice.guardian.policy import (
    Decision,
    DrillAction,
    GuardianPolicy,
    Mode,
    ProbeStatus,
    Thresholds,
    Transition,
)
from alice.guardian.sampler import GpuReading, LoopLagMonitor, Sample, Sampler

__all__ = [
    "Decision",
    "DrillAction",
    "GpuReading",
    "GuardianPolicy",
    "LoopLagMonitor",
    "Mode",
    "ProbeStatus",
    "Sample",
    "Sampler",
    "Thresholds",
    "Transition",
]
