"""Once a second: Alice's process-tree RSS, its model worker, and the machine's CPU.

Runs on a thread of the orchestrator while the load runs. The machine's CPU is there
to read a report fairly: on a 2-core machine that other people use, a slow window may
be the neighbours' doing.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # psutil ships no type hints

from loadtest.alice import TreeSample

__all__ = ["ResourceSample", "ResourceSampler", "write_samples"]


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """One reading (``at``: epoch seconds)."""

    at: float
    rss_bytes: int
    processes: int
    worker_pids: tuple[int, ...]
    machine_cpu_pct: float


class ResourceSampler:
    """Samples ``probe`` every ``interval_s`` on a daemon thread until `stop`.

    Args:
        probe: reads Alice's process tree (`loadtest.alice.AliceServer.sample`).
        interval_s: seconds between readings.
    """

    def __init__(self, probe: Callable[[], TreeSample], interval_s: float = 1.0) -> None:
        self._probe = probe
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadtest-sampler", daemon=True)
        self.samples: list[ResourceSample] = []

    def start(self) -> None:
        """Start sampling."""
        psutil.cpu_percent(interval=None)  # the first call only sets the baseline
        self._thread.start()

    def stop(self) -> list[ResourceSample]:
        """Stop sampling; return the samples."""
        self._stop.set()
        self._thread.join(timeout=10)
        return self.samples

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            tree = self._probe()
            self.samples.append(
                ResourceSample(
                    at=time.time(),
                    rss_bytes=tree.rss_bytes,
                    processes=tree.processes,
                    worker_pids=tree.worker_pids,
                    machine_cpu_pct=psutil.cpu_percent(interval=None),
                )
            )
            next_at += self._interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def worker_pids_seen(self) -> list[int]:
        """Every model worker pid seen, in order of appearance."""
        seen: list[int] = []
        for sample in self.samples:
            seen.extend(pid for pid in sample.worker_pids if pid not in seen)
        return seen


def write_samples(samples: list[ResourceSample], path: Path, t0: float) -> None:
    """The samples as CSV (``t_s`` relative to the first arrival)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t_s", "rss_bytes", "processes", "worker_pids", "machine_cpu_pct"])
        for s in samples:
            pids = " ".join(str(p) for p in s.worker_pids)
            writer.writerow(
                [f"{s.at - t0:.3f}", s.rss_bytes, s.processes, pids, f"{s.machine_cpu_pct:.1f}"]
            )
