"""Options and runs of the benches after ttft and gateway (overload ... voice, redis_failover).

`bench.__main__` adds these options to its parser and the runs to its list.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bench.auth import AuthParams, run_auth
from bench.cache_hit import CacheHitParams, run_cache_hit
from bench.killswitch import KillswitchParams, run_killswitch
from bench.observability import ObservabilityParams, run_observability
from bench.overload import OverloadParams, run_overload
from bench.privacy import PrivacyParams, run_privacy
from bench.readiness import ReadinessParams, run_readiness
from bench.redis_failover import RedisFailoverParams, run_redis_failover
from bench.voice import VoiceParams, run_voice

__all__ = ["BENCHES", "add_arguments", "runs"]

BENCHES = (
    "overload",
    "killswitch",
    "cache_hit",
    "auth",
    "privacy",
    "observability",
    "readiness",
    "voice",
    "redis_failover",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of these benchmarks."""
    overload = parser.add_argument_group("overload")
    overload.add_argument("--overload-rounds", type=int, help="rounds of the four phases")
    overload.add_argument("--overload-s", type=float, help="seconds of each overload phase")
    overload.add_argument("--service-ms", type=float, help="the slow upstream's service time")
    killswitch = parser.add_argument_group("killswitch")
    killswitch.add_argument("--drills", type=int, help="killswitch drills (and baselines)")
    killswitch.add_argument("--window-s", type=float, help="seconds of each drill/baseline window")
    cache = parser.add_argument_group("cache_hit")
    cache.add_argument(
        "--cache-questions", type=int, help="questions first asked whole (and as many streamed)"
    )
    cache.add_argument("--cache-hits", type=int, help="hits per question")
    voice = parser.add_argument_group("voice")
    voice.add_argument("--voice-rounds", type=int, help="rounds over the clip set")


def _with(params: Any, overrides: dict[str, Any]) -> Any:
    given = {k: v for k, v in overrides.items() if v is not None}
    return type(params)(**{**params.__dict__, **given})


def _overload(args: argparse.Namespace) -> OverloadParams:
    params = (
        OverloadParams(rounds=1, unloaded_s=5.0, overload_s=8.0, warmup_s=2.0, quick=True)
        if args.quick
        else OverloadParams()
    )
    result: OverloadParams = _with(
        params,
        {
            "alice_env": tuple(args.alice_env),
            "rounds": args.overload_rounds,
            "overload_s": args.overload_s,
            "service_ms": args.service_ms,
        },
    )
    return result


def _killswitch(args: argparse.Namespace) -> KillswitchParams:
    params = (
        KillswitchParams(drills=2, window_s=12.0, quick=True) if args.quick else KillswitchParams()
    )
    result: KillswitchParams = _with(
        params,
        {"alice_env": tuple(args.alice_env), "drills": args.drills, "window_s": args.window_s},
    )
    return result


def _cache_hit(args: argparse.Namespace) -> CacheHitParams:
    params = (
        CacheHitParams(
            questions_per_mode=4, hits_per_question=8, memory_gets=2000, redis_gets=500, quick=True
        )
        if args.quick
        else CacheHitParams()
    )
    result: CacheHitParams = _with(
        params,
        {
            "alice_env": tuple(args.alice_env),
            "questions_per_mode": args.cache_questions,
            "hits_per_question": args.cache_hits,
        },
    )
    return result


def _auth(args: argparse.Namespace) -> AuthParams:
    params = (
        AuthParams(rounds=2, requests_per_round=100, warmup=50, inprocess_calls=500, quick=True)
        if args.quick
        else AuthParams()
    )
    result: AuthParams = _with(params, {"alice_env": tuple(args.alice_env)})
    return result


def _privacy(args: argparse.Namespace) -> PrivacyParams:
    params = (
        PrivacyParams(
            rounds=2,
            turns_per_round=10,
            warmup=10,
            turns_in_process=40,
            inprocess_calls=200,
            quick=True,
        )
        if args.quick
        else PrivacyParams()
    )
    result: PrivacyParams = _with(params, {"alice_env": tuple(args.alice_env)})
    return result


def _observability(args: argparse.Namespace) -> ObservabilityParams:
    params = (
        ObservabilityParams(
            turns=40, warmup=10, report_every=20, scrapes=50, middleware_calls=2000, quick=True
        )
        if args.quick
        else ObservabilityParams()
    )
    result: ObservabilityParams = _with(params, {"alice_env": tuple(args.alice_env)})
    return result


def _voice(args: argparse.Namespace) -> VoiceParams:
    params = (
        VoiceParams(rounds=1, clips=3, warmup_clips=1, quick=True) if args.quick else VoiceParams()
    )
    result: VoiceParams = _with(
        params, {"alice_env": tuple(args.alice_env), "rounds": args.voice_rounds}
    )
    return result


def runs(
    args: argparse.Namespace, commands: set[str]
) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """The benchmarks of this module that ``commands`` (or ``all``) name, in order."""
    chosen: list[tuple[str, Callable[[], dict[str, Any]]]] = []
    if commands & {"all", "overload"}:
        chosen.append(("overload", lambda: run_overload(_overload(args))))
    if commands & {"all", "killswitch"}:
        chosen.append(("killswitch", lambda: run_killswitch(_killswitch(args))))
    if commands & {"all", "cache_hit"}:
        chosen.append(("cache_hit", lambda: run_cache_hit(_cache_hit(args))))
    if commands & {"all", "auth"}:
        chosen.append(("auth", lambda: run_auth(_auth(args))))
    if commands & {"all", "privacy"}:
        chosen.append(("privacy", lambda: run_privacy(_privacy(args))))
    if commands & {"all", "observability"}:
        chosen.append(("observability", lambda: run_observability(_observability(args))))
    if commands & {"all", "readiness"}:
        params = ReadinessParams(lines=50_000, rounds=1, quick=True) if args.quick else None
        chosen.append(("readiness", lambda: run_readiness(params or ReadinessParams())))
    if commands & {"all", "voice"}:
        chosen.append(("voice", lambda: run_voice(_voice(args))))
    if commands & {"all", "redis_failover"}:
        failover = RedisFailoverParams(rounds=1, steady_ops=200, quick=True) if args.quick else None
        chosen.append(
            ("redis_failover", lambda: run_redis_failover(failover or RedisFailoverParams()))
        )
    return chosen
