"""The Guardian's readings of the machine: I/O only, no judgement.

`Sampler.sample` reads RAM, CPU, disk, the process tree's RSS and the GPU once and
returns a frozen `Sample`. Inside a container with a cgroup v2 limit, RAM and CPU are
measured against the limit (what the kernel will enforce), otherwise against the host.

A field is ``None`` when its probe failed (a file could not be read or parsed, a call
raised): the reading is *unknown*, never a made-up zero. The policy decides what an
unknown reading means; the sampler logs nothing per sample. ``gpu`` is ``None`` when
there is no GPU to read (no NVML library, no driver, no device).

`LoopLagMonitor` measures how late the event loop wakes a sleeping task, the most direct
sign that the server has stopped being responsive.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil  # type: ignore[import-untyped]  # psutil ships no type hints

__all__ = ["GpuReading", "LoopLagMonitor", "Sample", "Sampler"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class GpuReading:
    """The busiest GPU's readings (the maximum over devices); ``None`` is unknown."""

    mem_used_pct: float | None
    util_pct: float | None


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of the machine; a ``None`` field is unknown (its probe failed).

    Attributes:
        taken_at: monotonic time of the reading.
        ram_pct: memory in use, percent of the cgroup limit or of the host's memory.
        cpu_pct: CPU in use since the previous sample, percent of the cgroup quota or of
            every host core together; ``None`` on the first sample (no interval yet).
        disk_free_bytes: free space on the data folder's filesystem.
        rss_bytes: resident memory of this process and all its descendants.
        loop_lag_s: how late the event loop woke a sleeping task, as measured by
            `LoopLagMonitor`.
        gpu: ``None`` when there is no GPU to read.
    """

    taken_at: float
    ram_pct: float | None
    cpu_pct: float | None
    disk_free_bytes: int | None
    rss_bytes: int | None
    loop_lag_s: float | None
    gpu: GpuReading | None


def _probe(read: Callable[..., _T], *args: Any) -> _T | None:
    """Run one probe; a failure of any kind is an unknown reading, not an error."""
    try:
        return read(*args)
    except Exception:
        # Deliberately broad: a probe must never take the Guardian down, and the policy
        # treats the None as "unknown" (it browns out when RAM stays unknown).
        return None


def _load_nvml() -> Any | None:
    """The initialised ``pynvml`` module, or ``None`` when no GPU can be read.

    NVML is optional (the ``nvidia-ml-py`` package): it is missing on most machines, and
    ``nvmlInit`` fails where the library is present but there is no driver.
    """
    try:
        nvml = importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception:
        return None  # ImportError, or NVMLError when there is no driver or device
    return nvml


def _read_kv(path: Path) -> dict[str, int]:
    """Parse a ``key value`` per line file (``memory.stat``, ``cpu.stat``)."""
    values: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value:
            values[key] = int(value)
    return values


class Sampler:
    """Reads the machine for the Guardian; call `sample` from a worker thread.

    Args:
        data_dir: the data folder, whose filesystem's free space is read.
        cgroup_root: where the cgroup v2 interface files of this process's cgroup are
            (``/sys/fs/cgroup`` inside a container).
        meminfo: the host's memory report, used when there is no cgroup memory limit.
        pid: the root of the process tree whose RSS is summed; this process by default.
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        meminfo: Path = Path("/proc/meminfo"),
        pid: int | None = None,
    ) -> None:
        self._data_dir = data_dir
        self._cgroup_root = cgroup_root
        self._meminfo = meminfo
        self._pid = pid
        # The previous CPU counters: (source, first, second), where the source is
        # "cgroup" (usage in µs, monotonic time) or "host" (busy s, total s).
        self._cpu_prev: tuple[str, float, float, tuple[tuple[str, float], ...]] | None = None
        self._nvml: Any | None = None
        self._nvml_loaded = False

    def sample(self, now: float, loop_lag_s: float | None = None) -> Sample:
        """Read everything once; ``now`` is the monotonic time of the reading."""
        return Sample(
            taken_at=now,
            ram_pct=_probe(self._ram_pct),
            cpu_pct=self._cpu_pct_or_none(now),
            disk_free_bytes=_probe(self._disk_free_bytes),
            rss_bytes=_probe(self._rss_bytes),
            loop_lag_s=loop_lag_s,
            gpu=self._gpu(),
        )

    def close(self) -> None:
        """Release NVML, when it was loaded."""
        if self._nvml is not None:
            # Shutting down: a driver that already went away leaves nothing to release.
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None
        self._nvml_loaded = False

    # --- RAM ----------------------------------------------------------------------------

    def _ram_pct(self) -> float:
        limit = self._cgroup_memory_limit()
        if limit is not None:
            host_total = _probe(self._host_memory_total)
            # A limit above the host's memory is no limit: the host runs out first.
            if host_total is None or limit < host_total:
                return 100.0 * self._cgroup_working_set() / limit
        return self._host_ram_pct()

    def _cgroup_memory_limit(self) -> int | None:
        """The cgroup v2 memory limit in bytes; ``None`` when there is none."""
        path = self._cgroup_root / "memory.max"
        if not path.exists():
            return None  # not cgroup v2, or the root cgroup: the host's memory applies
        text = path.read_text().strip()
        if text == "max":
            return None
        limit = int(text)
        if limit <= 0:
            raise ValueError("memory.max is not positive")
        return limit

    def _cgroup_working_set(self) -> int:
        """Memory in use minus reclaimable page cache, as ``kubectl top`` reports it.

        cAdvisor's working set: ``memory.current`` less ``inactive_file``, the file cache
        the kernel drops first under pressure, so a container that merely read large
        files (a model) is not reported as full.
        """
        current = int((self._cgroup_root / "memory.current").read_text().strip())
        inactive_file = _read_kv(self._cgroup_root / "memory.stat")["inactive_file"]
        return max(current - inactive_file, 0)

    def _host_memory_total(self) -> int:
        return self._meminfo_kib()["MemTotal"] * 1024

    def _meminfo_kib(self) -> dict[str, int]:
        values: dict[str, int] = {}
        for line in self._meminfo.read_text().splitlines():
            key, _, rest = line.partition(":")
            fields = rest.split()
            if fields:
                values[key] = int(fields[0])
        return values

    def _host_ram_pct(self) -> float:
        if sys.platform != "linux":
            return float(psutil.virtual_memory().percent)
        info = self._meminfo_kib()
        total, available = info["MemTotal"], info["MemAvailable"]
        if total <= 0:
            raise ValueError("MemTotal is not positive")
        return 100.0 * (total - available) / total

    # --- CPU ----------------------------------------------------------------------------

    def _cpu_pct_or_none(self, now: float) -> float | None:
        try:
            return self._cpu_pct(now)
        except Exception:
            # Unknown, like any failed probe; the next reading starts a fresh interval.
            self._cpu_prev = None
            return None

    def _cpu_pct(self, now: float) -> float | None:
        quota = self._cgroup_cpu_quota()
        current: tuple[str, float, float, tuple[tuple[str, float], ...]]
        if quota is not None:
            usage_us = float(_read_kv(self._cgroup_root / "cpu.stat")["usage_usec"])
            current = ("cgroup", usage_us, now, ())
        else:
            current = ("host", 0.0, 0.0, self._host_cpu_times())
        previous, self._cpu_prev = self._cpu_prev, current
        if previous is None or previous[0] != current[0]:
            return None  # no interval yet (or the source changed): nothing to compare
        if quota is None:
            used, elapsed = _host_busy_and_total(previous[3], current[3])
        else:
            used, elapsed = current[1] - previous[1], current[2] - previous[2]
        if elapsed <= 0 or used < 0:
            return None  # a counter went backwards (cgroup recreated): no honest reading
        if quota is not None:
            # Microseconds of CPU used against the microseconds the quota allowed.
            pct = 100.0 * used / (elapsed * 1_000_000 * quota)
        else:
            pct = 100.0 * used / elapsed
        # Measurement jitter can overshoot a quota slightly; more than all of it is noise.
        return min(pct, 100.0)

    def _cgroup_cpu_quota(self) -> float | None:
        """The cgroup v2 CPU quota in CPUs (``cpu.max``); ``None`` when there is none."""
        path = self._cgroup_root / "cpu.max"
        if not path.exists():
            return None
        quota, _, period = path.read_text().strip().partition(" ")
        if quota == "max":
            return None
        cpus = int(quota) / int(period or "100000")
        if cpus <= 0:
            raise ValueError("cpu.max quota is not positive")
        return cpus

    @staticmethod
    def _host_cpu_times() -> tuple[tuple[str, float], ...]:
        """CPU seconds per kind (user, idle, iowait, ...) over every core since boot."""
        times = psutil.cpu_times()
        return tuple((name, float(getattr(times, name))) for name in times._fields)

    # --- disk, RSS, GPU -----------------------------------------------------------------

    def _disk_free_bytes(self) -> int:
        return int(shutil.disk_usage(self._data_dir).free)

    def _rss_bytes(self) -> int:
        root = psutil.Process(self._pid if self._pid is not None else os.getpid())
        total = int(root.memory_info().rss)
        for child in root.children(recursive=True):
            # A child may exit between the listing and the reading.
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += int(child.memory_info().rss)
        return total

    def _gpu(self) -> GpuReading | None:
        """The busiest device's readings; ``None`` only when there is no GPU to read.

        Once NVML is up, a failing call is an unknown reading (``GpuReading(None,
        None)`` at worst), never "no GPU".
        """
        if not self._nvml_loaded:
            self._nvml = _load_nvml()
            self._nvml_loaded = True
        nvml = self._nvml
        if nvml is None:
            return None
        count = _probe(nvml.nvmlDeviceGetCount)
        if count == 0:
            return None  # a driver without devices
        mem: list[float] = []
        util: list[float] = []
        for index in range(int(count or 0)):
            device_mem, device_util = _gpu_device(nvml, index)
            if device_mem is not None:
                mem.append(device_mem)
            if device_util is not None:
                util.append(device_util)
        return GpuReading(
            mem_used_pct=max(mem) if mem else None,
            util_pct=max(util) if util else None,
        )


def _gpu_device(nvml: Any, index: int) -> tuple[float | None, float | None]:
    """One device's memory in use (percent) and utilisation; ``None`` where unknown."""
    handle = _probe(nvml.nvmlDeviceGetHandleByIndex, index)
    if handle is None:
        return None, None
    info = _probe(nvml.nvmlDeviceGetMemoryInfo, handle)
    mem = _probe(lambda: 100.0 * float(info.used) / float(info.total)) if info is not None else None
    # Utilisation is not supported on some devices (MIG instances): unknown, not zero.
    rates = _probe(nvml.nvmlDeviceGetUtilizationRates, handle)
    util = _probe(lambda: float(rates.gpu)) if rates is not None else None
    return mem, util


class LoopLagMonitor:
    """Measures how late the event loop wakes a task that sleeps `interval_s`.

    A healthy loop wakes it within a millisecond or two; a loop blocked by synchronous
    work wakes it late by as long as the block lasted.

    Args:
        interval_s: how long each sleep is.
        window_s: `lag_s` is the worst lateness among the wake-ups of the last
            ``window_s`` seconds.
    """

    def __init__(self, *, interval_s: float = 0.25, window_s: float = 1.0) -> None:
        if interval_s <= 0 or window_s <= 0:
            raise ValueError("interval_s and window_s must be positive")
        self.interval_s = interval_s
        self.window_s = window_s
        self._task: asyncio.Task[None] | None = None
        # (woke at, lateness) of recent wake-ups, oldest first.
        self._lags: deque[tuple[float, float]] = deque()

    @property
    def lag_s(self) -> float | None:
        """The worst lateness over the last window; ``None`` before the first wake-up."""
        horizon = time.monotonic() - self.window_s
        recent = [lag for woke, lag in self._lags if woke >= horizon]
        return max(recent) if recent else None

    def start(self) -> None:
        """Start measuring on the running loop (again after `stop`)."""
        if self._task is None or self._task.done():
            self._lags.clear()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="guardian-loop-lag"
            )

    async def stop(self) -> None:
        """Stop measuring and wait for the task to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._lags.clear()

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.interval_s)
            woke = time.monotonic()
            self._lags.append((woke, max(woke - started - self.interval_s, 0.0)))
            while self._lags and self._lags[0][0] < woke - self.window_s:
                self._lags.popleft()


def _host_busy_and_total(
    before: tuple[tuple[str, float], ...], after: tuple[tuple[str, float], ...]
) -> tuple[float, float]:
    """Busy and total CPU seconds between two `Sampler._host_cpu_times` readings.

    Each kind's delta is clamped at zero, as psutil's own ``cpu_percent`` does: Linux's
    iowait counter can go backwards. Guest time is already counted in user and nice and
    is left out so it does not count twice; idle and iowait are not busy.
    """
    previous = dict(before)
    deltas = {name: max(0.0, value - previous.get(name, value)) for name, value in after}
    total = sum(v for k, v in deltas.items() if k not in ("guest", "guest_nice"))
    idle = deltas.get("idle", 0.0) + deltas.get("iowait", 0.0)
    return total - idle, total
