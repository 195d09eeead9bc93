"""Server processes the benchmarks start: free ports, readiness, CPU time, clean stop.

Every server binds 127.0.0.1 on a port picked free just before, runs in its own session
(so Ctrl+C in the terminal reaches only the benchmark, which then stops it), logs to a
file in the run's temporary folder, and is stopped when its ``with`` block ends, also on
errors and interrupts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ManagedProcess", "ServerFailedError", "base_env", "free_port", "loopback_url"]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
HOST = "127.0.0.1"


class ServerFailedError(RuntimeError):
    """A server did not start or did not become ready in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def loopback_url(port: int) -> str:
    """``http://127.0.0.1:<port>``."""
    return f"http://{HOST}:{port}"


def base_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without ``ALICE_*`` variables, plus ``extra``.

    Alice's settings come only from ``extra``, never from the caller's shell.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update(extra)
    return env


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in children:
                found.append(int(child))
                stack.append(int(child))
    return found


def _cpu_seconds_of(pid: int) -> float:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name (which may hold spaces) start after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


class ManagedProcess:
    """One server process, started and stopped by the benchmark.

    Args:
        name: a label for messages and the log file.
        argv: the command line.
        env: the complete environment.
        log_dir: folder for ``<name>.log`` (stdout and stderr).
        cwd: working directory.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_dir: Path,
        cwd: Path,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process id."""
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._proc.pid

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the process (its output goes to the log file)."""
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the process's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(
        self,
        url: str,
        *,
        timeout_s: float,
        interval_s: float = 0.1,
        accept: Callable[[httpx.Response], bool] | None = None,
    ) -> float:
        """Poll ``url`` until it answers 200 (and ``accept`` passes); return the seconds.

        Raises:
            ServerFailedError: the process exited or ``timeout_s`` passed.
        """
        started = time.monotonic()
        deadline = started + timeout_s
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while True:
                if self._proc is None or self._proc.poll() is not None:
                    raise ServerFailedError(
                        f"{self.name} exited before it was ready; log:\n{self.log_tail()}"
                    )
                try:
                    response = client.get(url)
                    if response.status_code == 200 and (accept is None or accept(response)):
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise ServerFailedError(
                        f"{self.name} not ready after {timeout_s:.0f} s; log:\n{self.log_tail()}"
                    )
                time.sleep(interval_s)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the process and its children have used so far."""
        if self._proc is None:
            return 0.0
        pids = [self._proc.pid, *_descendants(self._proc.pid)]
        return sum(_cpu_seconds_of(pid) for pid in pids)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the process's own process group, then SIGKILL it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout_s)
