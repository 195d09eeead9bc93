"""What the benchmarks ran on: CPU, memory, OS, Python, package versions, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["REPO_ROOT", "machine_info", "package_versions"]

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Packages whose versions shape the results (the ones missing here are left out).
PACKAGES = (
    "llama-cpp-python",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "httpx",
    "aiohttp",
    "pydantic",
    "sqlalchemy",
    "aiosqlite",
    "orjson",
    "litellm",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.rstrip()


def package_versions(python: Path | None = None) -> dict[str, str]:
    """Installed versions of `PACKAGES`, in this interpreter or in ``python``'s."""
    if python is None:
        versions: dict[str, str] = {}
        for name in PACKAGES:
            try:
                versions[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return versions
    script = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        f"for n in {list(PACKAGES)!r}:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    try:
        done = subprocess.run(
            [str(python), "-c", script], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    import json

    result: dict[str, str] = json.loads(done.stdout)
    return result


def machine_info() -> dict[str, Any]:
    """A description of this machine and checkout, for the results file."""
    commit = _git("rev-parse", "HEAD").strip()
    dirty = [
        line[3:] for line in _git("status", "--porcelain", "--untracked-files=no").splitlines()
    ]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": package_versions(),
        "git_commit": commit,
        "git_dirty": bool(dirty),
        "git_dirty_paths": dirty[:30],
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
    }
