"""How busy the whole machine was while a benchmark ran (from ``/proc/stat``).

The benchmarks share the machine with whatever else runs on it; this records how much
of its CPU was in use over the run, so a reader can tell a quiet run from a noisy one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["CpuMeter"]


def _jiffies() -> tuple[int, int, int] | None:
    """(busy, idle, steal) jiffies of all CPUs since boot."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq, idle + iowait, steal


def _own_cpu_s() -> float:
    """CPU seconds of this process and of its children that have been waited for."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class CpuMeter:
    """System-wide CPU use between its creation and `read`.

    Read it after the benchmark's servers are stopped: a child's CPU time counts as this
    process's only once it has been waited for.
    """

    def __init__(self) -> None:
        self._start = _jiffies()
        self._own = _own_cpu_s()
        self._clock = time.monotonic()

    def read(self) -> dict[str, float] | None:
        """Average busy CPUs (of ``os.cpu_count()``): all, the benchmark's, everything else's."""
        end = _jiffies()
        if self._start is None or end is None:
            return None
        busy = end[0] - self._start[0]
        idle = end[1] - self._start[1]
        steal = end[2] - self._start[2]
        total = busy + idle + steal
        if total <= 0:
            return None
        cpus = os.cpu_count() or 1
        wall = time.monotonic() - self._clock
        busy_cpus = cpus * busy / total
        own_cpus = (_own_cpu_s() - self._own) / wall if wall > 0 else 0.0
        return {
            "busy_cpus_avg": round(busy_cpus, 2),
            "bench_cpus_avg": round(own_cpus, 2),
            "other_cpus_avg": round(max(0.0, busy_cpus - own_cpus), 2),
            "steal_share": round(steal / total, 4),
            "wall_s": round(wall, 1),
            "load_average_at_end": round(os.getloadavg()[0], 2),
        }
