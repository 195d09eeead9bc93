"""Starting Alice as a real server process (``alice serve``) for a benchmark."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from alice.security.keys import generate_key
from bench.machine import REPO_ROOT
from bench.processes import HOST, ManagedProcess, base_env, free_port, loopback_url

__all__ = [
    "ALICE_AUTH_HEADERS",
    "READY_PATH",
    "EmbeddedAlice",
    "alice_client",
    "alice_executable",
    "alice_process",
    "embedded_alice",
    "env_pairs",
    "model_healthy",
]

READY_PATH = "/ready"
# Every benchmarked Alice runs with authentication on, as in production: its first admin
# key is this one (ALICE_BOOTSTRAP_ADMIN_KEY), and every benchmark client sends it.
BENCH_KEY = generate_key()
ALICE_AUTH_HEADERS = {"authorization": f"Bearer {BENCH_KEY}"}


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
    commit is fsynced, as in production. Authentication is on (clients send
    `ALICE_AUTH_HEADERS`); rate limits are off unless ``settings`` set them, since a
    benchmark's load is far over any one key's limit on purpose.
    """
    env = base_env(
        {
            "ALICE_DATA_DIR": str(data_dir),
            "ALICE_LOG_LEVEL": "warning",
            "ALICE_SQLITE_SYNCHRONOUS": "full",
            "ALICE_AUTH": "keys",
            "ALICE_BOOTSTRAP_ADMIN_KEY": BENCH_KEY,
            "ALICE_RATE_LIMIT": "off",
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


def alice_client(base_url: str) -> httpx.Client:
    """A keep-alive client for one benchmarked Alice, sending the benchmark's key."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(10.0, read=300.0),
        trust_env=False,
        headers=ALICE_AUTH_HEADERS,
    )


@dataclass(frozen=True)
class EmbeddedAlice:
    """A running ``alice serve`` with the embedded model loaded."""

    base_url: str
    data_dir: Path
    process: ManagedProcess


@contextmanager
def embedded_alice(
    work: Path, settings: Mapping[str, str], log: Callable[[str], object]
) -> Iterator[EmbeddedAlice]:
    """``alice serve`` (data in ``work/alice-data``), once its model answers; then stopped."""
    data_dir = work / "alice-data"
    data_dir.mkdir()
    port = free_port()
    server = alice_process(port=port, data_dir=data_dir, log_dir=work, settings=settings)
    with server:
        base_url = loopback_url(port)
        ready_s = server.wait_ready(base_url + READY_PATH, timeout_s=600, accept=model_healthy)
        log(f"alice ready in {ready_s:.1f} s (model assembled and loaded)")
        yield EmbeddedAlice(base_url=base_url, data_dir=data_dir, process=server)
