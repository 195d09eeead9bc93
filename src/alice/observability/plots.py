"""PNG plots of an `Analysis` (``alice logs analyze --out DIR``).

matplotlib is imported here, inside `write_plots`, and only its object-oriented API is
used (``Figure`` renders with the Agg backend; no pyplot, no display, no global state),
so neither the server nor the other commands pay for importing it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from numpy.typing import NDArray

from alice.observability.analytics import MODES, PERCENTILES, Analysis

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PLOT_FILES", "write_plots"]

Times: TypeAlias = NDArray[np.datetime64]
Values: TypeAlias = NDArray[np.float64]

#: The files `write_plots` writes, in order.
PLOT_FILES = (
    "latency-percentiles.png",
    "traffic.png",
    "error-classes.png",
    "guardian-timeline.png",
    "latency-by-mode.png",
)
_MODE_COLOURS = {"ok": "#2ca02c", "brownout": "#ff7f0e", "emergency": "#d62728"}
# The chat latency SLO thresholds, drawn as reference lines.
_SLO_LINES_MS = ((2000.0, "p95 SLO 2 s"), (3000.0, "p99 SLO 3 s"))


def write_plots(analysis: Analysis, out: Path) -> list[Path]:
    """Write the five plots into ``out`` (created if needed); return their paths."""
    from matplotlib.figure import Figure

    out.mkdir(parents=True, exist_ok=True)
    grid = _Grid.of(analysis)
    window = f"{analysis.window_s:g} s windows"
    drawers = (
        _latency_percentiles,
        _traffic,
        _error_classes,
        _guardian_timeline,
        _latency_by_mode,
    )
    paths = []
    for name, draw in zip(PLOT_FILES, drawers, strict=True):
        figure = Figure(figsize=(11, 6), layout="constrained")
        draw(figure, analysis, grid)
        figure.suptitle(f"{figure.get_suptitle()} ({window}, UTC)")
        path = out / name
        figure.savefig(path, format="png", dpi=100)
        paths.append(path)
    return paths


@dataclass(frozen=True, slots=True)
class _Grid:
    """Every window from the first to the last, the empty ones included.

    The analysis lists only windows with requests; drawn as they are, a quiet hour would
    vanish between two points. On the grid it shows as zero requests and a gap in the
    latency lines.
    """

    edges: Times
    centres: Times
    slots: NDArray[np.intp]
    marker: str

    @classmethod
    def of(cls, analysis: Analysis) -> _Grid:
        # Window starts are multiples of the window length (aligned to the epoch).
        index = np.array([round(w.start / analysis.window_s) for w in analysis.windows])
        slots = index - index[0]
        window_ms = analysis.window_s * 1000
        edges_ms = (index[0] + np.arange(slots[-1] + 2)) * window_ms
        return cls(
            edges=edges_ms.astype("datetime64[ms]"),
            centres=(edges_ms[:-1] + window_ms / 2).astype("datetime64[ms]"),
            slots=slots,
            # Markers show single windows; on thousands of them they are a smear.
            marker="." if slots[-1] < 200 else "",
        )

    def series(self, values: Iterable[float | None], empty: float = math.nan) -> Values:
        """One value per grid window; ``empty`` where no request was."""
        dense = np.full(self.centres.size, empty)
        dense[self.slots] = [math.nan if v is None else v for v in values]
        return dense

    def steps(self, values: Values) -> Values:
        """``values`` for a ``step="post"`` plot over the edges (the last one repeated)."""
        return np.append(values, values[-1])


def _latency_percentiles(figure: Figure, analysis: Analysis, grid: _Grid) -> None:
    figure.suptitle("Latency percentiles")
    axes = figure.subplots()
    for label, _ in PERCENTILES:
        values = grid.series(w.latency_ms[label] for w in analysis.windows)
        axes.plot(grid.centres, values, marker=grid.marker, label=label)
    _slo_lines(axes)
    axes.set_ylabel("latency (ms)")
    axes.legend(loc="upper left")
    axes.grid(alpha=0.3)


def _traffic(figure: Figure, analysis: Analysis, grid: _Grid) -> None:
    figure.suptitle("Request rate and error ratio")
    rate, errors = figure.subplots(2, 1, sharex=True)
    rps = grid.series((w.rps for w in analysis.windows), empty=0.0)
    rate.plot(grid.centres, rps, marker=grid.marker)
    rate.set_ylabel("requests / s")
    rate.set_ylim(bottom=0)
    rate.grid(alpha=0.3)
    ratio = grid.series(100 * w.error_ratio for w in analysis.windows)
    errors.plot(grid.centres, ratio, marker=grid.marker, color="C3")
    errors.set_ylabel("errors (%)")
    errors.set_ylim(bottom=0)
    errors.grid(alpha=0.3)


def _error_classes(figure: Figure, analysis: Analysis, grid: _Grid) -> None:
    figure.suptitle("Errors by class")
    axes = figure.subplots()
    labels = sorted(analysis.error_classes)
    if labels:
        series = [
            grid.steps(grid.series((w.error_classes.get(label, 0) for w in analysis.windows), 0))
            for label in labels
        ]
        axes.stackplot(grid.edges, series, labels=labels, step="post")
        axes.legend(loc="upper left")
    else:
        axes.text(0.5, 0.5, "no errors", ha="center", va="center", transform=axes.transAxes)
    axes.set_ylabel("errors per window")
    axes.grid(alpha=0.3)


def _guardian_timeline(figure: Figure, analysis: Analysis, grid: _Grid) -> None:
    figure.suptitle("Guardian mode and latency")
    modes, latency = figure.subplots(2, 1, sharex=True, height_ratios=(1, 2))
    shares = [
        grid.steps(grid.series((w.modes.get(m, 0) / w.count for w in analysis.windows), 0))
        for m in MODES
    ]
    colours = [_MODE_COLOURS[m] for m in MODES]
    modes.stackplot(grid.edges, shares, labels=MODES, colors=colours, step="post")
    modes.set_ylabel("share of requests")
    modes.set_ylim(0, 1)
    modes.legend(loc="upper left", ncols=3)
    for label in ("p50", "p95"):
        values = grid.series(w.latency_ms[label] for w in analysis.windows)
        latency.plot(grid.centres, values, marker=grid.marker, label=label)
    _slo_lines(latency)
    latency.set_ylabel("latency (ms)")
    latency.legend(loc="upper left")
    latency.grid(alpha=0.3)


def _latency_by_mode(figure: Figure, analysis: Analysis, grid: _Grid) -> None:
    figure.suptitle("Latency by Guardian mode")
    axes = figure.subplots()
    present = [m for m in MODES if analysis.latency_by_mode[m].size]
    if not present:
        axes.text(0.5, 0.5, "no guardian_mode in the log", ha="center", transform=axes.transAxes)
        return
    # Outliers are left out: a month of logs would draw millions of points.
    plot = axes.boxplot(
        [analysis.latency_by_mode[m] for m in present],
        showfliers=False,
        patch_artist=True,
        medianprops={"color": "black"},
    )
    for box, mode in zip(plot["boxes"], present, strict=True):
        box.set_facecolor(_MODE_COLOURS[mode])
    axes.set_xticks(
        range(1, len(present) + 1),
        [f"{m}\n(n={analysis.latency_by_mode[m].size})" for m in present],
    )
    axes.set_ylabel("latency (ms)")
    axes.grid(alpha=0.3, axis="y")


def _slo_lines(axes: Axes) -> None:
    # Only thresholds within the data's range: a 2 s line would flatten 20 ms latencies.
    top = axes.get_ylim()[1]
    for value, label in _SLO_LINES_MS:
        if value > top:
            continue
        axes.axhline(value, color="grey", linestyle="--", linewidth=0.8)
        axes.annotate(
            label, (0.005, value), xycoords=("axes fraction", "data"), va="bottom", fontsize=8
        )
