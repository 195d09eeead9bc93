"""``python -m bench [BENCHMARK|all|report|install-litellm ...]``.

Benchmarks: ttft, gateway, overload, killswitch, cache_hit, auth, privacy, observability,
readiness, voice, redis_failover.

With no benchmark named, runs all of them. Each benchmark saves its result JSON in
``bench/results/`` and ``docs/performance.md`` is regenerated from the newest results
(``report`` only regenerates it).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from bench import resilience_cli
from bench.gateway import GatewayParams, run_gateway
from bench.litellm_proxy import install_litellm
from bench.machine import machine_info
from bench.report import write_report
from bench.results import save_result, utc_now
from bench.system import CpuMeter
from bench.ttft import TtftParams, run_ttft

BENCHES = ("ttft", "gateway", *resilience_cli.BENCHES)
COMMANDS = (*BENCHES, "all", "report", "install-litellm")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "commands",
        nargs="*",
        metavar="COMMAND",
        help=f"one or more of: {', '.join(COMMANDS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    parser.add_argument("--no-report", action="store_true", help="leave docs/performance.md")
    parser.add_argument(
        "--alice-env",
        action="append",
        default=[],
        metavar="ALICE_NAME=VALUE",
        help="an extra setting for the Alice server (repeatable; recorded in the results)",
    )
    ttft = parser.add_argument_group("ttft")
    ttft.add_argument("--ttft-rounds", type=int, help="measured rounds (7 questions each)")
    ttft.add_argument("--max-tokens", type=int, help="max_tokens of each answer")
    gateway = parser.add_argument_group("gateway")
    gateway.add_argument("--gateway-rounds", type=int, help="measured rounds per scenario")
    gateway.add_argument("--c1-requests", type=int, help="requests per target per round, c=1")
    gateway.add_argument("--c16-requests", type=int, help="requests per target per round, c=16")
    gateway.add_argument("--chunks", type=int, help="content chunks per streamed answer")
    gateway.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM target")
    resilience_cli.add_arguments(parser)
    return parser


def _ttft_params(args: argparse.Namespace) -> TtftParams:
    params = TtftParams(rounds=2, max_tokens=48, quick=True) if args.quick else TtftParams()
    overrides: dict[str, Any] = {"alice_env": tuple(args.alice_env)}
    if args.ttft_rounds:
        overrides["rounds"] = args.ttft_rounds
    if args.max_tokens:
        overrides["max_tokens"] = args.max_tokens
    return TtftParams(**{**params.__dict__, **overrides})


def _gateway_params(args: argparse.Namespace) -> GatewayParams:
    params = (
        GatewayParams(
            rounds=2, requests_c1=20, requests_c16=64, warmup_c1=10, warmup_c16=32, quick=True
        )
        if args.quick
        else GatewayParams()
    )
    overrides: dict[str, Any] = {
        "with_litellm": not args.no_litellm,
        "alice_env": tuple(args.alice_env),
    }
    if args.gateway_rounds:
        overrides["rounds"] = args.gateway_rounds
    if args.c1_requests:
        overrides["requests_c1"] = args.c1_requests
    if args.c16_requests:
        overrides["requests_c16"] = args.c16_requests
    if args.chunks:
        overrides["chunks"] = args.chunks
    return GatewayParams(**{**params.__dict__, **overrides})


def _run_bench(name: str, run: Callable[[], dict[str, Any]], command: str) -> None:
    print(f"== {name} ==", flush=True)
    started = utc_now()
    machine = machine_info()
    meter = CpuMeter()
    clock = time.monotonic()
    result = run()
    payload = {
        "bench": name,
        "command": command,
        "started_at": started.isoformat(),
        "finished_at": utc_now().isoformat(),
        "duration_s": round(time.monotonic() - clock, 1),
        "machine": machine,
        "system_cpu_during_run": meter.read(),
        **result,
    }
    path = save_result(name, started, payload)
    for check in result["targets_met"]:
        verdict = "PASS" if check["passed"] else "FAIL"
        print(f"  {verdict} {check['name']}: {check['value']} {check['unit']} ({check['limit']})")
    print(f"  saved {path}", flush=True)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl+C, so every server is stopped by its `with` block.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named on the command line."""
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [c for c in args.commands if c not in COMMANDS]
    if unknown:
        parser.error(f"unknown command {unknown[0]!r}; choose from {', '.join(COMMANDS)}")
    signal.signal(signal.SIGTERM, _interrupt)
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    commands = set(args.commands) or {"all"}
    if "install-litellm" in commands:
        status = install_litellm()
        if status != 0:
            return status
    runs: list[tuple[str, Callable[[], dict[str, Any]]]] = []
    if commands & {"all", "ttft"}:
        runs.append(("ttft", lambda: run_ttft(_ttft_params(args))))
    if commands & {"all", "gateway"}:
        runs.append(("gateway", lambda: run_gateway(_gateway_params(args))))
    runs += resilience_cli.runs(args, commands)
    try:
        for name, run in runs:
            _run_bench(name, run, command)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    if not args.no_report and (runs or "report" in commands):
        print(f"wrote {write_report()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
