"""Each load, soak and chaos scenario in its smoke version, run as `make loadtest` runs it.

``python -m loadtest <scenario> --smoke`` in a subprocess: a real ``alice serve`` with
the embedded model, Locust in its own process, real faults (a Guardian drill, SIGKILL
of the model worker, a PostgreSQL restart). The assertions are about behaviour only:
the run completed and passed its gating checks, every check has a verdict, the plots
are PNG files, nothing acknowledged was lost, chaos drills recovered, Alice is alive.
Latency numbers are not asserted: on a shared 2-core machine a minute says little about
them (the full runs judge them).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCENARIOS = ["ramp", "soak", "chaos-killswitch", "chaos-upstream", "chaos-postgres"]


def _run(scenario: str, out: Path, model_file: Path) -> tuple[Path, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    done = subprocess.run(
        [
            sys.executable, "-m", "loadtest", scenario, "--smoke",
            "--out", str(out),
            "--model-path", str(model_file),
            "--keep-data",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )  # fmt: skip
    (report_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert done.returncode == 0, (
        f"exit {done.returncode}\n{done.stderr[-3000:]}\n"
        + (report_dir / "report.md").read_text()[:4000]
    )
    return report_dir, json.loads((report_dir / "report.json").read_text())


def _records(report_dir: Path) -> list[dict[str, Any]]:
    lines = (report_dir / "requests.ndjson").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _stored(db: Path, ids: list[str]) -> dict[str, tuple[str, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = [
            conn.execute("SELECT role, status FROM messages WHERE id = ?", (i,)).fetchone()
            for i in ids
        ]
    return {i: (row[0], row[1]) for i, row in zip(ids, rows, strict=True) if row is not None}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_smoke_run_passes_and_loses_nothing(
    scenario: str, tmp_path: Path, model_file: Path
) -> None:
    report_dir, report = _run(scenario, tmp_path, model_file)
    plan = report["plan"]

    assert report["scenario"] == scenario
    assert report["smoke"] is True
    assert report["verdict"] == "pass"
    checks = {c["name"]: c for c in report["checks"]}
    assert checks, "no checks"
    assert all(c["verdict"] in ("pass", "fail", "info") for c in checks.values())
    assert all(c["verdict"] == "pass" for c in checks.values() if c["gating"])
    assert {"alice-alive", "acknowledged-lost", "answered", "arrivals-late"} <= set(checks)
    assert report["alice_alive_at_end"] is True

    assert report["plots"] == ["latency.png", "throughput.png", "rss.png"]
    for name in report["plots"]:
        assert (report_dir / name).read_bytes()[:8] == PNG_SIGNATURE
    assert "| check | target | measured | verdict |" in (report_dir / "report.md").read_text()

    # Durability, recounted here from the client's own records.
    records = _records(report_dir)
    acknowledged = [r for r in records if r["outcome"] in ("ok", "offline")]
    assert acknowledged
    assert report["durability"]["acknowledged"] == len(acknowledged)
    assert report["durability"]["ids_checked"] == 2 * len(acknowledged)
    assert report["durability"]["requests_lost"] == 0
    if plan["scenario"] != "chaos-postgres":
        ids = [r["message_id"] for r in acknowledged] + [r["user_message_id"] for r in acknowledged]
        stored = _stored(report_dir / "alice-data" / "alice.db", ids)
        assert {r["message_id"] for r in acknowledged} <= set(stored)
        assert all(stored[r["message_id"]] == ("assistant", "complete") for r in acknowledged)
        assert all(stored[r["user_message_id"]][0] == "user" for r in acknowledged)

    if scenario == "ramp":
        for number, stage in enumerate(plan["stages"], start=1):
            prefix = f"step-{number}-{stage['rate_rps']:g}rps-"
            assert any(name.startswith(prefix) for name in checks), prefix
    elif scenario == "soak":
        assert checks["brownout-in-force"]["verdict"] == "pass"
        assert {"brownout-p95", "memory-slope", "memory-growth"} <= set(checks)
        drill = report["faults"][0]
        assert drill["kind"] == "brownout"
        # The drill was cleared after its window.
        assert drill["ended_at_s"] > drill["at_s"]
    else:
        assert len(report["faults"]) == len(plan["faults"]) >= 1
        for number, fault in enumerate(report["faults"], start=1):
            assert fault["kind"] == scenario.removeprefix("chaos-")
            assert fault["recovery"]["recovered"] is True
            assert fault["recovery"]["recovery_s"] >= 0
            assert checks[f"recovered-{number}"]["verdict"] == "pass"
        if scenario in ("chaos-killswitch", "chaos-upstream"):
            # Each fault replaced the model worker: a new pid appeared after it.
            assert report["workers_seen"] >= len(plan["faults"]) + 1
