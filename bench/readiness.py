"""Readiness auditor on a generated 250,000-line Python repository: time and peak memory.

Targets (issue 7): the audit takes < 60 s and < 300 MB peak RSS on 2 cores.

The repository is generated (seeded, so every run audits the same code): a service
package of modules with classes, async functions, HTTP clients with and without
timeouts, FastAPI routes, retries, a circuit breaker; tests; docs; a Dockerfile, a
Kubernetes manifest, a GitHub workflow, Prometheus rules. About 250,000 lines of Python.

Targets, run in rounds with the order rotating, each a fresh process:

- ``parse`` (the baseline): one process reads every ``.py`` file and ``ast.parse``-s it,
  nothing else: the floor any AST-based auditor pays on one core;
- ``audit``: ``readiness REPO --format json`` as shipped (external analysers that are
  installed run, within their time budget);
- ``audit-own``: the same with ``--no-analysers`` (only the auditor's own checks).

Peak memory is the whole process tree's RSS (the auditor, its parse workers and the
analysers it runs), sampled every 20 ms with psutil; its own ``ru_maxrss`` is recorded
too. The result is each target's time and memory and its ratio to the baseline.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.stats import summarize

__all__ = ["ReadinessParams", "generate_repo", "run_readiness"]

TARGETS = {"audit_s": 60.0, "audit_peak_mb": 300.0}
_PARSE_ONLY = """
import ast, os, sys
root = sys.argv[1]
n = 0
for folder, dirs, files in os.walk(root):
    for name in files:
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                ast.parse(f.read())
            n += 1
print(n)
"""


@dataclass(frozen=True)
class ReadinessParams:
    """Size of the generated repository and how many rounds."""

    lines: int = 250_000
    rounds: int = 3
    seed: int = 7
    quick: bool = False


# --- the generated repository ---------------------------------------------------------

_MODULE_HEAD = '''\
"""Generated module {index}: orders, payments and an LLM client."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx
from tenacity import retry, stop_after_attempt, wait_exponential

from svc.breaker import CircuitBreaker

log = logging.getLogger(__name__)
_breaker = CircuitBreaker(failures=5, reset_s=30.0)

'''

_BLOCK = '''
@dataclass
class Order{n}:
    """An order of kind {n}."""

    id: int
    amount: float
    currency: str = "SEK"

    def total(self, tax: float) -> float:
        """The amount with tax."""
        value = self.amount * (1 + tax)
        if value < 0:
            raise ValueError("negative total")
        return round(value, 2)

    def describe(self) -> str:
        """A line for the log."""
        parts = [str(self.id), self.currency, f"{{self.amount:.2f}}"]
        return " ".join(parts)


@retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.1))
async def fetch_{n}(client: httpx.AsyncClient, order: Order{n}) -> dict[str, object]:
    """Fetch the order's status from the upstream."""
    response = await client.get(f"/orders/{{order.id}}", timeout={timeout})
    response.raise_for_status()
    data: dict[str, object] = response.json()
    log.info("fetched order %s", order.id)
    return data


async def complete_{n}(prompt: str) -> str:
    """Ask the model, through the breaker."""
    async with httpx.AsyncClient({client_args}) as client:
        reply = await _breaker.call(
            client.post, "/v1/chat/completions", json={{"messages": [prompt], "stream": False}}
        )
    text = str(reply.json()["choices"][0]["message"]["content"])
    if not text:
        return "(no answer)"
    return text


def summarise_{n}(orders: list[Order{n}]) -> dict[str, float]:
    """Totals per currency."""
    out: dict[str, float] = {{}}
    for order in orders:
        out[order.currency] = out.get(order.currency, 0.0) + order.total(0.25)
    for key in list(out):
        if out[key] == 0:
            del out[key]
    return out
'''

_BREAKER = '''\
"""A circuit breaker."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any


class CircuitBreaker:
    """Opens after ``failures`` consecutive errors; half-opens after ``reset_s``."""

    def __init__(self, failures: int, reset_s: float) -> None:
        self.failures = failures
        self.reset_s = reset_s
        self._errors = 0
        self._opened = 0.0

    async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` unless the breaker is open."""
        if self._errors >= self.failures and time.monotonic() - self._opened < self.reset_s:
            raise RuntimeError("circuit open")
        try:
            result = await fn(*args, **kwargs)
        except Exception:
            self._errors += 1
            self._opened = time.monotonic()
            raise
        self._errors = 0
        return result
'''

_APP = '''\
"""The HTTP app."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


@app.get("/ready")
async def ready() -> dict[str, str]:
    """Readiness."""
    return {"status": "ok"}
'''

_TEST = """
def test_total_{n}() -> None:
    order = Order{n}(1, 10.0)
    assert order.total(0.25) == 12.5


def test_negative_{n}() -> None:
    with pytest.raises(ValueError):
        Order{n}(1, -10.0).total(0.25)
"""


def generate_repo(root: Path, lines: int, seed: int) -> dict[str, int]:
    """Write a repository of about ``lines`` lines of Python under ``root``."""
    rng = random.Random(seed)
    pkg = root / "src" / "svc"
    tests = root / "tests"
    pkg.mkdir(parents=True)
    tests.mkdir()
    (pkg / "__init__.py").write_text('"""Generated service."""\n')
    (pkg / "breaker.py").write_text(_BREAKER)
    (pkg / "app.py").write_text(_APP)
    written = sum(len(t.splitlines()) for t in (_BREAKER, _APP)) + 1
    modules = 0
    while written < lines:
        blocks = []
        test_blocks = []
        for _ in range(8):
            n = rng.randrange(10**6)
            blocks.append(
                _BLOCK.format(
                    n=n,
                    timeout=rng.choice(["5.0", "10.0", "None"]),
                    client_args=rng.choice(["timeout=30.0", "", "base_url='http://llm'"]),
                )
            )
            test_blocks.append(_TEST.format(n=n))
        module = _MODULE_HEAD.format(index=modules) + "\n".join(blocks)
        (pkg / f"orders_{modules:04d}.py").write_text(module)
        test = f"import pytest\n\nfrom svc.orders_{modules:04d} import *  # noqa: F403\n" + "".join(
            test_blocks
        )
        (tests / f"test_orders_{modules:04d}.py").write_text(test)
        written += len(module.splitlines()) + len(test.splitlines())
        modules += 1
    (root / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [project]
        name = "svc"
        version = "1.0"
        dependencies = ["fastapi", "httpx", "tenacity", "prometheus-client"]
        """)
    )
    (root / "README.md").write_text("# svc\n\n## Install\n\n`pip install .`\n\n## Run\n\n`svc`\n")
    (root / "Dockerfile").write_text(
        "FROM python:3.11-slim\nCOPY . /app\nRUN pip install /app\nUSER 1000\n"
        'HEALTHCHECK CMD curl -f http://localhost:8000/health || exit 1\nCMD ["svc"]\n'
    )
    wf = root / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "ci.yml").write_text(
        "on: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n      - run: pip install . pytest\n"
        "      - run: pytest\n"
    )
    return {"python_lines": written, "modules": modules * 2 + 3}


# --- running the targets --------------------------------------------------------------


def _measure(command: list[str]) -> dict[str, Any]:
    """Run ``command``; wall time, CPU time, peak RSS of its process tree."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    peak = 0
    cpu: dict[int, float] = {}
    while proc.poll() is None:
        total = 0
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for member in members:
            try:
                total += member.memory_info().rss
                times = member.cpu_times()
                cpu[member.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                continue
        peak = max(peak, total)
        time.sleep(0.02)
    wall = time.perf_counter() - started
    _, err = proc.communicate()
    if proc.returncode not in (0, 1):  # 1: below --fail-under (not used here)
        raise RuntimeError(f"{command[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return {
        "wall_s": round(wall, 3),
        "cpu_s_sampled": round(sum(cpu.values()), 2),
        "peak_tree_mb": round(peak / 2**20, 1),
    }


def run_readiness(params: ReadinessParams, log: Any = print) -> dict[str, Any]:
    """Generate the repository, then run the three targets ``rounds`` times."""
    readiness = str(Path(sys.executable).with_name("readiness"))
    with tempfile.TemporaryDirectory(prefix="readiness-bench-") as tmp:
        repo = Path(tmp) / "repo"
        size = generate_repo(repo, params.lines, params.seed)
        log(f"  generated {size['python_lines']} lines in {size['modules']} modules")
        out = Path(tmp) / "report.json"
        targets = {
            "parse": [sys.executable, "-c", _PARSE_ONLY, str(repo)],
            "audit": [readiness, str(repo), "--format", "json", "--out", str(out)],
            "audit-own": [
                readiness,
                str(repo),
                "--format",
                "json",
                "--no-analysers",
                "--out",
                str(out),
            ],
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        names = list(targets)
        for round_no in range(params.rounds):
            order = names[round_no % 3 :] + names[: round_no % 3]
            for name in order:
                sample = _measure(targets[name])
                runs[name].append(sample)
                log(f"  round {round_no} {name}: {sample}")
        report = json.loads(out.read_text())
    analysis: dict[str, Any] = {}
    for name, samples in runs.items():
        analysis[name] = {
            "wall_s": summarize([s["wall_s"] for s in samples]),
            "peak_tree_mb": summarize([s["peak_tree_mb"] for s in samples]),
        }
    base = analysis["parse"]["wall_s"]["p50"]
    for name in ("audit", "audit-own"):
        analysis[name]["time_vs_parse"] = round(analysis[name]["wall_s"]["p50"] / base, 2)
    audit_wall = max(s["wall_s"] for s in runs["audit"])
    audit_peak = max(s["peak_tree_mb"] for s in runs["audit"])
    return {
        "parameters": {**asdict(params), "generated": size},
        "runs": runs,
        "analysis": analysis,
        "report_stats": report.get("stats"),
        "report_analysers": report.get("analysers"),
        "targets_met": [
            {
                "name": "audit of a 250k-line repository, slowest round",
                "value": audit_wall,
                "unit": "s",
                "limit": f"<= {TARGETS['audit_s']}",
                "passed": audit_wall <= TARGETS["audit_s"],
                "per_round": [s["wall_s"] for s in runs["audit"]],
            },
            {
                "name": "peak RSS of the audit's process tree, highest round",
                "value": audit_peak,
                "unit": "MB",
                "limit": f"<= {TARGETS['audit_peak_mb']}",
                "passed": audit_peak <= TARGETS["audit_peak_mb"],
                "per_round": [s["peak_tree_mb"] for s in runs["audit"]],
            },
        ],
    }
