"""Writes ``docs/performance.md`` from the newest result of each benchmark.

The tables are regenerated on every run; the text between the ``notes`` markers is
written by people (analysis, caveats) and kept as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.machine import REPO_ROOT
from bench.results import latest_result

__all__ = ["DOC_PATH", "render", "write_report"]

DOC_PATH = REPO_ROOT / "docs" / "performance.md"
NOTES_BEGIN = "<!-- notes:begin (kept when the benchmarks rewrite this file) -->"
NOTES_END = "<!-- notes:end -->"
_DEFAULT_NOTES = "(No analysis written yet.)"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _with_ci(added: dict[str, Any], pct: str, *, bold: bool = False) -> str:
    value = _signed(added.get(pct))
    if bold:
        value = f"**{value}**"
    ci = (added.get("ci95") or {}).get(pct)
    return f"{value} ({ci[0]:+.1f} .. {ci[1]:+.1f})" if ci else value


def _machine_line(result: dict[str, Any]) -> str:
    m = result["machine"]
    load = result.get("system_cpu_during_run") or {}
    packages = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
    paths = ", ".join(m.get("git_dirty_paths", []))
    dirty = f"uncommitted changes to {paths}" if paths else "uncommitted changes"
    commit = (m.get("git_commit") or "?")[:10] + (f" (with {dirty})" if m.get("git_dirty") else "")
    other = load.get("other_cpus_avg")
    busy = f"; other processes kept {other} CPUs busy on average during the run" if other else ""
    return (
        f"{m['cpu_model']}, {m['cpu_count']} cores, {m['memory_gib']} GiB RAM, {m['os']} "
        f"(kernel {m['kernel']}), Python {m['python']}; {packages}; commit {commit}{busy}."
    )


def _header(result: dict[str, Any], path: Path) -> str:
    quick = (
        " **(quick run: smoke test only, not a result)**"
        if result["parameters"].get("quick")
        else ""
    )
    return "\n".join(
        [
            f"- Command: `{result['command']}`{quick}",
            f"- Date: {result['started_at']} (took {result['duration_s']} s)",
            f"- Machine: {_machine_line(result)}",
            f"- Result file: [`{path.relative_to(REPO_ROOT)}`](../{path.relative_to(REPO_ROOT)})",
        ]
    )


def _alice_settings(parameters: dict[str, Any]) -> str:
    """The extra ``ALICE_*`` settings the Alice server ran with, as a sentence (or "")."""
    settings = parameters.get("alice_settings")
    if settings is None:
        settings = dict(a.partition("=")[::2] for a in parameters.get("alice_env") or ())
    if not settings:
        return ""
    listed = ", ".join(f"`{k}={v}`" for k, v in settings.items())
    return f"Alice ran with these extra settings: {listed}."


def _spread(check: dict[str, Any]) -> str:
    if "ci95" in check:
        low, high = check["ci95"]
        return f"{low:+.2f} .. {high:+.2f}"
    rounds = check.get("per_round") or []
    return f"{min(rounds):.2f} .. {max(rounds):.2f} (per round)" if rounds else "-"


def _verdict(check: dict[str, Any]) -> str:
    """Pass/fail on the measured value, and whether the noise could flip it."""
    result = "**pass**" if check["passed"] else "**FAIL**"
    if "ci95" not in check:
        return result
    low, high = check["ci95"]
    limit = float(check["limit"].split()[-1])
    if high <= limit:
        return result + " (whole 95% CI within the limit)"
    if low > limit:
        return result + " (whole 95% CI beyond the limit)"
    return result + " (95% CI straddles the limit: within noise)"


def _targets(
    checks: list[dict[str, Any]],
    *,
    informational: str = "under load, informational",
    spread_header: str = "95% CI (bootstrap) or range",
) -> str:
    rows = [
        [
            c["name"] + ("" if c.get("headline", True) else f" ({informational})"),
            f"{c['value']} {c['unit']}",
            _spread(c),
            f"{c['limit']} {c['unit']}",
            _verdict(c),
        ]
        for c in checks
    ]
    return _table(["target", "measured", spread_header, "limit", "result"], rows)


def _ttft_section(path: Path, result: dict[str, Any]) -> str:
    p = result["parameters"]
    a = result["analysis"]
    ttft_rows = [
        [name, s["n"], _ms(s["p50"]), _ms(s["p95"]), _ms(s["p99"]), _ms(s["mean"])]
        for name, s in (("alice", a["alice_ttft_ms"]), ("direct", a["direct_ttft_ms"]))
    ]
    added = a["added_ttft_ms"]
    paired = a["paired_difference_ms"]
    order = a.get("paired_difference_by_order_ms", {})
    ttft_rows.append(
        [
            "**added** (alice - direct)",
            "",
            f"**{_signed(added['p50'])}**",
            _signed(added["p95"]),
            f"**{_signed(added['p99'])}**",
            "",
        ]
    )
    decode_rows = [
        [
            name.replace("_", " "),
            d["pairs"],
            d["tokens"],
            _ms(d["alice_tokens_per_s"]),
            _ms(d["direct_tokens_per_s"]),
            f"{d['alice_percent_of_direct']} %" if d["alice_percent_of_direct"] else "-",
        ]
        for name, d in a["decode"].items()
    ]
    question_rows = [
        [
            f"`{key}` {q['text']}",
            ", ".join(map(str, q["prompt_tokens"])),
            ", ".join(map(str, q["completion_tokens"])),
            _ms(q["alice_ttft_ms"].get("p50")),
            _ms(q["direct_ttft_ms"].get("p50")),
            _ms(q["alice_tokens_per_s"]),
            _ms(q["direct_tokens_per_s"]),
            q["same_text"],
        ]
        for key, q in a["per_question"].items()
    ]
    return "\n\n".join(
        [
            "## (a) Embedded model: streaming TTFT and decode rate (`bench/ttft.py`)",
            _header(result, path),
            f"Alice (`alice serve`, bundled Gemma 3 270M Q4_K_M, `POST /api/chat` streamed) "
            f"against `llama_cpp.Llama(...).create_completion(stream=True)` in the benchmark "
            f"process, same GGUF file, same prompt text (Alice's few-shot prompt and default "
            f"system prompt), temperature {p['temperature']}, max_tokens {p['max_tokens']}, "
            f"llama.cpp threads {p['llama_n_threads']} (llama-cpp-python's default, both). "
            f"{p['rounds']} rounds x {len(p['questions'])} questions after "
            f"{p['warmup_rounds']} uncounted warm-up round(s); within a round each question "
            f"goes to both targets back to back, the order alternating, never concurrently. "
            f"{_alice_settings(p)}".rstrip(),
            "TTFT in ms (Alice: request sent → first `delta` event at the client, a minimal "
            "HTTP/1.1 client on a kept-alive socket, `bench/rawhttp.py`; direct: call → first "
            "chunk with text):",
            _table(["target", "n", "p50", "p95", "p99", "mean"], ttft_rows),
            f"Paired per-question difference (alice - direct, same round): median "
            f"{_signed(paired.get('p50'))} ms, p95 {_signed(paired.get('p95'))} ms; median "
            f"{_signed(order.get('alice_first'))} ms when Alice went first, "
            f"{_signed(order.get('direct_first'))} ms when the direct model did (whichever "
            f"runs second finds the CPU caches filled by the other, so the order alternates). "
            f"Answers that differed in text between the targets: {a['texts_differing']}.",
            f"Decode rate in tokens/s (completion tokens ÷ time from first to last text chunk; "
            f"'long answers' are those of at least {p['min_tokens_for_rate']} tokens, which "
            f"the target is judged on):",
            _table(
                ["answers", "pairs", "tokens", "alice", "direct", "alice % of direct"], decode_rows
            ),
            "Per question (p50 TTFT in ms, tokens/s over the answers both targets gave alike):",
            _table(
                [
                    "question",
                    "prompt tokens",
                    "completion tokens",
                    "alice TTFT",
                    "direct TTFT",
                    "alice tok/s",
                    "direct tok/s",
                    "same text",
                ],
                question_rows,
            ),
            _targets(result["targets_met"]),
        ]
    )


_SCENARIO_NAMES = {
    "stream-c1": "streamed, concurrency 1",
    "whole-c1": "whole (non-streamed), concurrency 1",
    "stream-c16": "streamed, concurrency 16",
    "whole-c16": "whole (non-streamed), concurrency 16",
}


_ADMISSION_NOTE = (
    " (Alice's router defaults, 3 concurrent calls per backend and a queue of 16, would "
    "answer part of the concurrency-16 load with 429; the benchmark raises them so that it "
    "measures the gateway, not its admission limits.)"
)


def _gateway_section(path: Path, result: dict[str, Any]) -> str:
    p = result["parameters"]
    litellm = (result.get("software") or {}).get("litellm")
    rows: list[list[Any]] = []
    added_rows: list[list[Any]] = []
    for key, scenario in result["scenarios"].items():
        for name, t in scenario["targets"].items():
            cpu = ", ".join(f"{k} {v:.2f}" for k, v in t["server_cpu_ms_per_request"].items())
            rows.append(
                [
                    _SCENARIO_NAMES.get(key, key),
                    name,
                    t["requests_ok"],
                    _ms(t["ttft_ms"].get("p50")),
                    _ms(t["ttft_ms"].get("p95")),
                    _ms(t["ttft_ms"].get("p99")),
                    f"{t['requests_per_s']:.1f}",
                    cpu,
                    f"{t['client_cpu_ms_per_request']:.2f} "
                    f"({t['client_cpu_share_of_one_core']:.0%})",
                    t["errors"],
                ]
            )
        c = scenario["comparison"]
        alice = c.get("alice_added_ttft_ms") or {}
        other = c.get("litellm_added_ttft_ms") or {}
        added_rows.append(
            [
                _SCENARIO_NAMES.get(key, key),
                _with_ci(alice, "p50", bold=True),
                _with_ci(alice, "p99", bold=True),
                _with_ci(other, "p50"),
                _with_ci(other, "p99"),
                f"{c['alice_over_litellm_rps']:.2f}x" if "alice_over_litellm_rps" in c else "-",
                ", ".join(f"{x:+.1f}" for x in alice.get("per_round_p50", [])),
            ]
        )
    direct_c16 = result["scenarios"].get("stream-c16", {}).get("targets", {}).get("direct", {})
    generator = (
        f"Load generator: {p['load_generator']}. Its ceiling in this run: it drove the "
        f"upstream directly at {direct_c16.get('requests_per_s', 0):.0f} streamed requests/s "
        f"at concurrency 16 using {direct_c16.get('client_cpu_share_of_one_core', 0):.0%} of "
        f"one core, far above what the gateways reached, so it was not their limit."
        if direct_c16
        else ""
    )
    notes = " ".join(result.get("notes", []))
    return "\n\n".join(
        [
            "## (b) Gateway overhead (`bench/gateway.py`, `bench/upstream.py`)",
            _header(result, path),
            f"Targets: `direct` = the fake upstream (`bench/upstream.py`: raw asyncio, "
            f"{p['chunks']} content chunks sent at once, then a usage chunk and `[DONE]`); "
            f"`alice` = `alice serve` with `ALICE_PROVIDER=openai` in front of it, called on "
            f"`POST /v1/chat/completions` (SQLite persistence on, fsync per commit); `litellm` "
            f"= LiteLLM {litellm or '(not installed)'} proxy, one worker, routing to the same "
            f"upstream. Per scenario: an uncounted warm-up batch per target "
            f"({p['warmup_c1']} requests at c=1, {p['warmup_c16']} at c=16), then "
            f"{p['rounds']} rounds of {p['requests_c1']} (c=1) / {p['requests_c16']} (c=16) "
            f"requests per target, the target order rotating each round. "
            f"{_alice_settings(p)}{_ADMISSION_NOTE if 'alice_settings' in p else ''} "
            f"{notes}".rstrip(),
            "TTFT = streamed: request sent → first chunk with content; whole: the complete "
            "response. Times in ms. Server CPU is per request, from /proc (the gateway and "
            "the upstream it calls); client CPU is the load generator's.",
            _table(
                [
                    "scenario",
                    "target",
                    "requests",
                    "TTFT p50",
                    "p95",
                    "p99",
                    "req/s",
                    "server CPU ms/req",
                    "client CPU ms/req (share of a core)",
                    "errors",
                ],
                rows,
            ),
            "Added latency over `direct` (difference of the percentiles, ms, with its 95% "
            "bootstrap interval) and throughput:",
            _table(
                [
                    "scenario",
                    "Alice added p50",
                    "Alice added p99",
                    "LiteLLM added p50",
                    "LiteLLM added p99",
                    "Alice req/s / LiteLLM req/s",
                    "Alice added p50 per round",
                ],
                added_rows,
            ),
            generator,
            "Targets (the added-latency targets are judged at concurrency 1, where they measure "
            "per-request overhead; at 16 the figures include queueing on 2 shared cores):",
            _targets(result["targets_met"]),
        ]
    )


def _summary(sections: list[tuple[str, dict[str, Any]]]) -> str:
    rows = []
    for bench, result in sections:
        for c in result["targets_met"]:
            if not c.get("headline", True):
                continue
            rows.append(
                [
                    bench,
                    c["name"],
                    f"{c['value']} {c['unit']}",
                    _spread(c),
                    f"{c['limit']} {c['unit']}",
                    _verdict(c),
                ]
            )
    return _table(["benchmark", "target", "measured", "95% CI or range", "limit", "result"], rows)


def _kept_notes(path: Path) -> str:
    if not path.exists():
        return _DEFAULT_NOTES
    text = path.read_text()
    if NOTES_BEGIN in text and NOTES_END in text:
        return text.split(NOTES_BEGIN, 1)[1].split(NOTES_END, 1)[0].strip()
    return _DEFAULT_NOTES


def render(notes: str) -> str:
    """The whole document from the newest results and ``notes``."""
    from bench.report_sections import SECTIONS  # imports this module's helpers

    sections = {"ttft": _ttft_section, "gateway": _gateway_section, **SECTIONS}
    found: list[tuple[str, Path, dict[str, Any]]] = []
    for bench in sections:
        latest = latest_result(bench)
        if latest is not None:
            found.append((bench, *latest))
    parts = [
        "# Performance",
        "Generated by `python -m bench` (`make bench`) from the newest result in "
        "`bench/results/` of each benchmark; the notes at the end are written by hand. "
        "Every figure is measured against its baseline in the same run, the targets "
        "interleaved in rounds after uncounted warm-up requests, because the machine is "
        "noisy. Servers run as real processes on 127.0.0.1 with temporary data folders; "
        "Alice keeps persistence on (SQLite, `synchronous=full`).",
        "Re-run: `make bench`, or `.venv/bin/python -m bench "
        "[ttft|gateway|overload|killswitch|cache_hit|auth|privacy|observability|readiness|voice|"
        "redis_failover] "
        "[--quick]`. "
        "The LiteLLM target needs `bench/install_litellm.sh` once (its own `.venv-litellm`).",
    ]
    if found:
        parts += ["## Summary", _summary([(b, r) for b, _, r in found])]
    for bench, path, result in found:
        parts.append(sections[bench](path, result))
    parts += ["## Notes and analysis", NOTES_BEGIN, notes, NOTES_END]
    return "\n\n".join(part for part in parts if part) + "\n"


def write_report(path: Path = DOC_PATH) -> Path:
    """Regenerate ``path``, keeping its hand-written notes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(_kept_notes(path)))
    return path
