"""Alice under test: ``alice serve`` as a real process with its own data folder.

Production settings except where a load test must differ, and the report says which:

- ``ALICE_RATE_LIMIT=off``: the load comes from one key, far over any per-key limit;
- ``ALICE_BOOTSTRAP_ADMIN_KEY``: a fresh key per run, so the harness can call the drill
  endpoint and the users can chat (never written to any file);
- ``ALICE_MODEL_PATH``: the bundled model, assembled once into ``.cache/loadtest``;
- ``ALICE_GUARDIAN__DRILL_S``: the brownout drill's length (soak).

Everything else, the Guardian's sampling included, keeps its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]  # psutil ships no type hints

from alice.llm.providers.llamacpp import BUNDLED_MODEL_FILE, ensure_bundled_model
from alice.security.keys import generate_key
from bench.alice_server import alice_executable, model_healthy
from bench.machine import REPO_ROOT
from bench.processes import HOST, ManagedProcess, base_env, free_port, loopback_url

__all__ = [
    "DEFAULT_MODEL_PATH",
    "LOAD_TEST_SETTINGS",
    "AliceServer",
    "TreeSample",
    "ensure_model",
]

DEFAULT_MODEL_PATH = REPO_ROOT / ".cache" / "loadtest" / "models" / BUNDLED_MODEL_FILE
#: The settings that differ from a production default (shown in every report).
LOAD_TEST_SETTINGS = {"ALICE_RATE_LIMIT": "off", "ALICE_AUTH": "keys"}
_READY_TIMEOUT_S = 300.0
_STOP_TIMEOUT_S = 30.0


def ensure_model(path: Path | None) -> Path:
    """The GGUF to serve: ``path`` if given, else the bundled one assembled once."""
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(f"no model file at {path}")
        return path.resolve()
    return ensure_bundled_model(DEFAULT_MODEL_PATH)


@dataclass(frozen=True, slots=True)
class TreeSample:
    """Alice's process tree at one moment."""

    rss_bytes: int
    processes: int
    worker_pids: tuple[int, ...]


@dataclass
class AliceServer:
    """One ``alice serve`` process for a run.

    Args:
        work_dir: the run's folder (the data folder and alice.log go here).
        model_path: the GGUF file.
        settings: further ``ALICE_*`` variables (after the load-test defaults).
    """

    work_dir: Path
    model_path: Path
    settings: Mapping[str, str] = field(default_factory=dict)
    api_key: str = field(default_factory=generate_key, repr=False)
    port: int = field(default_factory=free_port)
    _process: ManagedProcess | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """Base URL."""
        return loopback_url(self.port)

    @property
    def data_dir(self) -> Path:
        """Alice's data folder (SQLite database, keys)."""
        return self.work_dir / "alice-data"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite database (when no ALICE_DATABASE_URL is set)."""
        return self.data_dir / "alice.db"

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self._process is None:
            raise RuntimeError("Alice is not running")
        return self._process.pid

    def environment(self) -> dict[str, str]:
        """The ``ALICE_*`` settings of this run, without the key (for the report)."""
        return {
            "ALICE_DATA_DIR": str(self.data_dir),
            "ALICE_MODEL_PATH": str(self.model_path),
            "ALICE_LOG_LEVEL": "info",
            **LOAD_TEST_SETTINGS,
            **self.settings,
        }

    def start(self) -> float:
        """Start Alice and wait until its model answers; return the seconds it took.

        Raises:
            bench.processes.ServerFailedError: it exited or was not ready in time.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = base_env({**self.environment(), "ALICE_BOOTSTRAP_ADMIN_KEY": self.api_key})
        self._process = ManagedProcess(
            "alice",
            [str(alice_executable()), "serve", "--host", HOST, "--port", str(self.port)],
            env=env,
            log_dir=self.work_dir,
            # Not the repository: a developer's .env there must not change the settings.
            cwd=self.data_dir,
        )
        self._process.start()
        return self._process.wait_ready(
            self.url + "/ready", timeout_s=_READY_TIMEOUT_S, accept=model_healthy
        )

    def alive(self) -> bool:
        """Whether the server process is still running (not crashed, not a zombie)."""
        try:
            process = psutil.Process(self.pid)
            return bool(process.status() != psutil.STATUS_ZOMBIE)
        except (psutil.Error, RuntimeError):
            return False

    def sample(self) -> TreeSample:
        """RSS of the server and its children (the model worker), and the worker's pid."""
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except (psutil.Error, RuntimeError):
            return TreeSample(0, 0, ())
        rss = 0
        workers: list[int] = []
        for process in tree:
            try:
                rss += process.memory_info().rss
                if process is not root and "spawn_main" in " ".join(process.cmdline()):
                    workers.append(process.pid)
            except psutil.Error:
                continue  # exited between the listing and the reading
        return TreeSample(rss, len(tree), tuple(sorted(workers)))

    def get(self, path: str, *, admin: bool = False) -> httpx.Response:
        """A GET to Alice (with the admin key when ``admin``)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if admin else {}
        return httpx.get(self.url + path, headers=headers, timeout=10.0, trust_env=False)

    def post_admin(self, path: str, body: Mapping[str, object]) -> httpx.Response:
        """A POST with the admin key."""
        return httpx.post(
            self.url + path,
            json=dict(body),
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=10.0,
            trust_env=False,
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self._process is not None:
            self._process.stop(timeout_s=_STOP_TIMEOUT_S)

    @property
    def log_path(self) -> Path:
        """Alice's stdout and stderr."""
        return self.work_dir / "alice.log"
