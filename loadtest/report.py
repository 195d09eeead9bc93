"""``report.json`` and ``report.md`` of one run (and the summary of ``all``).

report.json holds everything measured (plain data); report.md is the same for people:
the PASS/FAIL table, what each check means, the windows and faults, the plots.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtest.checks import MEANINGS, Check

__all__ = ["run_verdict", "write_report", "write_summary"]


def run_verdict(checks: Sequence[Check]) -> str:
    """``pass`` when every gating check passed, else ``fail``."""
    return "pass" if all(c.verdict != "fail" for c in checks if c.gating) else "fail"


def _cell(check: Check) -> str:
    if check.verdict == "info":
        return "info"
    word = "pass" if check.verdict == "pass" else "**FAIL**"
    return word if check.gating else f"{word} (advisory)"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: float | None, unit: str = "", digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}{unit}"


def _meaning_section(data: dict[str, Any], checks: Sequence[Check]) -> str:
    if data.get("error"):
        return (
            "**ERROR**: the run could not be carried out, so nothing was judged. The "
            "reason is above; the logs in this folder (alice.log, locust.log) tell more."
        )
    failed = [c.name for c in checks if c.gating and c.verdict == "fail"]
    advisory = [c.name for c in checks if not c.gating and c.verdict == "fail"]
    gating = sum(1 for c in checks if c.gating)
    if failed:
        head = f"**FAIL**: {len(failed)} of {gating} gating checks failed: {', '.join(failed)}."
    else:
        head = f"**PASS**: all {gating} gating checks passed."
    parts = [head]
    if advisory:
        parts.append(
            f"Advisory checks that failed (not judged in a smoke run): {', '.join(advisory)}."
        )
    if data.get("smoke"):
        parts.append(
            "This is a smoke run: about a minute at low rates, to prove the machinery and "
            "the behaviour (no crash, nothing acknowledged and lost, recovery). Its latency, "
            "error and memory numbers say little; the full runs (`make loadtest`) are judged "
            "on them."
        )
    kinds: list[str] = []
    for check in checks:
        if check.kind not in kinds:
            kinds.append(check.kind)
    parts.append("\n".join(f"- **{kind}**: {MEANINGS[kind]}" for kind in kinds))
    return "\n\n".join(parts)


def _windows_section(windows: Sequence[dict[str, Any]], title: str) -> str:
    rows = [
        [
            w["label"],
            f"{w['start_s']:.0f}-{w['end_s']:.0f}",
            w["requests"],
            f"{w['offered_rps']:.2f}",
            w["ok"],
            w["refused"],
            w["server_faults"],
            w["requests"] - w["ok"] - w["refused"] - w["server_faults"],
            _num(w["p50_s"]),
            _num(w["p95_s"]),
            _num(w["p99_s"]),
            ", ".join(f"{k} {v}" for k, v in sorted(w["modes"].items())) or "-",
        ]
        for w in windows
    ]
    header = [
        "window",
        "s",
        "due",
        "offered rps",
        "ok",
        "refused",
        "server faults",
        "other",
        "p50 s",
        "p95 s",
        "p99 s",
        "guardian modes",
    ]
    return f"## {title}\n\n" + _table(header, rows)


def _faults_section(faults: Sequence[dict[str, Any]]) -> str:
    rows = []
    for i, f in enumerate(faults, start=1):
        rec = f.get("recovery") or {}
        recovered = (
            "-"
            if not rec
            else (f"{rec['recovery_s']:.2f} s" if rec.get("recovered") else "not recovered")
        )
        cost = ", ".join(f"{n} {k}" for k, n in sorted((rec.get("affected") or {}).items()))
        rows.append(
            [
                i,
                f["kind"],
                f"{f['at_s']:.1f}",
                f["detail"],
                recovered,
                cost or "-",
                rec.get("lost", "-"),
            ]
        )
    header = ["#", "fault", "at s", "what", "recovery", "outage cost", "lost"]
    return "## Faults and drills\n\n" + _table(header, rows)


def _memory_section(memory: dict[str, Any] | None, warmup_s: float) -> str:
    if memory is None:
        return "## Memory\n\nToo few samples after the warm-up to judge."
    return (
        "## Memory\n\n"
        f"Alice's process tree after a {warmup_s:g} s warm-up, {memory['samples']} samples "
        f"over {memory['span_s']:.0f} s: {memory['start_mb']:.1f} MB -> "
        f"{memory['end_mb']:.1f} MB (medians of the first and last {memory['edge_s']:.0f} s; "
        f"growth {memory['growth_mb']:+.1f} MB), trend {memory['slope_mb_per_hour']:+.1f} "
        f"MB/hour, peak {memory['peak_mb']:.1f} MB."
    )


def _context(data: dict[str, Any]) -> str:
    plan = data["plan"]
    stages = ", ".join(f"{s['rate_rps']:g} rps x {s['duration_s']:g} s" for s in plan["stages"])
    settings = ", ".join(f"`{k}={v}`" for k, v in sorted(data["alice_settings"].items()))
    machine = data.get("machine", {})
    load = data.get("load_generator", {})
    lines = [
        f"- Run: {data['started_at']} to {data['finished_at']} (UTC), "
        f"{data['wall_s']:.0f} s wall time; first arrival at t = 0.",
        f"- Load: {stages}; Poisson arrivals (seed {plan['seed']}), "
        f"{load.get('users', '-')} Locust users, {plan['followup_share']:.0%} follow-ups, "
        f"{plan['stream_share']:.0%} streamed, client timeout {plan['client_timeout_s']:g} s.",
        f"- Alice: {settings}; database {plan_database(plan)}; "
        f"ready in {data.get('alice_ready_s', 0):.1f} s; model workers seen: "
        f"{data.get('workers_seen', '-')}.",
        f"- Guardian transitions during the run: {data.get('guardian_transitions', '-')}.",
        f"- Machine: {machine.get('cpu_model', '?')}, {machine.get('cpu_count', '?')} CPUs, "
        f"{machine.get('memory_gib', '?')} GiB; mean machine CPU during the load "
        f"{_num(data.get('machine_cpu_mean_pct'), ' %')}; commit "
        f"{str(machine.get('git_commit', ''))[:10]}.",
    ]
    return "\n".join(lines)


def plan_database(plan: dict[str, Any]) -> str:
    """The database a plan's scenario runs on, in words."""
    if plan["scenario"] == "chaos-postgres":
        return f"PostgreSQL (throwaway cluster, restarted -m {plan['pg_restart_mode']})"
    return "SQLite (synchronous=full)"


def write_report(report_dir: Path, data: dict[str, Any], checks: Sequence[Check]) -> Path:
    """Write report.json and report.md; return report.md's path."""
    payload = {**data, "checks": [c.as_dict() for c in checks]}
    (report_dir / "report.json").write_text(
        json.dumps(payload, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    title = f"{data['scenario']}{' (smoke)' if data.get('smoke') else ''}"
    sections = [
        f"# Load test: {title}: **{data['verdict'].upper()}**",
        _context(data),
        "## Checks\n\n"
        + _table(
            ["check", "target", "measured", "verdict"],
            [[c.name, c.target, c.measured, _cell(c)] for c in checks],
        ),
        "## What it means\n\n" + _meaning_section(data, checks),
    ]
    if data.get("error"):
        sections.insert(1, f"**The run did not complete**: {data['error']}")
    if data.get("windows"):
        sections.append(_windows_section(data["windows"], "Windows"))
    if data.get("faults"):
        sections.append(_faults_section(data["faults"]))
    if data["scenario"] == "soak":
        sections.append(_memory_section(data.get("memory"), data["thresholds"]["memory_warmup_s"]))
    plots = data.get("plots", [])
    if plots:
        sections.append("## Plots\n\n" + "\n\n".join(f"![{p}]({p})" for p in plots))
    sections.append(
        "## Files\n\n" + "\n".join(f"- `{name}`" for name in sorted(data.get("files", [])))
    )
    path = report_dir / "report.md"
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return path


def write_summary(out_dir: Path, runs: Sequence[tuple[str, str, Path]]) -> Path:
    """summary.md (and .json) for ``all``: one line per scenario with its report."""
    rows = [
        [name, verdict.upper(), f"[{path.name}]({path.name}/report.md)"]
        for name, verdict, path in runs
    ]
    overall = "pass" if all(v == "pass" for _, v, _ in runs) else "fail"
    (out_dir / "summary.json").write_text(
        json.dumps(
            {
                "verdict": overall,
                "runs": [{"scenario": n, "verdict": v, "report": str(p)} for n, v, p in runs],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    path = out_dir / "summary.md"
    path.write_text(
        f"# Load, soak and chaos: **{overall.upper()}**\n\n"
        + _table(["scenario", "verdict", "report"], rows)
        + "\n",
        encoding="utf-8",
    )
    return path
