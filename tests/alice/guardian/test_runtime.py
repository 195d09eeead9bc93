"""The Guardian's actions, driven by real policy decisions."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from alice.guardian.policy import GuardianPolicy, Thresholds
from alice.guardian.runtime import Guardian, ModeEffects, prune_rotated_logs
from alice.guardian.sampler import Sample
from alice.llm.providers.offline import OfflineProvider
from alice.llm.router.router import ModelRouter, Route


def _sample(now: float, disk_free: int) -> Sample:
    return Sample(
        taken_at=now,
        ram_pct=40.0,
        cpu_pct=10.0,
        disk_free_bytes=disk_free,
        rss_bytes=100_000_000,
        loop_lag_s=0.0,
        gpu=None,
    )


def test_low_disk_rotates_the_log_and_prunes_old_copies(tmp_path: Path) -> None:
    log_file = tmp_path / "alice.log"
    handler = RotatingFileHandler(log_file, maxBytes=10_000, backupCount=3)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        for i in range(3):
            (tmp_path / f"alice.log.{i + 1}").write_text("old\n")
        log_file.write_text("current\n")
        clock = [0.0]
        router = ModelRouter(
            providers={"main": OfflineProvider()}, tiers={"primary": [Route("main", "offline")]}
        )
        guardian = Guardian(
            policy=GuardianPolicy(Thresholds()),
            sampler=None,
            router=router,
            effects={"ok": ModeEffects()},
            log_file=log_file,
            clock=lambda: clock[0],
        )
        low = 1024**3  # 1 GiB free: below the 2 GiB brownout threshold
        decision = GuardianPolicy(Thresholds()).step(_sample(0, low), 0)
        assert decision.disk_low
        guardian.apply(decision)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["alice.log"]
        (tmp_path / "alice.log.1").write_text("rotated again\n")
        clock[0] = 10.0
        guardian.apply(decision)  # within a minute: nothing more is deleted
        assert (tmp_path / "alice.log.1").exists()
    finally:
        root.removeHandler(handler)
        handler.close()


def test_pruning_without_a_log_file_does_nothing() -> None:
    assert prune_rotated_logs(None) == 0
