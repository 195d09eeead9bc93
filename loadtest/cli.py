"""``python -m loadtest <scenario> [options]``: run one scenario, or ``all`` of them.

Exit status: 0 when every gating check passed, 1 when one failed, 2 when a run could
not be carried out (Alice or Locust did not start, a fault could not be injected) or
the arguments were wrong.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.alice_server import env_pairs
from bench.machine import REPO_ROOT
from loadtest.plan import SCENARIOS, ScenarioName, build_plan, parse_duration
from loadtest.report import write_summary
from loadtest.runner import RunOptions, RunResult, run_scenario
from loadtest.thresholds import DEFAULT_PATH, load_thresholds

__all__ = ["main"]

DEFAULT_OUT = REPO_ROOT / "loadtest" / "reports"
_EXIT = {"pass": 0, "fail": 1, "error": 2}


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected rates like 1,3,6,10,2, got {text!r}") from None
    if not rates or any(r < 0 for r in rates):
        raise argparse.ArgumentTypeError("rates must be numbers >= 0")
    return rates


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fraction(text: str) -> float | None:
    if text.lower() in ("off", "none", "no"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction or 'off', got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Load, soak and chaos drills against a real alice serve, with "
        "pass/fail reports (targets in loadtest/thresholds.toml; see docs/loadtest.md).",
    )
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument(
        "--smoke", action="store_true", help="the short version (about a minute, lower rates)"
    )
    parser.add_argument(
        "--duration",
        type=_duration,
        help="total length: 900, 90s, 15m, 2h (ramp: split over its steps)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="requests/s of a soak or chaos run (soak default: the sized rate)",
    )
    parser.add_argument("--stages", type=_rates, help="ramp steps in requests/s, e.g. 1,3,6,10,2")
    parser.add_argument(
        "--brownout-at",
        type=_fraction,
        default=0.5,
        help="soak: start of the brownout drill as a fraction of the run "
        "(default 0.5; 'off' for none)",
    )
    parser.add_argument(
        "--faults", type=int, help="chaos: how many times to inject the fault (default 3, smoke 1)"
    )
    parser.add_argument(
        "--pg-restart-mode",
        choices=["immediate", "fast"],
        default="immediate",
        help="chaos-postgres: pg_ctl restart mode (default immediate: a crash)",
    )
    parser.add_argument("--seed", type=int, default=1, help="arrivals and questions (default 1)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="reports folder (default loadtest/reports)"
    )
    parser.add_argument(
        "--thresholds",
        type=Path,
        default=DEFAULT_PATH,
        help="thresholds file (default loadtest/thresholds.toml)",
    )
    parser.add_argument(
        "--model-path",
        type=Path,
        help="GGUF to serve (default: the bundled model, assembled once into .cache/loadtest)",
    )
    parser.add_argument(
        "--alice-env",
        action="append",
        default=[],
        metavar="ALICE_X=VALUE",
        help="an extra Alice setting (repeatable)",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep Alice's data folder (database and key files) in the report",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run, return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        thresholds = load_thresholds(args.thresholds)
        alice_env = env_pairs(tuple(args.alice_env))
        scenarios: tuple[ScenarioName, ...] = (
            SCENARIOS if args.scenario == "all" else (args.scenario,)
        )
        plans = [
            build_plan(
                name,
                smoke=args.smoke,
                sized_rps=thresholds.sized_rps,
                # With `all`, a duration is the soak's (the others keep their shape).
                duration_s=args.duration if args.scenario != "all" or name == "soak" else None,
                rate_rps=args.rate,
                ramp_rates=args.stages,
                brownout_at=args.brownout_at,
                faults=args.faults,
                seed=args.seed,
                pg_restart_mode=args.pg_restart_mode,
            )
            for name in scenarios
        ]
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    out_dir: Path = args.out
    if args.scenario == "all":
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out_dir = out_dir / f"{stamp}-all{'-smoke' if args.smoke else ''}"
    out_dir.mkdir(parents=True, exist_ok=True)
    options = RunOptions(
        out_dir=out_dir,
        thresholds=thresholds,
        model_path=args.model_path,
        alice_env=alice_env,
        keep_data=args.keep_data,
    )
    results: list[RunResult] = [run_scenario(plan, options) for plan in plans]
    if args.scenario == "all":
        summary = write_summary(out_dir, [(r.scenario, r.verdict, r.report_dir) for r in results])
        print(f"summary: {summary}")
    for result in results:
        print(f"{result.scenario}: {result.verdict.upper()}  {result.report_dir / 'report.md'}")
    return max(_EXIT[r.verdict] for r in results)
