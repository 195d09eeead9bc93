"""``alice`` commands run as a user runs them: a separate process, only the given settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_alice(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``python -m alice ARGS`` with ``env`` as its only ALICE_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    return subprocess.run(
        [sys.executable, "-m", "alice", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
