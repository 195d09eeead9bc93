"""The Guardian at run time: sample, decide, act.

Every ``interval_s`` the sampler reads the machine (on a worker thread) and the policy
turns the reading into a mode. Acting on a decision:

- a transition is logged with its cause (``guardian.transition``);
- ``killswitch`` stops every backend through the router (an embedded model is killed and
  restarted in a fresh worker, a remote one is marked down until it recovers);
- low disk prunes rotated log files (the live log keeps going).

What each mode means for a chat turn is `ModeEffects`: the tier of fallback chains, caps
on ``max_tokens`` and history, and whether background work is shed (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

import structlog

from alice.guardian.policy import Decision, DrillAction, GuardianPolicy, Mode, Thresholds
from alice.guardian.sampler import LoopLagMonitor, Sample, Sampler
from alice.llm.router.router import ModelRouter

__all__ = ["Guardian", "ModeEffects", "prune_rotated_logs"]

log = structlog.get_logger("alice.guardian")


@dataclass(frozen=True, slots=True)
class ModeEffects:
    """What a Guardian mode does to chat turns."""

    tier: str = "primary"
    max_tokens_cap: int | None = None
    history_cap: int | None = None
    shed_background: bool = False


_DISK_ACTION_EVERY_S = 60.0


def prune_rotated_logs(log_file: Path | None) -> int:
    """Rotate ``log_file`` and delete its rotated copies (``alice.log.1``...).

    Returns:
        How many files were deleted.
    """
    if log_file is None:
        return 0
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RotatingFileHandler) and Path(handler.baseFilename) == log_file:
            handler.doRollover()
    removed = 0
    for rotated in log_file.parent.glob(log_file.name + ".*"):
        with contextlib.suppress(OSError):
            rotated.unlink()
            removed += 1
    return removed


class Guardian:
    """Runs the sampling loop and applies the policy's decisions."""

    def __init__(
        self,
        *,
        policy: GuardianPolicy,
        sampler: Sampler | None,
        router: ModelRouter,
        effects: Mapping[Mode, ModeEffects],
        interval_s: float = 2.0,
        log_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._sampler = sampler
        self._router = router
        self._effects = dict(effects)
        self._interval_s = interval_s
        self._log_file = log_file
        self._clock = clock
        self._lag = LoopLagMonitor()
        self._task: asyncio.Task[None] | None = None
        self._disk_action_at: float | None = None
        self.last_sample: Sample | None = None
        #: Mode changes so far, by the mode entered (for the metrics).
        self.transition_counts: dict[str, int] = {}

    @property
    def disk_low(self) -> bool:
        """Whether the disk sentinel says free disk is low (degraded or worse)."""
        decision = self._policy.last_decision
        return bool(decision and decision.disk_low)

    @property
    def mode(self) -> Mode:
        """The current mode."""
        return self._policy.mode

    @property
    def effects(self) -> ModeEffects:
        """What the current mode does to chat turns."""
        return self._effects.get(self.mode, ModeEffects())

    @property
    def thresholds(self) -> Thresholds:
        """The policy's thresholds."""
        return self._policy.thresholds

    async def start(self) -> None:
        """Start sampling (no-op without a sampler: mode changes come from drills only)."""
        if self._sampler is None or self._task is not None:
            return
        self._lag.start()
        self._task = asyncio.create_task(self._run(), name="alice-guardian")

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._lag.stop()
        if self._sampler is not None:
            self._sampler.close()

    async def _run(self) -> None:
        assert self._sampler is not None  # noqa: S101 - start() checks
        while True:
            now = self._clock()
            sample = await asyncio.to_thread(self._sampler.sample, now, self._lag.lag_s)
            self.last_sample = sample
            self.apply(self._policy.step(sample, now))
            await asyncio.sleep(self._interval_s)

    def drill(self, action: DrillAction) -> Decision:
        """Trigger a drill (``brownout``, ``emergency``, ``killswitch``) or ``clear`` it."""
        log.warning("guardian.drill", action=action)
        decision = self._policy.drill(action, self._clock())
        self.apply(decision)
        return decision

    def apply(self, decision: Decision) -> None:
        """Act on a decision."""
        if decision.transition is not None:
            t = decision.transition
            self.transition_counts[t.to_mode] = self.transition_counts.get(t.to_mode, 0) + 1
            log.warning(
                "guardian.transition", from_mode=t.from_mode, to_mode=t.to_mode, cause=t.cause
            )
        if decision.killswitch:
            for backend_id in self._router.backends:
                self._router.killswitch(backend_id, f"guardian killswitch: {decision.cause}")
        if not decision.disk_low:
            self._disk_action_at = None
            return
        now = self._clock()
        # On the way into low disk, then at most once a minute while it stays low.
        if self._disk_action_at is None or now - self._disk_action_at >= _DISK_ACTION_EVERY_S:
            self._disk_action_at = now
            removed = prune_rotated_logs(self._log_file)
            log.warning("guardian.disk_low", pruned_log_files=removed)

    def status(self) -> dict[str, Any]:
        """Mode, last sample, probes, thresholds, recent transitions and backends."""
        decision = self._policy.last_decision
        return {
            "mode": self.mode,
            "effects": asdict(self.effects),
            "sampling": self._task is not None,
            "interval_s": self._interval_s,
            "sample": asdict(self.last_sample) if self.last_sample else None,
            "probes": dict(decision.probes) if decision else {},
            "cause": decision.cause if decision else "",
            "thresholds": asdict(self._policy.thresholds),
            "transitions": [asdict(t) for t in self._policy.transitions],
            "backends": self._router.status(),
        }
