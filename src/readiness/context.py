"""What every check sees: the repository and everything derived from it.

The repository, its Python facts, its declared dependencies, its parsed configuration
files, the external analysers' findings and the live probe.

Built once per audit by `readiness.engine`; the expensive parts (configuration parsing,
analysers, the live probe) are computed on first use and shared by all checks, which run
in threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from readiness.manifests import Dependencies
from readiness.model import STRENGTH_WEIGHT, Evidence, Outcome, Status
from readiness.pyindex import PyIndex
from readiness.repo import Repo

if TYPE_CHECKING:
    from readiness.analysers import Analysers
    from readiness.configs import Configs
    from readiness.live import LiveProbe

__all__ = ["AuditContext", "AuditOptions", "grade", "ranked", "strongest"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """How to audit (from the command line)."""

    url: str | None = None
    #: Use detect-secrets, bandit, radon, hadolint, checkov when installed.
    analysers: bool = True
    #: Each external analyser gets at most this long; then the report says it timed out.
    analyser_timeout_s: float = 45.0
    #: Requests for the live latency probe.
    live_requests: int = 20
    #: Processes for parsing Python (None: up to 4, by CPU count).
    workers: int | None = None
    #: Extra headers for live probes (e.g. an API key for the authenticated probes).
    live_headers: tuple[tuple[str, str], ...] = field(default=())


class AuditContext:
    """Shared, read-only inputs of the checks (thread-safe lazy parts)."""

    def __init__(self, repo: Repo, py: PyIndex, options: AuditOptions) -> None:
        self.repo = repo
        self.py = py
        self.options = options
        self._notes: list[str] = []
        self._lock = threading.Lock()
        self._analysers: Analysers | None = None
        self._build_lock = threading.Lock()
        self._part_locks: dict[str, threading.Lock] = {}
        self._built: dict[str, Any] = {}

    # --- lazily built parts -----------------------------------------------------------
    # Each is built once, by whichever check thread asks first, while the others wait
    # (functools.cached_property does not lock from Python 3.12 on: the live probe
    # would run once per thread).
    def _once(self, name: str, build: Callable[[], _T]) -> _T:
        with self._build_lock:
            lock = self._part_locks.setdefault(name, threading.Lock())
        with lock:  # one lock per part: the live probe does not hold up the configs
            if name not in self._built:
                self._built[name] = build()
            value: _T = self._built[name]
            return value

    @property
    def deps(self) -> Dependencies:
        """Declared dependencies."""
        return self._once("deps", lambda: Dependencies(self.repo))

    @property
    def configs(self) -> Configs:
        """Parsed Dockerfiles, compose, Kubernetes, Terraform, CI workflows, rules."""
        from readiness.configs import Configs

        def build() -> Configs:
            configs = Configs(self.repo)
            for text in configs.notes:  # files that failed to parse, Helm charts not rendered
                self.note(text)
            return configs

        return self._once("configs", build)

    @property
    def live(self) -> LiveProbe | None:
        """The running deployment's probe results (None without ``--url``)."""
        url = self.options.url
        if not url:
            return None
        from readiness.live import LiveProbe

        return self._once(
            "live",
            lambda: LiveProbe.run(
                url,
                requests=self.options.live_requests,
                headers=dict(self.options.live_headers),
            ),
        )

    def attach_analysers(self, analysers: Analysers) -> None:
        """Set by the engine, which starts the analysers before the checks run."""
        self._analysers = analysers

    @property
    def analysers(self) -> Analysers | None:
        """The external analysers (None when disabled)."""
        return self._analysers

    # --- notes ------------------------------------------------------------------------
    def note(self, text: str) -> None:
        """A line for the report's notes (a missing analyser, a parse failure)."""
        with self._lock:
            if text not in self._notes:
                self._notes.append(text)

    @property
    def notes(self) -> tuple[str, ...]:
        """Every note so far."""
        with self._lock:
            return tuple(self._notes)


def strongest(evidence: Iterable[Evidence]) -> Evidence | None:
    """The piece of evidence that weighs most."""
    best: Evidence | None = None
    for item in evidence:
        if best is None or STRENGTH_WEIGHT[item.strength] > STRENGTH_WEIGHT[best.strength]:
            best = item
    return best


def ranked(evidence: Iterable[Evidence], *, limit: int = 10) -> tuple[Evidence, ...]:
    """Distinct evidence, strongest first, cut to ``limit`` pieces.

    Ties are broken by place and note: set order varies between runs, reports must not.
    """
    items = sorted(
        set(evidence), key=lambda e: (-STRENGTH_WEIGHT[e.strength], e.path, e.line, e.note)
    )
    return tuple(items[:limit])


def grade(
    evidence: Iterable[Evidence],
    *,
    found: str,
    missing: str,
    limit: int = 8,
) -> Outcome:
    """An outcome from evidence alone, weighed by its strongest piece.

    wired/live/config evidence passes (score 90-100); code or a declared dependency
    warns (45-60); only tests or documents mention it: fail (25-30); nothing: fail (0).
    ``found`` / ``missing`` are the summary sentences. Evidence is sorted strongest first
    and cut to ``limit`` pieces.
    """
    items = ranked(evidence, limit=limit)
    best = strongest(items)
    if best is None:
        return Outcome("fail", 0, missing)
    weight = STRENGTH_WEIGHT[best.strength]
    status: Status = "pass" if weight >= 0.9 else "warn" if weight >= 0.45 else "fail"
    summary = found if status == "pass" else f"{found} (only {best.strength} evidence)"
    return Outcome(status, round(100 * weight), summary, items)
