"""Killswitch drill under steady load: how long until Alice is back, and what it cost.

Alice with the real embedded model (``ALICE_PROVIDER=llamacpp``, the bundled Gemma 3
270M, cache off, Guardian sampling off so that only the drill acts). First the
benchmark measures how long a short answer (``max_tokens`` 8) takes, and picks a steady
open-loop rate the model sustains with room to spare (one request every
``load_factor`` x the p90 answer time, kept within 0.5-1 s). That load then runs
without a break while windows of equal length alternate:

- ``baseline``: nothing happens; about ``lead_s`` into the window a probe request is
  sent;
- ``drill``: about ``lead_s`` into the window ``POST /api/admin/guardian/drill
  {"action": "killswitch"}`` kills the model worker (a fresh one is started; requests
  it held are retried by the router).

The event lands at a different point of the load's cycle in each window pair ((i + 0.5)
/ drills of the load interval after a scheduled send), so some drills catch a request
mid-answer and others fall between two requests.

Back to normal after a drill = ``GET /ready`` reports the model ``healthy`` while /proc
shows a new model worker process (right after the drill /ready can still report the old
worker for a moment, before the kill takes effect), *and* a chat request sent after that
succeeds (HTTP 200, a ``done`` event, not the offline answer): the new worker answers.
Each load request counts in the window it was sent in; per window it is ok (a model
answer), failed (non-200 status or an SSE ``error`` event), or offline (200, but Alice's
offline message instead of a model answer). The cost of a drill is the difference
between the drill windows and the baseline windows of the same run.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.alice_server import (
    ALICE_AUTH_HEADERS,
    READY_PATH,
    embedded_alice,
    env_pairs,
    model_healthy,
)
from bench.loadgen import run_in_loop
from bench.openloop import Outcome, native_stream, open_loop, outcome_summary, wide_client
from bench.stats import percentile, summarize

__all__ = ["KillswitchParams", "run_killswitch"]

TARGETS = {"recovery_s": 20.0, "recovery_stretch_s": 5.0}
DRILL_PATH = "/api/admin/guardian/drill"

#: Short questions; with max_tokens 8 every answer is a few hundred ms of model time.
LOAD_QUESTIONS = (
    "Vad är huvudstaden i Sverige?",
    "What is 2 + 2?",
    "Nämn en färg.",
    "Why is the sky blue?",
    "Vad heter Sveriges största sjö?",
    "Name a planet.",
)


@dataclass(frozen=True)
class KillswitchParams:
    """Drills, windows, load and polling."""

    drills: int = 5
    window_s: float = 20.0
    lead_s: float = 3.0
    max_recovery_s: float = 60.0
    settle_s: float = 2.0
    max_tokens: int = 8
    temperature: float = 0.0
    warmup_requests: int = 4
    calibration_requests: int = 12
    load_factor: float = 2.0
    min_interval_s: float = 0.5
    max_interval_s: float = 1.0
    poll_s: float = 0.05
    alice_env: tuple[str, ...] = ()
    quick: bool = False

    def bodies(self) -> list[dict[str, Any]]:
        """The load's requests, in turn."""
        return [
            {"text": q, "max_tokens": self.max_tokens, "temperature": self.temperature}
            for q in LOAD_QUESTIONS
        ]

    def probe_body(self) -> dict[str, Any]:
        """The request that checks the model answers again."""
        return {"text": "Hej!", "max_tokens": self.max_tokens, "temperature": self.temperature}


def _worker_pids(alice_pid: int) -> list[int]:
    """Alice's model worker processes (multiprocessing ``spawn`` children)."""
    try:
        children = psutil.Process(alice_pid).children(recursive=True)
    except psutil.Error:
        return []
    pids: list[int] = []
    for child in children:
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "spawn_main" in cmdline:
            pids.append(child.pid)
    return sorted(pids)


async def _calibrate(client: httpx.AsyncClient, params: KillswitchParams) -> dict[str, Any]:
    """Answer times of sequential requests, and the load interval chosen from them."""
    fire = native_stream(client, params.bodies())
    for index in range(params.warmup_requests):
        await fire(index, time.perf_counter())
    outcomes = []
    for index in range(params.calibration_requests):
        outcomes.append(await fire(index, time.perf_counter()))
    failed = [o.kind for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"calibration requests failed: {failed}")
    totals = [o.total_ms for o in outcomes]
    p90_s = percentile(totals, 90) / 1000
    interval = min(params.max_interval_s, max(params.min_interval_s, params.load_factor * p90_s))
    return {
        "sequential_total_ms": summarize(totals),
        "sequential_ttft_ms": summarize([o.ttft_ms for o in outcomes if o.ttft_ms is not None]),
        "sustainable_per_s": round(1000 / statistics.median(totals), 2),
        "interval_s": round(interval, 3),
        "rate_per_s": round(1 / interval, 3),
        "utilisation_estimate": round(statistics.median(totals) / 1000 / interval, 3),
    }


async def _wait_recovered(
    control: httpx.AsyncClient,
    since: float,
    params: KillswitchParams,
    alice_pid: int,
    workers_before: list[int],
) -> dict[str, Any]:
    """Poll /ready until it says healthy *and* /proc shows a new model worker.

    /ready alone is not enough right after the drill: the kill runs a moment later on a
    worker thread, and until then /ready still reports the old worker healthy.
    """
    polls = 0
    early_healthy = 0  # polls that said healthy while the old worker was still there
    first_state: str | None = None
    while time.perf_counter() - since < params.max_recovery_s:
        polls += 1
        try:
            response = await control.get(READY_PATH)
        except httpx.HTTPError:
            response = None
        healthy = response is not None and model_healthy(response)
        if first_state is None and response is not None:
            first_state = _model_state(response)
        workers = _worker_pids(alice_pid)
        replaced = bool(workers) and not set(workers) & set(workers_before)
        if healthy and replaced:
            return {
                "ready_s": round(time.perf_counter() - since, 3),
                "ready_polls": polls,
                "ready_first_state": first_state,
                "ready_healthy_before_replaced": early_healthy,
            }
        early_healthy += healthy and not replaced
        await asyncio.sleep(params.poll_s)
    return {
        "ready_s": None,
        "ready_polls": polls,
        "ready_first_state": first_state,
        "ready_healthy_before_replaced": early_healthy,
    }


def _model_state(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["components"]["model"]["state"])
    except (ValueError, KeyError, TypeError):
        return None


async def _probe_until_ok(
    client: httpx.AsyncClient, since: float, params: KillswitchParams
) -> tuple[float | None, list[str]]:
    """Seconds from ``since`` until a probe chat request succeeded; the probes' kinds."""
    fire = native_stream(client, [params.probe_body()])
    kinds: list[str] = []
    while time.perf_counter() - since < params.max_recovery_s:
        outcome = await fire(len(kinds), time.perf_counter())
        kinds.append(outcome.kind)
        if outcome.ok:
            return outcome.done_s - since, kinds
        await asyncio.sleep(params.poll_s)
    return None, kinds


async def _window(
    kind: str,
    index: int,
    schedule: tuple[float, float],
    client: httpx.AsyncClient,
    control: httpx.AsyncClient,
    alice_pid: int,
    params: KillswitchParams,
    log: Any,
) -> dict[str, Any]:
    start = time.perf_counter()
    record: dict[str, Any] = {"kind": kind, "index": index, "start_s": start}
    # The event lands at a different point of the load's cycle in each window pair:
    # (index + 0.5) / drills of an interval after a scheduled send, so some drills catch
    # a request mid-answer and others fall between requests.
    load_start, interval = schedule
    phase = (index + 0.5) / params.drills
    due = start + params.lead_s
    sends = max(0, int((due - load_start) / interval) + 1)
    fire_at = load_start + sends * interval + phase * interval
    await asyncio.sleep(max(0.0, fire_at - time.perf_counter()))
    fired = time.perf_counter()
    record["event_s"] = fired
    record["load_phase"] = round(phase, 3)
    workers_before = _worker_pids(alice_pid)
    if kind == "drill":
        response = await control.post(DRILL_PATH, json={"action": "killswitch"})
        record["drill_status"] = response.status_code
        record["drill_post_ms"] = round((time.perf_counter() - fired) * 1000, 3)
        record.update(await _wait_recovered(control, fired, params, alice_pid, workers_before))
    else:
        record["ready_s"] = None
    back_s, probes = await _probe_until_ok(client, fired, params)
    record["back_s"] = round(back_s, 3) if back_s is not None else None
    record["probe_kinds"] = probes
    workers_after = _worker_pids(alice_pid)
    record["workers_before"] = workers_before
    record["workers_after"] = workers_after
    record["worker_replaced"] = bool(workers_after) and not set(workers_before) & set(workers_after)
    recovered_at = fired + (back_s if back_s is not None else params.max_recovery_s)
    end = max(start + params.window_s, recovered_at + params.settle_s)
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    record["end_s"] = time.perf_counter()
    log(
        f"  {kind} {index + 1}: back to normal {record['back_s']} s after the "
        + ("drill" if kind == "drill" else "probe")
        + (
            f" (ready {record['ready_s']} s, worker replaced: {record['worker_replaced']})"
            if kind == "drill"
            else ""
        )
    )
    return record


def _window_stats(record: dict[str, Any], outcomes: list[Outcome]) -> dict[str, Any]:
    mine = [o for o in outcomes if record["start_s"] <= o.sent_s < record["end_s"]]
    failed = [o for o in mine if o.kind not in ("ok", "offline")]
    offline = [o for o in mine if o.kind == "offline"]
    not_ok = [o for o in mine if not o.ok]
    event = record["event_s"]
    held = [o for o in outcomes if o.sent_s <= event < o.done_s]
    return {
        "in_flight_at_event": [o.kind for o in held],
        "requests": len(mine),
        "failed": len(failed),
        "offline": len(offline),
        "failed_kinds": dict(Counter(o.kind for o in failed)),
        "failed_statuses": dict(Counter(str(o.status) for o in failed)),
        # From the drill (or probe) to the last request sent that got no model answer.
        "disrupted_until_s": round(max(o.sent_s for o in not_ok) - event, 3) if not_ok else None,
        "ok_total_ms": summarize([o.total_ms for o in mine if o.ok]),
        "ok_ttft_ms": summarize([o.ttft_ms for o in mine if o.ok and o.ttft_ms is not None]),
    }


def _pooled(records: list[dict[str, Any]], outcomes: list[Outcome]) -> dict[str, Any]:
    mine = [o for o in outcomes if any(r["start_s"] <= o.sent_s < r["end_s"] for r in records)]
    failed = [o for o in mine if o.kind not in ("ok", "offline")]
    offline = [o for o in mine if o.kind == "offline"]
    n = len(mine)
    return {
        **outcome_summary(mine),
        "failed_share": round(len(failed) / n, 4) if n else None,
        "offline_share": round(len(offline) / n, 4) if n else None,
        "not_model_answered_share": round((len(failed) + len(offline)) / n, 4) if n else None,
        "failed_statuses": dict(Counter(str(o.status) for o in failed)),
        "failed_kinds": dict(Counter(o.kind for o in failed)),
    }


def _analysis(windows: list[dict[str, Any]], outcomes: list[Outcome]) -> dict[str, Any]:
    drills = [w for w in windows if w["kind"] == "drill"]
    baselines = [w for w in windows if w["kind"] == "baseline"]
    back = [w["back_s"] for w in drills if w["back_s"] is not None]
    ready = [w["ready_s"] for w in drills if w["ready_s"] is not None]
    probe = [w["back_s"] for w in baselines if w["back_s"] is not None]
    pooled = {"baseline": _pooled(baselines, outcomes), "drill": _pooled(drills, outcomes)}
    differences = {
        name: round(pooled["drill"][name] - pooled["baseline"][name], 4)
        for name in ("failed_share", "offline_share", "not_model_answered_share")
        if pooled["drill"][name] is not None and pooled["baseline"][name] is not None
    }
    ok_drill = pooled["drill"]["ok_total_ms"]
    ok_base = pooled["baseline"]["ok_total_ms"]
    return {
        "back_to_normal_s": back,
        "back_to_normal_median_s": round(statistics.median(back), 3) if back else None,
        "back_to_normal_max_s": max(back) if back else None,
        "unrecovered_drills": len(drills) - len(back),
        "ready_s": ready,
        "ready_median_s": round(statistics.median(ready), 3) if ready else None,
        "baseline_probe_s": probe,
        "baseline_probe_median_s": round(statistics.median(probe), 3) if probe else None,
        "workers_replaced": sum(1 for w in drills if w["worker_replaced"]),
        "workers_unchanged_in_baseline": sum(1 for w in baselines if not w["worker_replaced"]),
        "pooled": pooled,
        "drill_minus_baseline": differences,
        "ok_total_ms_added": {
            pct: round(ok_drill[pct] - ok_base[pct], 3)
            for pct in ("p50", "p95", "p99")
            if pct in ok_drill and pct in ok_base
        },
    }


def _targets_met(analysis: dict[str, Any], drills: int) -> list[dict[str, Any]]:
    back = analysis["back_to_normal_s"]
    recovered = len(back) == drills
    median = analysis["back_to_normal_median_s"]
    worst = analysis["back_to_normal_max_s"]
    limit, stretch = TARGETS["recovery_s"], TARGETS["recovery_stretch_s"]
    return [
        {
            "name": "back to normal after a killswitch drill, median",
            "value": median,
            "unit": "s",
            "limit": f"< {limit}",
            "passed": recovered and median is not None and median < limit,
            "per_round": back,
            "headline": True,
        },
        {
            "name": "back to normal after a killswitch drill, worst of the drills",
            "value": worst,
            "unit": "s",
            "limit": f"< {limit}",
            "passed": recovered and worst is not None and worst < limit,
            "per_round": back,
            "headline": True,
        },
        {
            "name": "back to normal after a killswitch drill, median (stretch goal)",
            "value": median,
            "unit": "s",
            "limit": f"< {stretch}",
            "passed": recovered and median is not None and median < stretch,
            "per_round": back,
            "headline": False,
        },
    ]


def run_killswitch(params: KillswitchParams, log: Any = print) -> dict[str, Any]:
    """Start Alice with the embedded model; calibrate; run the load and the drills; stop."""
    settings = {
        "ALICE_PROVIDER": "llamacpp",
        "ALICE_CACHE": "off",
        "ALICE_GUARDIAN_ENABLED": "false",
        **env_pairs(params.alice_env),
    }
    with (
        tempfile.TemporaryDirectory(prefix="alice-bench-killswitch-") as tmp,
        embedded_alice(Path(tmp), settings, log) as alice,
    ):
        base_url = alice.base_url
        server = alice.process

        async def measure() -> tuple[dict[str, Any], list[dict[str, Any]], list[Outcome]]:
            async with (
                wide_client(base_url, connections=64) as client,
                wide_client(base_url, connections=8) as probes,
                httpx.AsyncClient(
                    base_url=base_url,
                    trust_env=False,
                    timeout=30.0,
                    headers=ALICE_AUTH_HEADERS,
                ) as control,
            ):
                calibration = await _calibrate(client, params)
                log(
                    f"  calibration: p50 answer {calibration['sequential_total_ms']['p50']:.0f}"
                    f" ms -> one request every {calibration['interval_s']} s"
                )
                stop = asyncio.Event()
                load_start = time.perf_counter() + 0.1
                schedule = (load_start, 1 / calibration["rate_per_s"])
                load = asyncio.create_task(
                    open_loop(
                        native_stream(client, params.bodies()),
                        rate_per_s=calibration["rate_per_s"],
                        duration_s=3600.0,
                        stop=stop,
                        start=load_start,
                    )
                )
                windows: list[dict[str, Any]] = []
                try:
                    for index in range(params.drills):
                        for kind in ("baseline", "drill"):
                            windows.append(
                                await _window(
                                    kind,
                                    index,
                                    schedule,
                                    probes,
                                    control,
                                    server.pid,
                                    params,
                                    log,
                                )
                            )
                finally:
                    stop.set()
                    outcomes = await load
                return calibration, windows, outcomes

        calibration, windows, outcomes = run_in_loop(measure)
    analysis = _analysis(windows, outcomes)
    origin = windows[0]["start_s"]
    for window in windows:
        window.update(_window_stats(window, outcomes))
        for name in ("start_s", "event_s", "end_s"):
            window[name] = round(window[name] - origin, 3)
    parameters = asdict(params)
    parameters["alice_settings"] = settings
    parameters["load_questions"] = list(LOAD_QUESTIONS)
    parameters["load_generator"] = (
        "one asyncio process (uvloop), open loop at the calibrated rate: streamed "
        "POST /api/chat, request i sent at start + i / rate in its own task"
    )
    return {
        "parameters": parameters,
        "calibration": calibration,
        "analysis": analysis,
        "windows": windows,
        "outcomes": [o.record(origin) for o in outcomes],
        "targets_met": _targets_met(analysis, params.drills),
    }
