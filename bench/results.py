"""Saving and finding benchmark results (``bench/results/<bench>-<UTC timestamp>.json``)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_DIR", "latest_result", "save_result", "utc_now"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def utc_now() -> datetime:
    """The current time in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def save_result(bench: str, started: datetime, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as ``<bench>-<started, UTC>.json`` atomically; return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{bench}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    os.replace(partial, path)
    return path


def latest_result(bench: str, *, prefer_full: bool = True) -> tuple[Path, dict[str, Any]] | None:
    """The newest result of ``bench``; a full run over a newer ``--quick`` one if asked."""
    paths = sorted(RESULTS_DIR.glob(f"{bench}-*.json"), reverse=True)
    loaded = [(p, json.loads(p.read_text())) for p in paths]
    if prefer_full:
        for path, data in loaded:
            if not data.get("parameters", {}).get("quick", False):
                return path, data
    return loaded[0] if loaded else None
