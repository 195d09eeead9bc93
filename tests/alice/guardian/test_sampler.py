from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest

from alice.guardian import GpuReading, LoopLagMonitor, Sampler
from alice.guardian import sampler as sampler_module

MIB = 1024**2
GIB = 1024**3
BUSY_LOOP = "import time\nend = time.monotonic() + 1.5\nwhile time.monotonic() < end:\n    pass\n"


def no_cgroup(tmp_path: Path) -> Path:
    """A cgroup folder without interface files: the host's readings apply."""
    root = tmp_path / "no-cgroup"
    root.mkdir()
    return root


def fake_meminfo(tmp_path: Path, total_kib: int, available_kib: int) -> Path:
    path = tmp_path / "meminfo"
    path.write_text(
        f"MemTotal:       {total_kib} kB\n"
        f"MemFree:        {available_kib // 2} kB\n"
        f"MemAvailable:   {available_kib} kB\n"
        "Buffers:          1024 kB\n"
    )
    return path


def fake_cgroup(
    tmp_path: Path,
    *,
    memory_max: str = str(GIB),
    current: int = 600 * MIB,
    inactive_file: int = 100 * MIB,
    cpu_max: str = "200000 100000",
    usage_usec: int = 1_000_000,
) -> Path:
    root = tmp_path / "cgroup"
    root.mkdir(exist_ok=True)
    (root / "memory.max").write_text(f"{memory_max}\n")
    (root / "memory.current").write_text(f"{current}\n")
    (root / "memory.stat").write_text(
        f"anon {current // 2}\nfile {current // 2}\nactive_file 1234\n"
        f"inactive_file {inactive_file}\nslab 99\n"
    )
    (root / "cpu.max").write_text(f"{cpu_max}\n")
    set_usage(root, usage_usec)
    return root


def set_usage(root: Path, usage_usec: int) -> None:
    (root / "cpu.stat").write_text(
        f"usage_usec {usage_usec}\nuser_usec {usage_usec // 2}\n"
        f"system_usec {usage_usec // 2}\nnr_periods 10\n"
    )


# --- real readings on this machine -----------------------------------------------------


def test_real_readings_are_plausible(tmp_path: Path) -> None:
    sampler = Sampler(data_dir=tmp_path)
    first = sampler.sample(123.0, loop_lag_s=0.004)
    assert first.taken_at == 123.0
    assert first.ram_pct is not None
    assert 0.0 < first.ram_pct < 100.0
    assert first.disk_free_bytes is not None
    assert first.disk_free_bytes > 0
    assert first.rss_bytes is not None
    assert first.rss_bytes >= psutil.Process().memory_info().rss // 2
    assert first.loop_lag_s == 0.004
    assert first.cpu_pct is None  # no interval yet
    time.sleep(0.2)
    second = sampler.sample(123.2)
    assert second.cpu_pct is not None
    assert 0.0 <= second.cpu_pct <= 100.0
    assert second.loop_lag_s is None
    sampler.close()


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is not None, reason="NVML is installed")
def test_no_nvml_means_no_gpu(tmp_path: Path) -> None:
    assert Sampler(data_dir=tmp_path).sample(0.0).gpu is None


def test_a_busy_core_shows_in_the_cpu_reading(tmp_path: Path) -> None:
    sampler = Sampler(data_dir=tmp_path, cgroup_root=no_cgroup(tmp_path))
    sampler.sample(0.0)
    busy_loop = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(1.0)
        busy = sampler.sample(1.0).cpu_pct
    finally:
        busy_loop.wait(timeout=30)
    assert busy is not None
    # One core spinning is 1/cores of all the CPU time (50% here, on two cores), whatever
    # else runs; an idle two-core machine reads a few percent.
    assert busy > min(20.0, 80.0 / (os.cpu_count() or 1))


def test_rss_counts_child_processes(tmp_path: Path) -> None:
    hog_code = "import time\nb = b'x' * 80_000_000\nprint('ready', flush=True)\ntime.sleep(30)"
    with subprocess.Popen(
        [sys.executable, "-c", hog_code], stdout=subprocess.PIPE, text=True
    ) as hog:
        try:
            assert hog.stdout is not None
            assert hog.stdout.readline().strip() == "ready"
            tree = Sampler(data_dir=tmp_path).sample(0.0).rss_bytes
            child = Sampler(data_dir=tmp_path, pid=hog.pid).sample(0.0).rss_bytes
        finally:
            hog.kill()
    assert tree is not None
    assert child is not None
    assert child > 75 * MIB
    assert tree >= psutil.Process().memory_info().rss + 70 * MIB


# --- cgroup v2 -------------------------------------------------------------------------


def test_cgroup_memory_is_the_working_set_against_the_limit(tmp_path: Path) -> None:
    sampler = Sampler(
        data_dir=tmp_path,
        cgroup_root=fake_cgroup(tmp_path, current=600 * MIB, inactive_file=100 * MIB),
        meminfo=fake_meminfo(tmp_path, total_kib=16 * 1024 * 1024, available_kib=1024),
    )
    ram = sampler.sample(0.0).ram_pct
    assert ram == pytest.approx(100.0 * 500 / 1024)


def test_cgroup_memory_without_a_host_report_still_uses_the_limit(tmp_path: Path) -> None:
    sampler = Sampler(
        data_dir=tmp_path,
        cgroup_root=fake_cgroup(tmp_path, current=512 * MIB, inactive_file=0),
        meminfo=tmp_path / "missing",
    )
    assert sampler.sample(0.0).ram_pct == pytest.approx(50.0)


def test_inactive_file_cache_above_usage_is_not_negative(tmp_path: Path) -> None:
    sampler = Sampler(
        data_dir=tmp_path,
        cgroup_root=fake_cgroup(tmp_path, current=10 * MIB, inactive_file=20 * MIB),
    )
    assert sampler.sample(0.0).ram_pct == 0.0


def test_no_cgroup_memory_limit_reads_the_host(tmp_path: Path) -> None:
    meminfo = fake_meminfo(tmp_path, total_kib=1000, available_kib=250)
    unlimited = Sampler(
        data_dir=tmp_path,
        cgroup_root=fake_cgroup(tmp_path, memory_max="max"),
        meminfo=meminfo,
    )
    assert unlimited.sample(0.0).ram_pct == pytest.approx(75.0)
    without = Sampler(data_dir=tmp_path, cgroup_root=no_cgroup(tmp_path), meminfo=meminfo)
    assert without.sample(0.0).ram_pct == pytest.approx(75.0)


def test_a_cgroup_limit_above_the_host_memory_reads_the_host(tmp_path: Path) -> None:
    sampler = Sampler(
        data_dir=tmp_path,
        cgroup_root=fake_cgroup(tmp_path, memory_max=str(64 * GIB)),
        meminfo=fake_meminfo(tmp_path, total_kib=1000, available_kib=600),
    )
    assert sampler.sample(0.0).ram_pct == pytest.approx(40.0)


def test_cgroup_cpu_is_usage_against_the_quota(tmp_path: Path) -> None:
    root = fake_cgroup(tmp_path, cpu_max="200000 100000", usage_usec=5_000_000)
    sampler = Sampler(data_dir=tmp_path, cgroup_root=root)
    assert sampler.sample(10.0).cpu_pct is None
    # One CPU-second in one second, against a quota of two CPUs.
    set_usage(root, 6_000_000)
    assert sampler.sample(11.0).cpu_pct == pytest.approx(50.0)
    # Half a CPU-second in two seconds.
    set_usage(root, 6_500_000)
    assert sampler.sample(13.0).cpu_pct == pytest.approx(12.5)
    # An idle interval is a real zero, not an unknown.
    assert sampler.sample(14.0).cpu_pct == 0.0


def test_cgroup_cpu_with_a_fractional_quota_caps_at_100(tmp_path: Path) -> None:
    root = fake_cgroup(tmp_path, cpu_max="50000 100000", usage_usec=0)
    sampler = Sampler(data_dir=tmp_path, cgroup_root=root)
    sampler.sample(0.0)
    set_usage(root, 400_000)
    assert sampler.sample(1.0).cpu_pct == pytest.approx(80.0)
    set_usage(root, 1_000_000)
    assert sampler.sample(2.0).cpu_pct == 100.0


def test_no_cpu_quota_reads_the_host(tmp_path: Path) -> None:
    root = fake_cgroup(tmp_path, cpu_max="max 100000", usage_usec=0)
    sampler = Sampler(data_dir=tmp_path, cgroup_root=root)
    assert sampler.sample(0.0).cpu_pct is None
    set_usage(root, 10**12)  # ignored: there is no quota to measure it against
    time.sleep(0.1)
    cpu = sampler.sample(0.1).cpu_pct
    assert cpu is not None
    assert 0.0 <= cpu <= 100.0


def test_a_cpu_counter_going_backwards_is_unknown(tmp_path: Path) -> None:
    root = fake_cgroup(tmp_path, usage_usec=5_000_000)
    sampler = Sampler(data_dir=tmp_path, cgroup_root=root)
    sampler.sample(0.0)
    set_usage(root, 1_000)
    assert sampler.sample(1.0).cpu_pct is None
    set_usage(root, 1_001_000)
    assert sampler.sample(2.0).cpu_pct == pytest.approx(50.0)


def test_a_repeated_timestamp_is_unknown_cpu(tmp_path: Path) -> None:
    root = fake_cgroup(tmp_path)
    sampler = Sampler(data_dir=tmp_path, cgroup_root=root)
    sampler.sample(1.0)
    assert sampler.sample(1.0).cpu_pct is None


# --- failed probes are unknown, never zero ---------------------------------------------


@pytest.mark.parametrize("missing", ["memory.current", "memory.stat"])
def test_missing_cgroup_memory_files_are_unknown(tmp_path: Path, missing: str) -> None:
    root = fake_cgroup(tmp_path)
    (root / missing).unlink()
    assert Sampler(data_dir=tmp_path, cgroup_root=root).sample(0.0).ram_pct is None


@pytest.mark.parametrize("content", ["", "lots\n", "-5\n"])
def test_an_unreadable_memory_limit_is_unknown(tmp_path: Path, content: str) -> None:
    root = fake_cgroup(tmp_path)
    (root / "memory.max").write_text(content)
    assert Sampler(data_dir=tmp_path, cgroup_root=root).sample(0.0).ram_pct is None


def test_a_missing_cpu_stat_is_unknown_every_time(tmp_path: Path) -> None:
    root = fake_cgroup(tmp_path)
    (root / "cpu.stat").unlink()
    sampler = Sampler(data_dir=tmp_path, cgroup_root=root)
    assert [sampler.sample(float(n)).cpu_pct for n in range(4)] == [None] * 4


def test_a_cpu_probe_that_fails_once_starts_a_new_interval(tmp_path: Path) -> None:
    root = fake_cgroup(tmp_path, usage_usec=0)
    sampler = Sampler(data_dir=tmp_path, cgroup_root=root)
    sampler.sample(0.0)
    (root / "cpu.stat").write_text("garbage\n")
    assert sampler.sample(1.0).cpu_pct is None
    set_usage(root, 2_000_000)
    assert sampler.sample(2.0).cpu_pct is None
    set_usage(root, 3_000_000)
    assert sampler.sample(3.0).cpu_pct == pytest.approx(50.0)


@pytest.mark.parametrize("kind", ["missing", "directory", "garbage", "no-available"])
def test_an_unreadable_meminfo_is_unknown(tmp_path: Path, kind: str) -> None:
    meminfo = tmp_path / "meminfo"
    if kind == "directory":
        meminfo.mkdir()
    elif kind == "garbage":
        meminfo.write_text("MemTotal: many kB\nMemAvailable: few kB\n")
    elif kind == "no-available":
        meminfo.write_text("MemTotal: 1000 kB\n")
    sampler = Sampler(data_dir=tmp_path, cgroup_root=no_cgroup(tmp_path), meminfo=meminfo)
    assert sampler.sample(0.0).ram_pct is None


def test_a_missing_data_dir_is_unknown_disk(tmp_path: Path) -> None:
    sample = Sampler(data_dir=tmp_path / "nowhere").sample(0.0)
    assert sample.disk_free_bytes is None
    assert sample.ram_pct is not None


def test_a_vanished_process_is_unknown_rss(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    assert Sampler(data_dir=tmp_path, pid=gone.pid).sample(0.0).rss_bytes is None


# --- GPU (NVML faked) ------------------------------------------------------------------


class NVMLError(Exception):
    pass


class FakeNvml:
    def __init__(self, devices: list[dict[str, Any]], *, count_fails: bool = False) -> None:
        self.devices = devices
        self.count_fails = count_fails
        self.shut_down = False

    def nvmlDeviceGetCount(self) -> int:
        if self.count_fails:
            raise NVMLError("driver went away")
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        return self.devices[index]

    def nvmlDeviceGetMemoryInfo(self, handle: dict[str, Any]) -> SimpleNamespace:
        if handle.get("mem") is None:
            raise NVMLError("not supported")
        used, total = handle["mem"]
        return SimpleNamespace(used=used, total=total, free=total - used)

    def nvmlDeviceGetUtilizationRates(self, handle: dict[str, Any]) -> SimpleNamespace:
        if handle.get("util") is None:
            raise NVMLError("not supported on MIG")
        return SimpleNamespace(gpu=handle["util"], memory=0)

    def nvmlShutdown(self) -> None:
        self.shut_down = True


def with_nvml(monkeypatch: pytest.MonkeyPatch, nvml: FakeNvml | None) -> None:
    monkeypatch.setattr(sampler_module, "_load_nvml", lambda: nvml)


def test_gpu_readings_are_the_maximum_over_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nvml = FakeNvml(
        [{"mem": (2 * GIB, 8 * GIB), "util": 90}, {"mem": (6 * GIB, 8 * GIB), "util": 5}]
    )
    with_nvml(monkeypatch, nvml)
    sampler = Sampler(data_dir=tmp_path)
    assert sampler.sample(0.0).gpu == GpuReading(mem_used_pct=75.0, util_pct=90.0)
    sampler.close()
    assert nvml.shut_down


def test_a_gpu_reading_that_fails_is_unknown_not_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_nvml(monkeypatch, FakeNvml([{"mem": (GIB, 4 * GIB), "util": None}]))
    assert Sampler(data_dir=tmp_path).sample(0.0).gpu == GpuReading(25.0, None)
    with_nvml(monkeypatch, FakeNvml([{"mem": None, "util": None}]))
    assert Sampler(data_dir=tmp_path).sample(0.0).gpu == GpuReading(None, None)
    with_nvml(monkeypatch, FakeNvml([{"mem": (0, 0), "util": 3}]))
    assert Sampler(data_dir=tmp_path).sample(0.0).gpu == GpuReading(None, 3.0)
    with_nvml(monkeypatch, FakeNvml([{}], count_fails=True))
    assert Sampler(data_dir=tmp_path).sample(0.0).gpu == GpuReading(None, None)


def test_no_gpu_device_or_no_nvml_is_no_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_nvml(monkeypatch, FakeNvml([]))
    assert Sampler(data_dir=tmp_path).sample(0.0).gpu is None
    with_nvml(monkeypatch, None)
    assert Sampler(data_dir=tmp_path).sample(0.0).gpu is None


def test_nvml_is_loaded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[int] = []

    def load() -> None:
        loads.append(1)

    monkeypatch.setattr(sampler_module, "_load_nvml", load)
    sampler = Sampler(data_dir=tmp_path)
    for n in range(3):
        sampler.sample(float(n))
    assert loads == [1]


def test_load_nvml_without_the_package_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes the import fail
    assert sampler_module._load_nvml() is None


def test_load_nvml_without_a_driver_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def init() -> None:
        raise NVMLError("NVML Shared Library Not Found")

    monkeypatch.setitem(sys.modules, "pynvml", SimpleNamespace(nvmlInit=init))
    assert sampler_module._load_nvml() is None


# --- event-loop lag --------------------------------------------------------------------


async def test_loop_lag_monitor_sees_a_blocked_loop() -> None:
    monitor = LoopLagMonitor(interval_s=0.05)
    assert monitor.lag_s is None
    monitor.start()
    monitor.start()  # idempotent
    await asyncio.sleep(0.2)
    assert monitor.lag_s is not None
    time.sleep(0.3)  # blocks the loop, as synchronous work in a handler would
    await asyncio.sleep(0.1)
    lag = monitor.lag_s
    await monitor.stop()
    assert lag is not None
    assert lag > 0.1
    assert monitor.lag_s is None
    await monitor.stop()  # stopping twice is harmless


async def test_loop_lag_monitor_restarts_after_stop() -> None:
    monitor = LoopLagMonitor(interval_s=0.02)
    monitor.start()
    await monitor.stop()
    monitor.start()
    await asyncio.sleep(0.1)
    assert monitor.lag_s is not None
    assert monitor.lag_s >= 0.0
    await monitor.stop()


def test_loop_lag_monitor_refuses_a_bad_interval() -> None:
    with pytest.raises(ValueError):
        LoopLagMonitor(interval_s=0.0)
    with pytest.raises(ValueError):
        LoopLagMonitor(window_s=-1.0)


def test_host_cpu_deltas_never_go_negative_when_iowait_runs_backwards() -> None:
    from alice.guardian.sampler import _host_busy_and_total

    before = (("user", 100.0), ("system", 50.0), ("idle", 800.0), ("iowait", 30.0))
    # Linux's iowait counter can decrease between two reads.
    after = (("user", 101.0), ("system", 50.5), ("idle", 801.0), ("iowait", 29.0))
    busy, total = _host_busy_and_total(before, after)
    assert (busy, total) == (1.5, 2.5)
    guest = (("user", 10.0), ("idle", 10.0), ("guest", 5.0))
    busy, total = _host_busy_and_total(guest, (("user", 12.0), ("idle", 12.0), ("guest", 7.0)))
    assert (busy, total) == (2.0, 4.0)  # guest time is inside user already
