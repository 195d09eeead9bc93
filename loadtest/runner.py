"""One scenario, end to end: Alice up, Locust load, faults on time, measurements, report.

The orchestrator is plain Python (no gevent): it starts ``alice serve`` (and, for the
PostgreSQL drill, a throwaway cluster), samples Alice's process tree every second,
runs Locust headless as a subprocess, injects each fault at its offset from the first
arrival (the time Locust reports in its start file), and once Locust is done checks the
database for every acknowledged turn, judges, plots and writes the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import REPO_ROOT, machine_info
from bench.processes import ServerFailedError, base_env
from loadtest import checks
from loadtest.alice import AliceServer, ensure_model
from loadtest.durability import check_postgres, check_sqlite
from loadtest.faults import FaultError, FaultEvent, FaultInjector
from loadtest.judge import Measured, judge
from loadtest.plan import FaultPlan, Plan
from loadtest.postgres import ThrowawayPostgres
from loadtest.records import load_records
from loadtest.report import run_verdict, write_report
from loadtest.sampler import ResourceSampler, write_samples
from loadtest.thresholds import Thresholds

__all__ = ["HarnessError", "RunOptions", "RunResult", "run_scenario"]

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
_START_TIMEOUT_S = 90.0
_EXIT_GRACE_S = 60.0


class HarnessError(RuntimeError):
    """The run could not be carried out (Alice or Locust did not start, a fault failed)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run, beyond the plan.

    Attributes:
        out_dir: reports go to ``out_dir/<UTC timestamp>-<scenario>/``.
        thresholds: the targets (full-run values; smoke values are derived).
        model_path: the GGUF to serve (None: the bundled one, assembled once).
        alice_env: extra ``ALICE_*`` settings.
        keep_data: keep Alice's data folder (database, keys) after the run.
    """

    out_dir: Path
    thresholds: Thresholds
    model_path: Path | None = None
    alice_env: Mapping[str, str] = field(default_factory=dict)
    keep_data: bool = False


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished run: ``pass``, ``fail`` or ``error``, and where its report is."""

    scenario: str
    verdict: str
    report_dir: Path


def _log(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"[loadtest {stamp}] {message}", file=sys.stderr, flush=True)


def _report_dir(out_dir: Path, scenario: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{stamp}-{scenario}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = out_dir / f"{stamp}-{scenario}-{suffix}"
    path.mkdir(parents=True)
    return path


def _start_locust(plan: Plan, alice: AliceServer, report_dir: Path) -> subprocess.Popen[bytes]:
    paths = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    env = base_env(
        {
            "PYTHONPATH": os.pathsep.join(p for p in paths if p),
            "LOADTEST_PLAN": str(report_dir / "plan.json"),
            "LOADTEST_RECORDS": str(report_dir / "requests.ndjson"),
            "LOADTEST_START_FILE": str(report_dir / "locust-start.json"),
            "LOADTEST_SUMMARY": str(report_dir / "locust-summary.json"),
            "LOADTEST_API_KEY": alice.api_key,
        }
    )
    argv = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "--host", alice.url,
        "--csv", str(report_dir / "locust"),
        "--only-summary",
        "--loglevel", "WARNING",
        # Failed requests are the measurement, not a failure of the load generator.
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    with (report_dir / "locust.log").open("ab") as log:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop_locust(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def _wait_for_start(process: subprocess.Popen[bytes], report_dir: Path) -> float:
    path = report_dir / "locust-start.json"
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HarnessError(
                f"locust exited ({process.returncode}) before it started: "
                f"see {report_dir / 'locust.log'}"
            )
        if path.exists():
            with contextlib.suppress(ValueError, KeyError):
                return float(json.loads(path.read_text(encoding="utf-8"))["t0"])
        time.sleep(0.1)
    raise HarnessError(f"locust did not start within {_START_TIMEOUT_S:.0f} s")


def _sleep_until(at: float, process: subprocess.Popen[bytes]) -> None:
    while (left := at - time.time()) > 0:
        if process.poll() is not None:
            raise HarnessError("locust ended before every fault was injected")
        time.sleep(min(left, 0.2))


def _inject_faults(
    plan: Plan, injector: FaultInjector, t0: float, locust: subprocess.Popen[bytes]
) -> list[FaultEvent]:
    """Begin (and, for drills with a window, end) every fault at its time."""
    actions: list[tuple[float, int, FaultPlan, bool]] = []
    for number, fault in enumerate(plan.faults):
        actions.append((t0 + fault.at_s, number, fault, False))
        if fault.duration_s > 0:
            actions.append((t0 + fault.at_s + fault.duration_s, number, fault, True))
    events: dict[int, FaultEvent] = {}
    for at, number, fault, is_end in sorted(actions, key=lambda a: (a[0], a[1])):
        _sleep_until(at, locust)
        try:
            if is_end:
                events[number] = injector.end_brownout(events[number])
                _log(f"{fault.kind} drill cleared at {time.time() - t0:.1f} s")
            else:
                events[number] = injector.begin(fault)
                _log(f"{fault.kind} at {events[number].at - t0:.1f} s: {events[number].detail}")
        except FaultError as exc:
            raise HarnessError(str(exc)) from exc
    return [events[n] for n in sorted(events)]


def _best_effort_snapshots(alice: AliceServer, report_dir: Path) -> int | None:
    """Save /metrics and /guardian/status; return the Guardian's transition count."""
    transitions: int | None = None
    with contextlib.suppress(Exception):
        response = alice.get("/metrics")
        if response.status_code == 200:
            (report_dir / "metrics.txt").write_text(response.text, encoding="utf-8")
    with contextlib.suppress(Exception):
        response = alice.get("/guardian/status", admin=True)
        if response.status_code == 200:
            status = response.json()
            (report_dir / "guardian-status.json").write_text(
                json.dumps(status, indent=2), encoding="utf-8"
            )
            transitions = len(status.get("transitions", []))
    return transitions


def _measure(plan: Plan, options: RunOptions, report_dir: Path) -> Measured:
    model = ensure_model(options.model_path)
    settings: dict[str, str] = {}
    brownouts = [f for f in plan.faults if f.kind == "brownout"]
    if brownouts:
        # The drill ends by itself at the window's end (the harness also clears it).
        settings["ALICE_GUARDIAN__DRILL_S"] = f"{brownouts[0].duration_s:g}"
    with contextlib.ExitStack() as stack:
        postgres: ThrowawayPostgres | None = None
        if plan.database == "postgresql":
            postgres = ThrowawayPostgres()
            stack.callback(postgres.stop)
            postgres.start()
            settings["ALICE_DATABASE_URL"] = postgres.url
            _log(f"throwaway PostgreSQL on port {postgres.port}")
        settings.update(options.alice_env)
        alice = AliceServer(report_dir, model, settings)
        stack.callback(alice.stop)
        try:
            ready_s = alice.start()
        except ServerFailedError as exc:
            raise HarnessError(f"Alice did not start: {exc}") from exc
        _log(f"alice ready in {ready_s:.1f} s on {alice.url} (pid {alice.pid})")
        sampler = ResourceSampler(alice.sample)
        sampler.start()
        stack.callback(sampler.stop)
        locust = _start_locust(plan, alice, report_dir)
        stack.callback(_stop_locust, locust)
        t0 = _wait_for_start(locust, report_dir)
        _log(
            f"load: {len(plan.stages)} stage(s), {plan.duration_s:.0f} s, "
            f"{plan.pool_size} users; first arrival in {t0 - time.time():.1f} s"
        )
        events = _inject_faults(plan, FaultInjector(alice, plan, postgres), t0, locust)
        try:
            locust.wait(
                timeout=max(1.0, t0 + plan.duration_s + plan.drain_s + _EXIT_GRACE_S - time.time())
            )
        except subprocess.TimeoutExpired as exc:
            raise HarnessError("locust did not finish in time") from exc
        _log(f"load done (locust exit {locust.returncode})")
        alive = alice.alive()
        transitions = _best_effort_snapshots(alice, report_dir) if alive else None
        samples = sampler.stop()
        workers_seen = len(sampler.worker_pids_seen())
        alice.stop()
        records = load_records(report_dir / "requests.ndjson")
        if postgres is not None:
            durability = check_postgres(postgres.url, records)
            with contextlib.suppress(OSError):
                shutil.copy(postgres.log_path, report_dir / "postgres.log")
        else:
            durability = check_sqlite(alice.sqlite_path, records)
        if not options.keep_data:
            # Its database and key files: never left lying in a report folder.
            shutil.rmtree(alice.data_dir, ignore_errors=True)
    summary = _read_json(report_dir / "locust-summary.json")
    write_samples(samples, report_dir / "resources.csv", t0)
    return Measured(
        t0=t0,
        records=records,
        samples=samples,
        events=events,
        durability=durability,
        alive=alive,
        unfinished=int(summary.get("unfinished") or 0),
        users=plan.pool_size,
        workers_seen=workers_seen,
        alice_ready_s=ready_s,
        alice_settings={
            k: v
            for k, v in alice.environment().items()
            if k not in ("ALICE_DATA_DIR", "ALICE_MODEL_PATH")
        },
        guardian_transitions=transitions,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_scenario(plan: Plan, options: RunOptions, log: Callable[[str], None] = _log) -> RunResult:
    """Run ``plan`` and write its report; never raises for a failed run (see the verdict)."""
    thresholds = options.thresholds.for_smoke() if plan.smoke else options.thresholds
    report_dir = _report_dir(options.out_dir, plan.scenario)
    plan.write(report_dir / "plan.json")
    started = datetime.now(UTC)
    log(f"{plan.scenario}{' (smoke)' if plan.smoke else ''}: report in {report_dir}")
    base: dict[str, Any] = {
        "scenario": plan.scenario,
        "smoke": plan.smoke,
        "started_at": started.isoformat(timespec="seconds"),
        "plan": plan.to_dict(),
        "thresholds": thresholds.as_dict(),
        "machine": machine_info(),
    }
    found: list[checks.Check] = []
    try:
        measured = _measure(plan, options, report_dir)
        found, data = judge(plan, thresholds, measured, report_dir)
        verdict = run_verdict(found)
        base.update(data)
    except Exception as exc:  # any failure still gets its report, and `all` goes on
        verdict = "error"
        base["error"] = f"{type(exc).__name__}: {exc}"
        base.setdefault("alice_settings", {})
        log(f"run failed: {base['error']}")
    finished = datetime.now(UTC)
    base.update(
        verdict=verdict,
        finished_at=finished.isoformat(timespec="seconds"),
        wall_s=(finished - started).total_seconds(),
        files=sorted(
            {p.name for p in report_dir.iterdir() if p.is_file()} | {"report.json", "report.md"}
        ),
    )
    path = write_report(report_dir, base, found)
    log(f"{plan.scenario}: {verdict.upper()} ({path})")
    return RunResult(plan.scenario, verdict, report_dir)
