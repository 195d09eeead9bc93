"""Starting Alice as a real server process (``alice serve``) for a benchmark."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from bench.machine import REPO_ROOT
from bench.processes import HOST, ManagedProcess, base_env

__all__ = ["READY_PATH", "alice_executable", "alice_process", "env_pairs", "model_healthy"]

READY_PATH = "/ready"


def alice_executable() -> Path:
    """The ``alice`` console script next to this interpreter (the project's .venv)."""
    beside = Path(sys.executable).parent / "alice"
    return beside if beside.exists() else REPO_ROOT / ".venv" / "bin" / "alice"


def env_pairs(assignments: tuple[str, ...]) -> dict[str, str]:
    """``("ALICE_X=1", ...)`` as a mapping.

    Raises:
        ValueError: an assignment without ``=`` or for a variable not named ``ALICE_*``.
    """
    pairs: dict[str, str] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name.startswith("ALICE_"):
            raise ValueError(f"expected ALICE_NAME=value, got {assignment!r}")
        pairs[name] = value
    return pairs


def model_healthy(response: httpx.Response) -> bool:
    """Whether Alice's ``/ready`` answer says its primary model is loaded and serving.

    ``/ready`` answers 200 as soon as Alice can serve at all, also while the embedded
    model still loads (``degraded``: offline answers only); a benchmark must wait for
    ``healthy``, or it would time the fallback.
    """
    try:
        state = response.json()["components"]["model"]["state"]
    except (ValueError, KeyError, TypeError):
        return False
    return bool(state == "healthy")


def alice_process(
    *, port: int, data_dir: Path, log_dir: Path, settings: Mapping[str, str]
) -> ManagedProcess:
    """``alice serve`` on 127.0.0.1:``port`` with its data in ``data_dir``.

    Args:
        port: a free port.
        data_dir: a temporary ``ALICE_DATA_DIR`` (SQLite database, the model).
        log_dir: where the server's log goes.
        settings: further ``ALICE_*`` variables (provider, model, ...).

    Persistence stays on: SQLite with ``synchronous=full`` (Alice's default), so every
    commit is fsynced, as in production.
    """
    env = base_env(
        {
            "ALICE_DATA_DIR": str(data_dir),
            "ALICE_LOG_LEVEL": "warning",
            "ALICE_SQLITE_SYNCHRONOUS": "full",
            **settings,
        }
    )
    return ManagedProcess(
        "alice",
        [str(alice_executable()), "serve", "--host", HOST, "--port", str(port)],
        env=env,
        log_dir=log_dir,
        # Not the repository: a .env file there must not change the settings.
        cwd=data_dir,
    )
