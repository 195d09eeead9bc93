"""The report's PNG plots: latency, throughput and errors, resident memory.

Every plot shares the time axis (seconds after the first arrival) and marks the faults
(red lines), the brownout drill (shaded) and the ramp's steps (dotted lines).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display; before pyplot is imported

import matplotlib.pyplot as plt  # after use(): the backend must be chosen first
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from loadtest.analysis import MemoryGrowth, WindowStats
from loadtest.plan import Plan

__all__ = ["Marker", "plot_latency", "plot_memory", "plot_throughput"]

_DPI = 110
_SIZE = (11, 4.8)


@dataclass(frozen=True, slots=True)
class Marker:
    """A fault (a line) or a drill (a shaded span), seconds after the first arrival."""

    label: str
    at_s: float
    end_s: float | None = None


def _decorate(ax: Axes, plan: Plan, markers: Sequence[Marker]) -> None:
    if len(plan.stages) > 1:
        for start, _end, stage in plan.stage_bounds():
            ax.axvline(start, color="0.6", linestyle=":", linewidth=1)
            ax.annotate(
                f"{stage.rate_rps:g} rps",
                (start, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=8,
                color="0.35",
            )
    for marker in markers:
        if marker.end_s is not None:
            ax.axvspan(marker.at_s, marker.end_s, color="tab:orange", alpha=0.15)
            ax.axvline(marker.at_s, color="tab:orange", linewidth=1)
        else:
            ax.axvline(marker.at_s, color="tab:red", linewidth=1.2)
        ax.annotate(
            marker.label,
            (marker.at_s, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -24),
            textcoords="offset points",
            fontsize=8,
            color="tab:red" if marker.end_s is None else "tab:orange",
        )
    ax.set_xlabel("seconds after the first arrival")
    ax.grid(True, alpha=0.3)


def _mid(windows: Sequence[WindowStats]) -> list[float]:
    return [(w.start_s + w.end_s) / 2 for w in windows]


def plot_latency(
    path: Path,
    plan: Plan,
    windows: Sequence[WindowStats],
    *,
    targets: Sequence[tuple[str, float]],
    markers: Sequence[Marker],
) -> Path:
    """p50/p95/p99 of successful answers per window, with the target lines."""
    fig, ax = plt.subplots(figsize=_SIZE)
    x = _mid(windows)
    for label, style in (("p50", "-"), ("p95", "-"), ("p99", "--")):
        values = [getattr(w, f"{label}_s") for w in windows]
        y = [v if v is not None else float("nan") for v in values]
        ax.plot(x, y, style, marker=".", label=label)
    for (label, value), color in zip(targets, ("tab:red", "tab:purple", "tab:brown"), strict=False):
        ax.axhline(value, color=color, linestyle="-.", linewidth=1, label=label)
    ax.set_ylabel("latency, s (successful answers)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(0, plan.duration_s)
    _decorate(ax, plan, markers)
    ax.set_title(f"{plan.scenario}: chat latency per {_window_len(windows):g} s window")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_throughput(
    path: Path, plan: Plan, windows: Sequence[WindowStats], *, markers: Sequence[Marker]
) -> Path:
    """Offered, answered, refused and failed requests per second, per window."""
    fig, ax = plt.subplots(figsize=_SIZE)
    x = _mid(windows)
    spans = [max(w.end_s - w.start_s, 1e-9) for w in windows]
    target_x: list[float] = []
    target_y: list[float] = []
    for start, end, stage in plan.stage_bounds():
        target_x += [start, end]
        target_y += [stage.rate_rps, stage.rate_rps]
    ax.plot(target_x, target_y, color="0.5", linestyle="--", label="target rate")
    series: tuple[tuple[str, Callable[[WindowStats], int], str], ...] = (
        ("offered", lambda w: w.requests, "tab:blue"),
        ("ok", lambda w: w.ok, "tab:green"),
        ("refused (429/503)", lambda w: w.refused, "tab:orange"),
        ("other failures", lambda w: w.requests - w.ok - w.refused, "tab:red"),
    )
    for label, count, color in series:
        ax.plot(
            x,
            [count(w) / s for w, s in zip(windows, spans, strict=True)],
            marker=".",
            color=color,
            label=label,
        )
    ax.set_ylabel("requests/s (by due time)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(0, plan.duration_s)
    _decorate(ax, plan, markers)
    ax.set_title(f"{plan.scenario}: throughput and errors")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_memory(
    path: Path,
    plan: Plan,
    times_s: Sequence[float],
    rss_bytes: Sequence[int],
    cpu_pct: Sequence[float],
    *,
    memory: MemoryGrowth | None,
    warmup_s: float | None,
    markers: Sequence[Marker],
) -> Path:
    """Alice's process-tree RSS (and the machine's CPU), with the fitted trend."""
    fig, ax = plt.subplots(figsize=_SIZE)
    mb = [r / 1024 / 1024 for r in rss_bytes]
    ax.plot(times_s, mb, color="tab:blue", linewidth=1, label="RSS, Alice + model worker")
    if memory is not None and warmup_s is not None:
        ax.axvline(warmup_s, color="0.4", linestyle="--", linewidth=1)
        end = warmup_s + memory.span_s
        slope = memory.slope_mb_per_hour / 3600
        # The fitted line through the mean point, over the judged span.
        kept = [(t, m) for t, m in zip(times_s, mb, strict=True) if warmup_s <= t <= end]
        if kept:
            mean_t = sum(t for t, _ in kept) / len(kept)
            mean_m = sum(m for _, m in kept) / len(kept)
            ax.plot(
                [warmup_s, end],
                [mean_m + slope * (warmup_s - mean_t), mean_m + slope * (end - mean_t)],
                color="tab:red",
                linewidth=1.5,
                label=f"trend {memory.slope_mb_per_hour:+.1f} MB/h",
            )
    ax.set_ylabel("RSS, MB")
    _decorate(ax, plan, markers)
    cpu_ax = ax.twinx()
    cpu_ax.plot(times_s, cpu_pct, color="0.7", linewidth=0.6, label="machine CPU %")
    cpu_ax.set_ylabel("machine CPU, %", color="0.5")
    cpu_ax.set_ylim(0, 105)
    lines = ax.get_legend_handles_labels()
    cpu_lines = cpu_ax.get_legend_handles_labels()
    ax.legend(lines[0] + cpu_lines[0], lines[1] + cpu_lines[1], loc="lower right", fontsize=8)
    ax.set_title(f"{plan.scenario}: resident memory")
    return _save(fig, path)


def _window_len(windows: Sequence[WindowStats]) -> float:
    return windows[0].end_s - windows[0].start_s if windows else 0.0


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path
