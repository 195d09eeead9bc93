"""The point-in-time recovery drill, on throwaway clusters from the installed binaries."""

from __future__ import annotations

from alice.store.pitr import run_pitr_drill


async def test_recovery_to_a_time_brings_back_what_came_before_it_and_nothing_after() -> None:
    report = await run_pitr_drill(rows=15)
    assert report.target_time is not None
    # Rows from before the base backup and from the WAL replayed after it are back...
    assert report.written_before_backup == 15 and report.written_after_backup == 15
    assert report.recovered == 30
    # ... and none written after the target time, though they were archived too.
    assert report.written_after_target == 15
    assert report.recovered_after_target == 0
    assert report.archived_segments >= 1
    assert report.passed
    assert any(step.startswith("Alice schema") for step in report.steps)
