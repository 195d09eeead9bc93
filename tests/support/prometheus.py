"""promtool and a real Prometheus server for tests.

The binaries come from ``ALICE_PROMTOOL`` / ``ALICE_PROMETHEUS``, then
``.cache/prometheus/bin/`` (filled by ``make tools``, which ``make test`` runs), then
PATH. Without them the tests fail with the install hint: the deploy checks are part of
the suite, never skipped.

The two variables are read when this module is imported as well as when a binary is
looked up: the suite's ``_isolated_environment`` fixture removes every ``ALICE_*``
variable before the tests run, after test modules were imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.servers import free_port

__all__ = [
    "INSTALL_HINT",
    "REPO_ROOT",
    "describe",
    "prometheus_binary",
    "prometheus_server",
    "promtool",
    "run_promtool",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
_CACHE_BIN = REPO_ROOT / ".cache" / "prometheus" / "bin"
_ENV_AT_IMPORT = {name: os.environ.get(name, "") for name in ("ALICE_PROMTOOL", "ALICE_PROMETHEUS")}
INSTALL_HINT = (
    "promtool and prometheus are needed by the test suite and were not found. Run "
    "`make tools` (takes them from Debian's `prometheus` package without installing it), "
    "or `sudo apt-get install prometheus` (Debian/Ubuntu) / `brew install prometheus` "
    "(macOS), or point ALICE_PROMTOOL and ALICE_PROMETHEUS at the binaries."
)
# Prometheus opens its TSDB and loads rules in well under a second; a busy 2-core machine
# gets generous room before the start counts as failed.
_START_TIMEOUT_S = 60.0


def _find(name: str, variable: str) -> Path:
    configured = os.environ.get(variable) or _ENV_AT_IMPORT[variable]
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise RuntimeError(f"{variable}={configured} is not an executable file.")
        return path
    cached = _CACHE_BIN / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    on_path = shutil.which(name)
    if on_path is not None:
        return Path(on_path)
    raise RuntimeError(INSTALL_HINT)


def promtool() -> Path:
    """The ``promtool`` binary.

    Raises:
        RuntimeError: with the install hint when there is none.
    """
    return _find("promtool", "ALICE_PROMTOOL")


def prometheus_binary() -> Path:
    """The ``prometheus`` server binary.

    Raises:
        RuntimeError: with the install hint when there is none.
    """
    return _find("prometheus", "ALICE_PROMETHEUS")


def run_promtool(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``promtool ARGS`` and return its exit status and output (it is not checked).

    Args:
        args: promtool's arguments (``"check", "rules", "FILE"``).
        cwd: the folder to run it in (rule test files name their rules relative to it).
        stdin: text for its standard input (``check metrics`` reads a scrape there).
    """
    return subprocess.run(
        [str(promtool()), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=120,
        check=False,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """A promtool run's exit status and output, for an assertion message."""
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def _write_config(
    path: Path,
    targets: list[str],
    rule_files: list[Path],
    scrape_interval: str,
    evaluation_interval: str,
) -> None:
    config = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": [str(rule_file.resolve()) for rule_file in rule_files],
        "scrape_configs": [
            {
                "job_name": "alice",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": targets}],
            }
        ],
    }
    # JSON is YAML, and needs no YAML library.
    path.write_text(json.dumps(config, indent=2))


def _is_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def prometheus_server(
    targets: list[str],
    rule_files: list[Path],
    tmp: Path,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
) -> Iterator[str]:
    """Run a real Prometheus scraping ``targets``; yield its base URL; stop it.

    Args:
        targets: ``host:port`` of each server to scrape at ``/metrics`` (job ``alice``).
        rule_files: rule files to load (checked by Prometheus at start).
        tmp: a folder of the test's own for the configuration, the TSDB and the log.
        scrape_interval: how often the targets are scraped.
        evaluation_interval: how often the rules are evaluated.

    Raises:
        RuntimeError: when Prometheus is missing, exits, or is not ready in time; the
            message carries its log.
    """
    binary = prometheus_binary()
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "prometheus.yml"
    _write_config(config, targets, rule_files, scrape_interval, evaluation_interval)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _is_ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"prometheus did not start: {log_path.read_text(errors='replace')}"
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
