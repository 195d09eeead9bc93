"""From what a run measured to its checks, plots and report data.

Which records each check looks at: the ramp's steps after their settle period, the
soak outside its brownout drill (and the drill window after its settle period), each
chaos fault from its injection to recovery; memory after the warm-up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from loadtest import analysis, checks, plots
from loadtest.durability import DurabilityResult
from loadtest.faults import FaultEvent
from loadtest.plan import Plan
from loadtest.records import RequestRecord
from loadtest.sampler import ResourceSample
from loadtest.thresholds import Thresholds

__all__ = ["Measured", "judge"]


@dataclass
class Measured:
    """What the load phase produced, for the analysis."""

    t0: float
    records: list[RequestRecord]
    samples: list[ResourceSample]
    events: list[FaultEvent]
    durability: DurabilityResult
    alive: bool
    unfinished: int
    users: int
    workers_seen: int
    alice_ready_s: float
    alice_settings: dict[str, str]
    guardian_transitions: int | None


def _window_dict(label: str, stats: analysis.WindowStats) -> dict[str, Any]:
    return {
        "label": label,
        **asdict(stats),
        "offered_rps": stats.offered_rps,
        "error_ratio": stats.error_ratio,
        "server_fault_ratio": stats.server_fault_ratio,
    }


def judge(
    plan: Plan, thresholds: Thresholds, m: Measured, report_dir: Path
) -> tuple[list[checks.Check], dict[str, Any]]:
    """The checks of a run and the report's data (the plots are written on the way).

    Args:
        plan: what was run.
        thresholds: the targets (smoke values already applied).
        m: what the load phase measured.
        report_dir: where the plots go.
    """
    late_after = thresholds.late_after_s
    records, t0 = m.records, m.t0
    overall = analysis.summarize(
        analysis.between(records, t0, 0, plan.duration_s),
        0,
        plan.duration_s,
        late_after_s=late_after,
    )
    found = checks.common_checks(
        plan,
        thresholds,
        alive=m.alive,
        durability=m.durability,
        overall=overall,
        unfinished=m.unfinished,
    )
    windows: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []
    memory: analysis.MemoryGrowth | None = None
    markers: list[plots.Marker] = []
    targets = [(f"p95 target {thresholds.p95_s:g} s", thresholds.p95_s)]
    for event in m.events:
        end = event.ended_at - t0 if event.kind == "brownout" and event.ended_at else None
        markers.append(plots.Marker(event.kind, event.at - t0, end))
    if plan.scenario == "ramp":
        stage_stats = []
        for number, (start, end, stage) in enumerate(plan.stage_bounds(), start=1):
            begin = min(end, start + thresholds.stage_settle_s)
            stats = analysis.summarize(
                analysis.between(records, t0, begin, end), begin, end, late_after_s=late_after
            )
            stage_stats.append(stats)
            windows.append(_window_dict(f"step {number}: {stage.rate_rps:g} rps", stats))
        found += checks.ramp_checks(plan, thresholds, stage_stats)
    elif plan.scenario == "soak":
        drill = next((e for e in m.events if e.kind == "brownout"), None)
        brownout: analysis.WindowStats | None = None
        steady_records = records
        if drill is not None:
            start = drill.at - t0
            end = (drill.ended_at or drill.at + plan.faults[0].duration_s) - t0
            begin = min(end, start + thresholds.brownout_settle_s)
            brownout = analysis.summarize(
                analysis.between(records, t0, begin, end), begin, end, late_after_s=late_after
            )
            # The steady state leaves out the drill and the settle period after it.
            skip_until = end + thresholds.brownout_settle_s
            steady_records = [r for r in records if not start <= r.due - t0 < skip_until]
            windows.append(_window_dict("brownout drill (after settle)", brownout))
            targets.append(
                (f"brownout p95 target {thresholds.brownout_p95_s:g} s", thresholds.brownout_p95_s)
            )
        steady = analysis.summarize(
            [r for r in steady_records if 0 <= r.due - t0 < plan.duration_s],
            0,
            plan.duration_s,
            late_after_s=late_after,
        )
        windows.insert(0, _window_dict("steady (outside the drill)", steady))
        memory = analysis.memory_growth(
            [s.at - t0 for s in m.samples],
            [s.rss_bytes for s in m.samples],
            warmup_s=thresholds.memory_warmup_s,
            end_s=plan.duration_s,
        )
        found += checks.soak_checks(
            plan, thresholds, steady=steady, brownout=brownout, memory=memory
        )
    else:
        lost = frozenset(m.durability.lost_tickets)
        recoveries = [
            analysis.recovery(
                records,
                t0,
                e.at,
                window_s=thresholds.recovery_window_s,
                success_ratio=thresholds.recovery_success_ratio,
                horizon=t0 + plan.duration_s,
                lost_tickets=lost,
                tolerate_overload=thresholds.recovery_tolerates_overload,
            )
            for e in m.events
        ]
        for event, rec in zip(m.events, recoveries, strict=True):
            faults.append({**event.as_dict(t0), "recovery": asdict(rec)})
        windows.append(_window_dict("whole run", overall))
        found += checks.chaos_checks(
            plan, thresholds, events=m.events, recoveries=recoveries, workers_seen=m.workers_seen
        )
    if not faults:
        faults = [e.as_dict(t0) for e in m.events]
    window_s = float(max(2, min(10, round(plan.duration_s / 36))))
    timeline = analysis.timeline(
        records, t0, window_s=window_s, end_s=plan.duration_s, late_after_s=late_after
    )
    times = [s.at - t0 for s in m.samples]
    plot_paths = [
        plots.plot_latency(
            report_dir / "latency.png", plan, timeline, targets=targets, markers=markers
        ),
        plots.plot_throughput(report_dir / "throughput.png", plan, timeline, markers=markers),
        plots.plot_memory(
            report_dir / "rss.png",
            plan,
            times,
            [s.rss_bytes for s in m.samples],
            [s.machine_cpu_pct for s in m.samples],
            memory=memory,
            warmup_s=thresholds.memory_warmup_s if memory else None,
            markers=markers,
        ),
    ]
    during = [s.machine_cpu_pct for s in m.samples if 0 <= s.at - t0 <= plan.duration_s]
    data: dict[str, Any] = {
        "windows": windows,
        "faults": faults,
        "memory": asdict(memory) if memory else None,
        "totals": _window_dict("whole run", overall),
        "durability": {**asdict(m.durability), "requests_lost": m.durability.requests_lost},
        "timeline": [_window_dict(f"{w.start_s:g}", w) for w in timeline],
        "plots": [p.name for p in plot_paths],
        "alice_alive_at_end": m.alive,
        "alice_ready_s": m.alice_ready_s,
        "alice_settings": m.alice_settings,
        "workers_seen": m.workers_seen,
        "guardian_transitions": m.guardian_transitions,
        "machine_cpu_mean_pct": sum(during) / len(during) if during else None,
        "load_generator": {
            "users": m.users,
            "unfinished": m.unfinished,
            "locust": metadata.version("locust"),
        },
        "t0_epoch": t0,
    }
    return found, data
