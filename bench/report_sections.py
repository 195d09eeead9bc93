"""``docs/performance.md`` sections of the benchmarks after ttft and gateway.

`bench.report` renders the document; it imports `SECTIONS` from here when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import _alice_settings, _header, _ms, _signed, _table, _verdict, _with_ci
from bench.report import _targets as _targets_with_ci
from bench.voice_report import voice_section

__all__ = [
    "SECTIONS",
    "auth_section",
    "cache_hit_section",
    "killswitch_section",
    "observability_section",
    "overload_section",
    "privacy_section",
    "readiness_section",
]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-"


def _spread(check: dict[str, Any]) -> str:
    values = check.get("per_round") or []
    return f"{min(values):.2f} .. {max(values):.2f}" if values else "-"


def _targets(checks: list[dict[str, Any]]) -> str:
    rows = [
        [
            c["name"] + ("" if c.get("headline", True) else " (informational)"),
            f"{c['value']} {c['unit']}",
            _spread(c),
            f"{c['limit']} {c['unit']}",
            _verdict(c),
        ]
        for c in checks
    ]
    return _table(["target", "measured", "range (per round or drill)", "limit", "result"], rows)


def _settings_of(parameters: dict[str, Any]) -> str:
    settings = parameters.get("alice_settings") or {}
    if settings and all(isinstance(v, dict) for v in settings.values()):
        # One Alice per configuration: list what they share once, then what differs.
        configs = list(settings.values())
        shared = {k: v for k, v in configs[0].items() if all(c.get(k) == v for c in configs)}
        listed = ", ".join(f"`{k}={v}`" for k, v in shared.items())
        differing = "; ".join(
            f"{name}: " + ", ".join(f"`{k}={v}`" for k, v in c.items() if k not in shared)
            for name, c in settings.items()
        )
        return f"Alice ran with {listed}; {differing}."
    return _alice_settings(parameters)


def _wait_bound(analysis: dict[str, Any]) -> str:
    if analysis.get("max_wait_bound_ms") is not None:
        return f"predicted wait <= {analysis['max_wait_bound_ms']:g}"
    bound = analysis.get("queue_wait_bound_ms")
    if bound is None:  # results from before the bound was recorded
        return _ms(analysis.get("expected_max_queue_wait_ms"))
    if bound["staggered"] == 0:
        return "0 (nothing waits)"
    return f"{bound['staggered']:g} (staggered) .. {bound['lockstep']:g} (lockstep)"


def _variant(key: str, analysis: dict[str, Any]) -> str:
    variant = analysis.get("variant")
    if variant is None:  # results from before variants
        return f"**queue {analysis['queue']}**"
    wait = variant["max_wait"]
    bound = "off" if wait is None else f"{wait:g}"
    return f"**{key}** (queue {variant['queue']}, max wait {bound})"


def overload_section(path: Path, result: dict[str, Any]) -> str:
    """Overload at 4x capacity."""
    p = result["parameters"]
    rows = []
    for key, a in result["analysis"].items():
        u, o, shed = (
            a["unloaded_accepted_total_ms"],
            a["overload_accepted_total_ms"],
            a["shed_ms"],
        )
        rows.append(
            [
                _variant(key, a),
                f"{_ms(u.get('p50'))} / {_ms(u.get('p95'))} / {_ms(u.get('p99'))}",
                f"{_ms(o.get('p50'))} / {_ms(o.get('p95'))} / {_ms(o.get('p99'))}",
                f"**{a['accepted_p95_ratio']:.2f}x** ("
                + ", ".join(f"{x:.2f}" for x in a["accepted_p95_ratio_per_round"])
                + ")",
                _wait_bound(a),
                f"{_pct(a['overload_shed_share'])} (ideal {_pct(a['ideal_shed_share'])})",
                f"{_ms(shed.get('p50'))} / {_ms(shed.get('p95'))} / "
                f"**{_ms(shed.get('p99'))}** / {_ms(shed.get('max'))}",
                _pct(a["shed_with_retry_after_share"]),
                ", ".join(f"{x:.1f}" for x in a["overload_accepted_per_s"]),
                a["other_failures"] + a["unloaded_shed"],
            ]
        )
    phase_rows = []
    for config, phases in result["phases"].items():
        for phase, records in phases.items():
            for r in records:
                s = r["schedule"]
                lag = s["send_lag_ms"]
                adm = r["admission"]
                cpu = r["cpu_share_of_one_core"]
                phase_rows.append(
                    [
                        config,
                        r["round"] + 1,
                        phase,
                        s["requests"],
                        f"{s['intended_rate_per_s']:.2f}",
                        f"{s['achieved_rate_per_s']:.2f}",
                        f"{_ms(lag.get('p50'))} / {_ms(lag.get('p99'))} / {_ms(lag.get('max'))}",
                        f"{adm['max_in_flight']} / {adm['max_queued']} ({adm['mean_queued']})",
                        f"{cpu.get('alice', 0):.0%}",
                        f"{cpu.get('upstream', 0):.0%}",
                        f"{cpu.get('load_generator', 0):.0%}",
                        "-" if r.get("other_cpus") is None else f"{r['other_cpus']:.2f}",
                    ]
                )
    return "\n\n".join(
        [
            "## (c) Overload at 4x capacity (`bench/overload.py`, `bench/slow_upstream.py`)",
            _header(result, path),
            f"Alice (`alice serve`, `ALICE_PROVIDER=openai`, streamed "
            f"`POST /v1/chat/completions`, SQLite persistence on) in front of "
            f"`bench/slow_upstream.py`, which answers every request {p['service_ms']:g} ms "
            f"after it arrived, with unlimited parallelism: Alice's admission "
            f"(`ALICE_BACKEND_CONCURRENCY={p['concurrency']}`) alone sets the capacity, "
            f"{p['concurrency']} / {p['service_ms'] / 1000:g} s = "
            f"**{p['capacity_per_s']:g} requests/s**. Open-loop arrivals (request i sent at "
            f"start + i / rate, whatever the answers): `unloaded` at "
            f"{p['unloaded_factor']:g}x capacity ({p['rates_per_s']['unloaded']:g}/s) for "
            f"{p['unloaded_s']:g} s, `overload` at {p['overload_factor']:g}x "
            f"({p['rates_per_s']['overload']:g}/s) for {p['overload_s']:g} s. One Alice per "
            f"configuration, all up for the whole run; each of {p['rounds']} rounds runs the "
            f"unloaded phase of each, then the overload phase of each, the order of the "
            f"Alices rotating between rounds. {_settings_of(p)}",
            "Latency = request sent → end of the stream, in ms; accepted = answered 200 with "
            "the whole answer; shed = answered 429. `default` is Alice as shipped: a caller "
            "is queued only when its predicted wait is at most `ALICE_BACKEND_QUEUE_MAX_WAIT` "
            "(0.25) times the mean call. Bounded by length only, an accepted request that "
            "has to queue waits for up to `queue` slot releases: queue * service time / "
            "concurrency when the slots finish evenly staggered, up to ceil(queue / "
            "concurrency) * service time when they finish together; with no queue nothing "
            "waits and a slot stays idle from its release to the next arrival.",
            _table(
                [
                    "Alice",
                    "unloaded p50 / p95 / p99",
                    "overload accepted p50 / p95 / p99",
                    "accepted p95 ratio (per round)",
                    "wait bound (ms)",
                    "shed at 4x",
                    "shed answered p50 / p95 / p99 / max",
                    "429 with Retry-After",
                    "accepted/s under overload (per round)",
                    "other failures",
                ],
                rows,
            ),
            "Committed to each Alice's SQLite database over the run (messages by role, "
            "status and error code): "
            + "; ".join(
                f"{key}: {_counts(a.get('stored_messages') or {})}"
                for key, a in result["analysis"].items()
            )
            + ".",
            "The load generator per phase (send lag = actual - scheduled send time, ms; "
            "Alice's admission from `GET /guardian/status` every "
            f"{p['status_interval_s']:g} s; CPU as a share of one core; 'other processes' = "
            "the machine's busy CPUs minus these three over the phase, i.e. anything else "
            "that ran meanwhile):",
            _table(
                [
                    "Alice",
                    "round",
                    "phase",
                    "requests",
                    "intended/s",
                    "achieved/s",
                    "send lag p50 / p99 / max",
                    "max in flight / max queued (mean)",
                    "alice CPU",
                    "upstream CPU",
                    "load generator CPU",
                    "other processes (CPUs)",
                ],
                phase_rows,
            ),
            _targets(result["targets_met"]),
        ]
    )


def killswitch_section(path: Path, result: dict[str, Any]) -> str:
    """Killswitch drills under steady load."""
    p = result["parameters"]
    c = result["calibration"]
    a = result["analysis"]
    windows = result["windows"]
    rows = []
    baselines = [w for w in windows if w["kind"] == "baseline"]
    drills = [w for w in windows if w["kind"] == "drill"]
    for base, drill in zip(baselines, drills, strict=False):
        rows.append(
            [
                drill["index"] + 1,
                f"{drill.get('load_phase', 0):.1f}",
                ", ".join(drill.get("in_flight_at_event", [])) or "none",
                f"{_seconds(drill['ready_s'])} ({drill.get('ready_first_state') or '-'} at "
                f"first, {drill.get('ready_healthy_before_replaced', 0)} early 'healthy')",
                f"**{_seconds(drill['back_s'])}**",
                "yes" if drill["worker_replaced"] else "**no**",
                drill["requests"],
                f"{drill['failed']} ({_counts(drill['failed_kinds'])})",
                drill["offline"],
                _seconds(drill["disrupted_until_s"]),
                _ms(drill["ok_total_ms"].get("max")),
                base["requests"],
                base["failed"],
                base["offline"],
                _seconds(base["back_s"]),
                _ms(base["ok_total_ms"].get("max")),
            ]
        )
    pooled_rows = []
    for name in ("baseline", "drill"):
        s = a["pooled"][name]
        t = s["ok_total_ms"]
        pooled_rows.append(
            [
                name,
                s["requests"],
                f"{_pct(s['failed_share'])} ({_counts(s['failed_kinds'])})",
                _pct(s["offline_share"]),
                _pct(s["not_model_answered_share"]),
                f"{_ms(t.get('p50'))} / {_ms(t.get('p95'))} / {_ms(t.get('p99'))}",
            ]
        )
    diff = a["drill_minus_baseline"]
    added = a["ok_total_ms_added"]
    pooled_rows.append(
        [
            "**drill - baseline**",
            "",
            f"**{_pct(diff.get('failed_share'))}**",
            f"**{_pct(diff.get('offline_share'))}**",
            f"**{_pct(diff.get('not_model_answered_share'))}**",
            " / ".join(f"{added[k]:+.2f}" if k in added else "-" for k in ("p50", "p95", "p99")),
        ]
    )
    return "\n\n".join(
        [
            "## (d) Killswitch drill under steady load (`bench/killswitch.py`)",
            _header(result, path),
            f"Alice (`alice serve`, bundled Gemma 3 270M in its worker process, streamed "
            f"`POST /api/chat`, max_tokens {p['max_tokens']}, temperature "
            f"{p['temperature']:g}). {_settings_of(p)} Calibration: "
            f"{p['calibration_requests']} sequential answers took "
            f"{_ms(c['sequential_total_ms']['p50'])} ms p50, "
            f"{_ms(c['sequential_total_ms']['p95'])} ms p95 (about "
            f"{c['sustainable_per_s']:g} answers/s at most); the load is one request every "
            f"**{c['interval_s']:g} s** (open loop, about {c['utilisation_estimate']:.0%} of "
            f"the model's time), running without a break through {p['drills']} baseline and "
            f"{p['drills']} drill windows of at least {p['window_s']:g} s, alternating. About "
            f"{p['lead_s']:g} s into a drill window `POST /api/admin/guardian/drill "
            f'{{"action": "killswitch"}}` kills the model worker; at the same point of a '
            f"baseline window nothing happens but the same probe is sent. The moment falls at "
            f"a different phase of the load's cycle each time ((i + 0.5) / {p['drills']} of "
            f"the interval after a scheduled send), so some drills catch a request "
            f"mid-answer and others fall between requests. Back to normal = "
            f"`GET /ready` says the model is `healthy` (polled every {p['poll_s']:g} s) and "
            f"/proc shows a new model worker process (right after the drill /ready can still "
            f"report the old worker healthy, until the kill takes effect on a worker thread), "
            f"then a probe chat request gets a model answer (not the offline one), timed from "
            f"the drill to the probe's `done` event. A request counts in the window it was "
            f"sent in: failed = non-200 or an "
            f"SSE `error` event; offline = 200 with Alice's offline message instead of a "
            f"model answer.",
            "Per drill (times in s from the drill; 'disrupted until' = the last request "
            "sent in the window that got no model answer; latencies in ms), next to the "
            "baseline window before it:",
            _table(
                [
                    "drill",
                    "at load phase",
                    "in flight at the drill → outcome",
                    "/ready healthy + new worker (first /ready state; polls healthy before)",
                    "back to normal",
                    "worker replaced",
                    "requests",
                    "failed (how)",
                    "offline",
                    "disrupted until",
                    "slowest ok",
                    "baseline requests",
                    "baseline failed",
                    "baseline offline",
                    "baseline probe",
                    "baseline slowest ok",
                ],
                rows,
            ),
            "All windows pooled (answered = 200 with a model answer; latency = request sent "
            "→ `done`, ms, answered requests only):",
            _table(
                [
                    "windows",
                    "requests",
                    "failed (how)",
                    "offline answers",
                    "not answered by the model",
                    "answered p50 / p95 / p99",
                ],
                pooled_rows,
            ),
            f"Back to normal: median **{_seconds(a['back_to_normal_median_s'])} s**, worst "
            f"{_seconds(a['back_to_normal_max_s'])} s (`/ready` healthy: median "
            f"{_seconds(a['ready_median_s'])} s); a probe without a drill took "
            f"{_seconds(a['baseline_probe_median_s'])} s. Worker replaced in "
            f"{a['workers_replaced']} of {len(drills)} drills (unchanged in "
            f"{a['workers_unchanged_in_baseline']} of {len(baselines)} baseline windows).",
            _targets(result["targets_met"]),
        ]
    )


_CACHE_ROWS = (
    ("hit-whole", "hit, whole answer"),
    ("miss-whole", "miss (model call), whole answer"),
    ("hit-stream-ttft", "hit, streamed: first delta"),
    ("miss-stream-ttft", "miss (model call), streamed: first delta"),
    ("hit-stream-total", "hit, streamed: done event"),
    ("miss-stream-total", "miss (model call), streamed: done event"),
    ("health", "`GET /health` (HTTP round-trip floor)"),
)


def cache_hit_section(path: Path, result: dict[str, Any]) -> str:
    """Cache hits against model calls."""
    p = result["parameters"]
    a = result["analysis"]
    rows = []
    for key, label in _CACHE_ROWS:
        s = a["ms"].get(key)
        if not s:
            continue
        rows.append(
            [
                label,
                s["n"],
                _ms(s["p50"]),
                _ms(s["p95"]),
                _ms(s["p99"]),
                _ms(s["max"]),
            ]
        )
    ratio_rows = [
        [mode, f"{r.get('p50') or '-'}x", f"{r.get('p99') or '-'}x"]
        for mode, r in a["miss_over_hit"].items()
    ]
    inproc = a["inprocess"]
    inproc_rows = []
    for key, label in (
        ("cache_key_us", "`cache_key(request)` (sha256 of canonical JSON)"),
        ("memory_get", "`MemoryCache.get` (hit)"),
        ("redis_get", "`RedisCache.get` (hit, local Redis, Lua script)"),
    ):
        entry = inproc.get(key) or {}
        s = entry.get("us", entry) if isinstance(entry, dict) else {}
        if "skipped" in entry:
            inproc_rows.append([label, entry["skipped"], "", "", ""])
            continue
        inproc_rows.append(
            [label, s.get("n"), _ms(s.get("p50")), _ms(s.get("p99")), _ms(s.get("max"))]
        )
    stored = dict(a.get("stored_messages") or {})
    sent = stored.pop("chat_requests_sent", None)
    return "\n\n".join(
        [
            "## (e) Response cache: a hit against a model call (`bench/cache_hit.py`)",
            _header(result, path),
            f"Alice (`alice serve`, bundled Gemma 3 270M, `ALICE_CACHE=memory`, SQLite "
            f"persistence on with `synchronous=full`, so a hit still commits the user's "
            f"message and the answer). {_settings_of(p)} "
            f"{2 * p['questions_per_mode']} distinct temperature-0 questions (max_tokens "
            f"{p['max_tokens']}), half first asked whole and half first asked streamed "
            f"(`POST /api/chat`): the first request of each is a miss (a model call), the "
            f"next {p['hits_per_question']} are hits, whole and streamed alternating. The "
            f"order interleaves them (the miss of question i comes between the hits of "
            f"question i - 1 and those of question i); one keep-alive connection, one "
            f"request at a time; a `GET /health` after every chat request gives the floor "
            f"of an HTTP round trip through Alice. Every answer's `cached` flag was checked "
            f"against the expectation ({len(a['unexpected_cache_state'])} mismatches).",
            "Times in ms, measured at the client:",
            _table(["request", "n", "p50", "p95", "p99", "max"], rows),
            "Miss ÷ hit:",
            _table(["measure", "p50", "p99"], ratio_rows),
            "In process (no HTTP), one awaited call at a time, in µs:",
            _table(["operation", "n", "p50", "p99", "max"], inproc_rows),
            f"Stored in SQLite after the run: {_counts(stored)} for {sent} chat requests "
            f"(every hit committed both turns). Redis entries were written under the "
            f"prefix `{inproc.get('redis_prefix', '-')}` and deleted afterwards "
            f"({inproc.get('redis_keys_left_after_cleanup', '-')} keys left).",
            _targets(result["targets_met"]),
        ]
    )


def _added_rows(analysis: dict[str, Any]) -> list[list[Any]]:
    """Table rows of `bench.stats.added_latency`: each target, its p50/p99 and added."""
    rows = []
    for name, s in analysis["ms"].items():
        added = analysis["added_ms"].get(name)
        rows.append(
            [
                name,
                s["n"],
                _ms(s["p50"]),
                _ms(s["p99"]),
                _with_ci(added, "p50") if added else "baseline",
                _with_ci(added, "p99", bold=True) if added else "baseline",
            ]
        )
    return rows


def auth_section(path: Path, result: dict[str, Any]) -> str:
    """Authentication and rate limiting against the same route without them."""
    p = result["parameters"]
    a = result["analysis"]
    rows = _added_rows(a)
    inproc = a["inprocess"]
    inproc_rows = [
        [label, inproc[key]["n"], _ms(inproc[key]["p50"]), _ms(inproc[key]["p99"])]
        for key, label in (
            ("authenticate_cached_us", "`Authenticator.authenticate` (key cached)"),
            ("memory_hit_us", "`MemoryRateLimiter.hit`"),
            ("redis_hit_us", "`RedisRateLimiter.hit` (local Redis, one Lua script)"),
        )
        if key in inproc
    ]
    return "\n\n".join(
        [
            "## (f) Authentication and rate limits: added per request (`bench/auth.py`)",
            _header(result, path),
            f"Four `alice serve` processes side by side, the same but for security: `open` "
            f"(`ALICE_AUTH=off`, `ALICE_RATE_LIMIT=off`, the baseline), `auth` (API keys), "
            f"`auth+memory` (keys and in-process token buckets), `auth+redis` (keys and the "
            f"Redis token buckets, one Lua script per request). Every request is "
            f"`GET /v1/models` with a valid key: no model call and no database, so the "
            f"difference is the security middleware. Limits far above the load (nothing "
            f"refused). One keep-alive connection per target, one request at a time; "
            f"{p['warmup']} uncounted warm-up requests per target, then {p['rounds']} "
            f"rounds of {p['requests_per_round']} per target, the order rotating.",
            "Times in ms at the client; added = target minus `open` (bootstrap 95% CI):",
            _table(["target", "n", "p50", "p99", "added p50", "added p99"], rows),
            "In process, one awaited call at a time, in µs:",
            _table(["operation", "n", "p50", "p99"], inproc_rows),
            _targets_with_ci(result["targets_met"]),
        ]
    )


def privacy_section(path: Path, result: dict[str, Any]) -> str:
    """Encryption at rest and PII masking against the same turn without them."""
    p = result["parameters"]
    a = result["analysis"]

    inproc = a["inprocess"]
    inproc_rows = [
        [label, inproc[key]["n"], _ms(inproc[key]["p50"]), _ms(inproc[key]["p99"])]
        for key, label in (
            ("turn_privacy_us", "all of a turn's privacy work"),
            ("masking_us", "mask the request, unmask the answer"),
            ("sealing_us", "seal question and answer, open both"),
        )
        if key in inproc
    ]
    header = ["target", "n", "p50", "p99", "added p50", "added p99"]
    parts = [
        "## (g) Encryption at rest and PII masking: added per chat turn (`bench/privacy.py`)",
        _header(result, path),
        f"The same turn four ways: `plain` (`ALICE_ENCRYPTION=off`, `ALICE_PII_MASKING=false`, "
        f"the baseline), `encrypted`, `masked`, and `both` (as shipped), each in front of the "
        f"same fast OpenAI-compatible upstream ({p['chunks']} chunks per answer). Every "
        f"request is one whole turn, `POST /api/chat`, with a fresh {p['message_chars']}-"
        f"character Swedish message holding one value of every kind Alice masks; question "
        f"and answer are committed to SQLite (fsync). {p['warmup']} uncounted warm-up turns "
        f"per target, then {p.get('turns_in_process', '-')} per target in process and "
        f"{p['rounds']} rounds of {p['turns_per_round']} per target over HTTP.",
        "**Headline, in one process:** the four as apps in one process, called turn by turn "
        "through httpx's ASGI transport in a rotating order, so no process or CPU placement "
        "favours one. Times in ms; added = target minus `plain` (bootstrap 95% CI):",
        _table(header, _added_rows(a)),
    ]
    if "servers" in a:
        parts += [
            "For context, four `alice serve` processes over HTTP (one keep-alive connection "
            "each, rounds in rotating order); on two shared cores the placement of four "
            "servers moves these by about a millisecond either way:",
            _table(header, _added_rows(a["servers"])),
        ]
    parts += [
        "The privacy work of one such turn alone, call by call, in µs:",
        _table(["operation", "n", "p50", "p99"], inproc_rows),
        _targets_with_ci(result["targets_met"]),
    ]
    return "\n\n".join(parts)


_OBSERVABILITY_MEASURES = (
    ("whole", "whole turn"),
    ("stream_first_delta", "streamed: first delta"),
    ("stream_total", "streamed: end of stream"),
)


def _informational_targets(checks: list[dict[str, Any]]) -> str:
    """Targets with their bootstrap CIs; those not in the summary marked informational."""
    return _targets_with_ci(
        checks, informational="informational", spread_header="95% CI (bootstrap)"
    )


def observability_section(path: Path, result: dict[str, Any]) -> str:
    """The request log line, metrics and tracing against the same turn without them."""
    p = result["parameters"]
    a = result["analysis"]
    rows = [[label, *row] for key, label in _OBSERVABILITY_MEASURES for row in _added_rows(a[key])]
    middleware = a["middleware_us"]
    middleware_rows = [
        [
            name,
            s["n"],
            _ms(s["p50"]),
            _ms(s["p99"]),
            _signed(s.get("added_p50")) if name != "none" else "baseline",
            _signed(s.get("added_p99")) if name != "none" else "baseline",
        ]
        for name, s in middleware.items()
    ]
    scrape = a["scrape"]
    expose = scrape["exposition_us"]
    get = scrape["get_metrics_ms"]
    lines = a["log_lines"]
    otlp = a["otlp"]
    logged = ", ".join(f"{k}: {v}" for k, v in lines["http_request_by_route"].items()) or "-"
    expected = ", ".join(f"{k}: {v}" for k, v in p["expected_http_request_lines"].items())
    return "\n\n".join(
        [
            "## (h) Observability: added per chat turn (`bench/observability.py`)",
            _header(result, path),
            f"Three apps built with `create_app` in one process, the same but for "
            f"observability, each in front of the same fast OpenAI-compatible upstream "
            f"({p['chunks']} chunks per answer): `bare` (the baseline: "
            f"`ObservabilityMiddleware` removed before the first request, so no request "
            f"log line, HTTP metrics, ids or spans; the chat service's own turn log line and "
            f"turn/token metrics remain, in all three), `observed` (as shipped: the "
            f"middleware, tracing off) and `traced` (every trace exported over OTLP/HTTP to "
            f"a local receiver in another process, `bench/otlp_sink.py`). Logging as "
            f"`alice serve` at info level with `ALICE_LOG_FORMAT=json` and `ALICE_LOG_FILE`: "
            f"NDJSON to a file and to stderr (/dev/null for the run). Each turn is "
            f"`POST /api/chat` with a fresh short question (new conversation, SQLite with "
            f"fsync), max_tokens {p['max_tokens']}, once whole and once streamed, the app "
            f"called as an ASGI server calls it (so the first `delta` event is timed as it "
            f"is sent, and no client library logs through the logging being measured). "
            f"{p['warmup']} uncounted warm-up turns, "
            f"then {p['turns']} per target and kind, turn by turn, the targets in a "
            f"rotating order. The traced app's export thread runs in the same process, so "
            f"a little of its cost lands on the other two targets. "
            f"{_settings_of(p)}".rstrip(),
            "Times in ms; added = target minus `bare` (bootstrap 95% CI):",
            _table(["measure", "target", "n", "p50", "p99", "added p50", "added p99"], rows),
            "The middleware alone around a trivial ASGI app (the request log line to the "
            "same file and stderr, the metrics, and a span exported to the same receiver for "
            "`middleware+tracing`; for `middleware, line not written` the standard library "
            "logger drops the line after structlog's processors, which shows what writing "
            "it costs), one awaited call at a time, in µs:",
            _table(["variant", "n", "p50", "p99", "added p50", "added p99"], middleware_rows),
            f"One `/metrics` scrape of `observed` after its {scrape['requests_counted_before']} "
            f"requests ({scrape['exposition_bytes']} bytes, {scrape['exposition_samples']} "
            f"samples): the exposition alone p50 {_ms(expose['p50'])} µs, p99 "
            f"{_ms(expose['p99'])} µs; a whole `GET /metrics` through the app p50 "
            f"{_ms(get['p50'])} ms, p99 {_ms(get['p99'])} ms (n = {get['n']}).",
            f"Checks of the run: `http.request` lines in the NDJSON log: {logged} (expected "
            f"{expected}; {lines['invalid_lines']} lines that were not JSON). The receiver "
            f"got {otlp['spans_from_turns']} spans in {otlp['exports_from_turns']} exports "
            f"from {otlp['traced_chat_requests']} traced chat requests "
            f"({otlp['spans_per_traced_request']} per request), and "
            f"{otlp['spans_from_middleware_timing']} from the middleware timing.",
            _informational_targets(result["targets_met"]),
        ]
    )


#: Benchmark name → its section renderer, in document order.
def readiness_section(path: Path, result: dict[str, Any]) -> str:
    """(i) The readiness auditor on a generated 250,000-line repository."""
    p, a = result["parameters"], result["analysis"]
    rows = []
    for name in ("parse", "audit", "audit-own"):
        item = a[name]
        rows.append(
            [
                name,
                _seconds(item["wall_s"]["p50"]),
                _seconds(item["wall_s"]["max"]),
                f"{item['peak_tree_mb']['max']:.0f}",
                f"{item['time_vs_parse']:.2f}x" if "time_vs_parse" in item else "1.00x (baseline)",
            ]
        )
    analysers = result.get("report_analysers") or {}
    return "\n\n".join(
        [
            "## (i) Readiness auditor: a 250,000-line repository (`bench/readiness.py`)",
            _header(result, path),
            f"Generated repository: {p['generated']['python_lines']:,} lines of Python in "
            f"{p['generated']['modules']} modules (seed {p['seed']}), {p['rounds']} rounds, "
            "the order rotating, each target a fresh process. `parse` is the baseline: one "
            "process reading and `ast.parse`-ing every file, nothing else. `audit` is "
            "`readiness REPO --format json` as shipped; `audit-own` adds `--no-analysers`. "
            "Memory is the peak RSS of the whole process tree (parse workers and analysers "
            "included), sampled every 20 ms.",
            _table(
                [
                    "target",
                    "wall p50 (s)",
                    "wall max (s)",
                    "peak tree RSS max (MB)",
                    "time vs parse",
                ],
                rows,
            ),
            "External analysers in the `audit` runs: "
            + ("; ".join(f"{k}: {v}" for k, v in sorted(analysers.items())) or "-"),
            _targets(result["targets_met"]),
        ]
    )


def redis_failover_section(path: Path, result: dict[str, Any]) -> str:
    """(k) Redis Sentinel failover: Alice's Redis client against redis-py's own."""
    p, scenarios, steady = result["parameters"], result["scenarios"], result["steady"]
    rows = []
    for scenario, data in scenarios.items():
        failover = [r["failover_s"] for r in data["rounds"]]
        for target in ("alice", "stock"):
            first = [r["first_burst_s"][target] * 1000 for r in data["rounds"]]
            rows.append(
                [
                    scenario,
                    target,
                    f"{data['failed_after_total'][target]} of {data['ops_after_total']}",
                    f"{min(first):.0f} .. {max(first):.0f}",
                    f"{min(failover):.2f} .. {max(failover):.2f}",
                ]
            )
    ms, added = steady["ms"], steady["added_ms"]["alice"]
    steady_rows = [[t, f"{ms[t]['p50']:.3f}", f"{ms[t]['p99']:.3f}"] for t in ms]
    steady_rows.append(
        ["**added** (alice - stock)", _fine_ci(added, "p50"), _fine_ci(added, "p99")]
    )
    header = [
        "failover",
        "client",
        "failed after the failover",
        "first burst took (ms)",
        "failover took (s)",
    ]
    return "\n\n".join(
        [
            "## (k) Redis Sentinel failover (`bench/redis_failover.py`)",
            _header(result, path),
            f"Per round a throwaway master, replica and sentinel (real `redis-server`). "
            f"`alice` = the client Alice's cache and rate limiter get with "
            f"`ALICE_REDIS_SENTINELS`; `stock` = redis-py's `Sentinel.master_for` with the same "
            f"timeouts and one quick retry (the baseline). Each first holds {p['pool']} pooled "
            f"connections; once the failover is complete (the sentinel names the replica, "
            f"which answers as master) each sends {p['pool']} concurrent `INCR` twice. "
            f"`lost`: the master shuts down; `hung`: its process is stopped (SIGSTOP), its "
            f"sockets left open; `coordinated`: `SENTINEL FAILOVER` demotes it. "
            f"{p['rounds']} rounds of each. A failed operation is a cache that skips Redis "
            f"for 5 s, or a rate limit taken from a local bucket.",
            _table(header, rows),
            f"Steady state, {p['steady_ops']} `INCR` per client one at a time, alternating (ms):",
            _table(["client", "p50", "p99"], steady_rows),
            _targets_with_ci(result["targets_met"]),
        ]
    )


def _fine_ci(added: dict[str, Any], pct: str) -> str:
    low, high = added["ci95"][pct]
    return f"{added[pct]:+.3f} ({low:+.3f} .. {high:+.3f})"


SECTIONS: dict[str, Callable[[Path, dict[str, Any]], str]] = {
    "overload": overload_section,
    "killswitch": killswitch_section,
    "cache_hit": cache_hit_section,
    "auth": auth_section,
    "privacy": privacy_section,
    "observability": observability_section,
    "readiness": readiness_section,
    "voice": voice_section,
    "redis_failover": redis_failover_section,
}
