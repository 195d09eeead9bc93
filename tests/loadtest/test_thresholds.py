"""The thresholds file: the committed one loads, a broken one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.thresholds import DEFAULT_PATH, load_thresholds


def test_the_committed_thresholds_load() -> None:
    thresholds = load_thresholds(DEFAULT_PATH)
    smoke = thresholds.for_smoke()

    assert set(thresholds.max_recovery_s) == {"killswitch", "upstream", "postgres"}
    assert smoke.stage_settle_s == thresholds.smoke_stage_settle_s
    assert smoke.memory_warmup_s == thresholds.smoke_memory_warmup_s
    assert smoke.p95_s == thresholds.p95_s  # targets stay; only the periods shrink


def test_a_missing_or_wrong_value_is_refused(tmp_path: Path) -> None:
    text = DEFAULT_PATH.read_text()
    missing = tmp_path / "missing.toml"
    missing.write_text(text.replace("p99_s = ", "p99_typo = ", 1))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        text.replace("overload_refusals_are_healthy = true", "overload_refusals_are_healthy = 1")
    )

    with pytest.raises(ValueError, match=r"\[load\] p99_s is missing"):
        load_thresholds(missing)
    with pytest.raises(ValueError, match="true or false"):
        load_thresholds(wrong)
