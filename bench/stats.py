"""Small, dependency-free statistics for latency samples."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

__all__ = ["bootstrap_difference", "percentile", "summarize"]

PERCENTILES = (50, 95, 99)


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile of ``samples`` (linear interpolation, like numpy's default).

    Raises:
        ValueError: no samples.
    """
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples_ms: Sequence[float]) -> dict[str, float | int]:
    """Count, mean, min, max and p50/p95/p99 of millisecond samples, rounded to µs."""
    if not samples_ms:
        return {"n": 0}
    summary: dict[str, float | int] = {
        "n": len(samples_ms),
        "mean": round(sum(samples_ms) / len(samples_ms), 3),
        "min": round(min(samples_ms), 3),
        "max": round(max(samples_ms), 3),
    }
    for pct in PERCENTILES:
        summary[f"p{pct}"] = round(percentile(samples_ms, pct), 3)
    return summary


def bootstrap_difference(
    a: Sequence[float],
    b: Sequence[float],
    pct: float,
    *,
    iterations: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A bootstrap confidence interval of ``percentile(a) - percentile(b)``.

    Both samples are resampled independently, with replacement. It treats requests as
    independent, so for requests that queue behind each other (high concurrency) it is
    optimistic; the per-round figures show the spread there.
    """
    if not a or not b:
        raise ValueError("no samples")
    rng = random.Random(seed)
    diffs = sorted(
        percentile(rng.choices(a, k=len(a)), pct) - percentile(rng.choices(b, k=len(b)), pct)
        for _ in range(iterations)
    )
    tail = (1 - confidence) / 2 * 100
    return round(percentile(diffs, tail), 3), round(percentile(diffs, 100 - tail), 3)


def added_latency(samples: dict[str, list[float]], baseline: str) -> dict[str, Any]:
    """Per target: its summary, and p50/p99 minus the baseline's with bootstrap 95% CIs."""
    base = samples[baseline]
    b = summarize(base)
    added: dict[str, Any] = {}
    for name, values in samples.items():
        if name == baseline:
            continue
        s = summarize(values)
        added[name] = {
            "p50": round(float(s["p50"]) - float(b["p50"]), 3),
            "p99": round(float(s["p99"]) - float(b["p99"]), 3),
            "ci95": {
                "p50": bootstrap_difference(values, base, 50),
                "p99": bootstrap_difference(values, base, 99),
            },
        }
    return {"ms": {n: summarize(v) for n, v in samples.items()}, "added_ms": added}
