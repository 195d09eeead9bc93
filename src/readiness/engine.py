"""One audit, start to end.

Index the repository, start the analysers, run every check in parallel, apply
suppressions, score, find gaps, order the roadmap.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from readiness.context import AuditContext, AuditOptions
from readiness.gaps import find_gaps, roadmap
from readiness.model import AuditReport, CheckResult, Outcome
from readiness.pyindex import build_index
from readiness.registry import Check, all_checks
from readiness.repo import Repo
from readiness.scoring import DEFAULT_WEIGHTS, band, category_scores, overall_score, weakest
from readiness.suppressions import Suppression, apply_suppressions

__all__ = ["build_context", "run_audit", "run_check"]

_CHECK_THREADS = 8


def build_context(path: Path, options: AuditOptions | None = None) -> AuditContext:
    """Index the repository at ``path`` (no analysers, no checks run yet)."""
    options = options or AuditOptions()
    repo = Repo(path)
    py = build_index(repo.root, repo.python_files, workers=options.workers)
    return AuditContext(repo, py, options)


def run_check(item: Check, ctx: AuditContext) -> CheckResult:
    """One check; a check that crashes is inconclusive, never fatal to the audit."""
    try:
        outcome = item.run(ctx)
    except Exception as exc:  # a bug in one check must not lose the whole report
        ctx.note(f"check {item.spec.id} could not run: {type(exc).__name__}: {exc}")
        outcome = Outcome("unknown", 0, f"the check could not run ({type(exc).__name__})")
    return CheckResult(item.spec, outcome)


def run_audit(
    path: Path,
    options: AuditOptions | None = None,
    *,
    weights: Mapping[str, float] | None = None,
    suppressions: tuple[Suppression, ...] = (),
) -> AuditReport:
    """Audit the repository at ``path`` (and ``options.url`` when given)."""
    from readiness import __version__

    options = options or AuditOptions()
    started = time.perf_counter()
    repo = Repo(path)
    analysers = None
    if options.analysers:
        from readiness.analysers import Analysers

        # Started first: they run in their own processes while Python is indexed.
        analysers = Analysers.start(repo, timeout_s=options.analyser_timeout_s)
    py = build_index(repo.root, repo.python_files, workers=options.workers)
    ctx = AuditContext(repo, py, options)
    if analysers is not None:
        ctx.attach_analysers(analysers)
    checks = [c for c in all_checks() if not c.spec.live or options.url]
    with ThreadPoolExecutor(max_workers=_CHECK_THREADS) as pool:
        results = list(pool.map(lambda c: run_check(c, ctx), checks))
    results = apply_suppressions(results, suppressions)
    category_weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    categories = category_scores(results, category_weights)
    overall = overall_score(categories)
    gaps = find_gaps(results)
    notes = list(ctx.notes)
    for module in py.modules:
        if module.error:
            notes.append(f"{module.path} could not be parsed ({module.error}); left out")
    return AuditReport(
        tool_version=__version__,
        target=str(repo.root),
        url=options.url,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        duration_s=round(time.perf_counter() - started, 2),
        categories=categories,
        overall=overall,
        band=band(overall),
        weakest=weakest(categories),
        results=tuple(results),
        gaps=gaps,
        roadmap=roadmap(gaps),
        analysers=analysers.status() if analysers is not None else {"all": "disabled"},
        notes=tuple(notes),
        stats={
            "files": len(repo.files),
            "python_files": len(py.modules),
            "python_lines": py.lines,
            "test_functions": py.test_count,
            "checks": len(results),
        },
    )
