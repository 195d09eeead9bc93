"""Checks: testing.

The test suite is counted from the AST (test functions with real bodies, not skipped),
its kinds inferred from folders, markers and imports; CI is judged from parsed CI
configuration, following ``make test`` into the Makefile and scripts into their lines;
error-path tests are tests that assert a raise or an HTTP error status, or are named for
a failure mode, cross-checked against the resilience mechanisms the source defines.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from readiness.checks._code import is_auxiliary
from readiness.configs.ci import CHANGE_EVENTS, TestRun
from readiness.context import AuditContext
from readiness.model import Evidence, Outcome, Status, Strength
from readiness.pyindex import Def, ModuleFacts
from readiness.registry import check

__all__ = ["ci_runs_tests", "error_paths", "test_suite"]

_KIND_FOLDERS = (
    ("integration", re.compile(r"(^|/)(integration|integ|it|functional|api)(_tests?)?/")),
    ("e2e", re.compile(r"(^|/)(e2e|end[_-]?to[_-]?end|acceptance|system|smoke)(_tests?)?/")),
    ("load", re.compile(r"(^|/)(load|perf|performance|stress|soak|bench|benchmarks?)(_?tests?)?/")),
)
_KIND_IMPORTS: dict[str, tuple[str, ...]] = {
    "integration": (
        "testcontainers",
        "fastapi.testclient",
        "starlette.testclient",
        "django.test",
        "flask.testing",
        "pytest_postgresql",
        "aiohttp.test_utils",
        "respx",
        "vcr",
    ),
    "e2e": ("playwright", "selenium", "splinter", "pytest_bdd", "behave"),
    "load": ("locust", "pytest_benchmark"),
    "property": ("hypothesis",),
    "contract": ("schemathesis", "pact"),
}
_KIND_MARKERS = re.compile(r"pytest\.mark\.(integration|e2e|slow|load|benchmark|contract)")
_KIND_POINTS = {"unit": 10, "integration": 10, "e2e": 10, "load": 10, "property": 10, "contract": 5}
_OTHER_TESTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (r"*_test.go", re.compile(r"^func Test\w+\(", re.M)),
    (r"*.test.[jt]s*", re.compile(r"^\s*(it|test)\s*\(\s*['\"`]", re.M)),
    (r"*.spec.[jt]s*", re.compile(r"^\s*(it|test)\s*\(\s*['\"`]", re.M)),
    (r"*Test.java", re.compile(r"^\s*@Test\b", re.M)),
    (r"*.rs", re.compile(r"^\s*#\[(tokio::)?test\]", re.M)),
)


@dataclass(frozen=True, slots=True)
class _Test:
    module: ModuleFacts
    name: str
    item: Def


def _tests(ctx: AuditContext) -> tuple[list[_Test], list[Evidence]]:
    """Real test functions, and the ones left out (stubs, skipped) as evidence."""
    out: list[_Test] = []
    dropped: list[Evidence] = []
    for module in ctx.py.tests:
        by_line = {d.line: d for d in module.defs if d.kind != "class"}
        for name, line in module.tests:
            item = by_line.get(line)
            if item is None:
                continue
            if item.stub:
                dropped.append(Evidence(module.path, line, "test", f"{name} has an empty body"))
            elif any(
                d.startswith(("pytest.mark.skip", "unittest.skip")) and "skipif" not in d
                for d in item.decorators
            ):
                dropped.append(Evidence(module.path, line, "test", f"{name} is always skipped"))
            else:
                out.append(_Test(module, name, item))
    return out, dropped


def _module_kinds(module: ModuleFacts, tests: list[_Test]) -> set[str]:
    kinds = {kind for kind, folder in _KIND_FOLDERS if folder.search(module.path)}
    for kind, prefixes in _KIND_IMPORTS.items():
        if any(
            i.module == p or i.module.startswith(p + ".") for i in module.imports for p in prefixes
        ):
            kinds.add(kind)
    for test in tests:
        for decorator in test.item.decorators:
            match = _KIND_MARKERS.match(decorator)
            if match:
                marker = match.group(1)
                kinds.add({"slow": "integration", "benchmark": "load"}.get(marker, marker))
    return kinds or {"unit"}


def _other_tests(ctx: AuditContext) -> list[Evidence]:
    out = []
    for pattern, regex in _OTHER_TESTS:
        paths = ctx.repo.glob(pattern)
        counts: Counter[str] = Counter()
        first: dict[str, int] = {}
        for match in ctx.repo.grep(regex, paths):
            counts[match.path] += 1
            first.setdefault(match.path, match.line)
        out += [Evidence(p, first[p], "test", f"{n} tests") for p, n in counts.items()]
    return out


def _load_tools(ctx: AuditContext) -> list[Evidence]:
    """Load tests outside the test folders (a locustfile, k6 scripts)."""
    locust = {m.path: i.line for m, i in ctx.py.imports("locust")}
    out = [Evidence(p, line, "test", "load test (locust)") for p, line in locust.items()][:2]
    scripts = [p for p in ctx.repo.files if p.endswith((".js", ".ts")) and "k6" in p.lower()]
    out += [
        Evidence(m.path, m.line, "test", "load test (k6)")
        for m in ctx.repo.grep(r"from\s+['\"]k6", scripts)
    ][:2]
    return out


@check(
    id="testing.test-suite",
    category="testing",
    title="Automated test suite of several kinds",
    severity="critical",
    effort="L",
    impact=(
        "Without tests every change is verified in production by users; regressions in "
        "fallbacks, auth or streaming ship unnoticed."
    ),
    recommendation=(
        "Build a pytest suite: fast unit tests for the logic, integration tests through "
        "the HTTP API (TestClient, testcontainers for the database), property tests for "
        "parsers, and a load test for capacity."
    ),
    weight=1.5,
)
def test_suite(ctx: AuditContext) -> Outcome:
    """Test functions counted from the AST, their kinds, relative to the code's size."""
    tests, dropped = _tests(ctx)
    others = _other_tests(ctx)
    other_count = sum(int(e.note.split()[0]) for e in others)
    count = len(tests) + other_count
    if count == 0:
        return Outcome(
            "fail",
            0,
            "no tests",
            tuple(dropped[:4]),
            gaps=("no test function with a real body anywhere in the repository",),
        )
    by_module: dict[str, list[_Test]] = {}
    for test in tests:
        by_module.setdefault(test.module.path, []).append(test)
    kinds: Counter[str] = Counter()
    evidence: list[Evidence] = []
    for path, items in by_module.items():
        found = _module_kinds(items[0].module, items)
        for kind in found:
            kinds[kind] += len(items)
        note = f"{len(items)} tests ({', '.join(sorted(found))})"
        evidence.append(Evidence(path, items[0].item.line, "test", note))
    load = _load_tools(ctx)
    if load:
        kinds["load"] += len(load)
    if others:
        kinds["unit"] += other_count
    source_lines = sum(m.lines for m in ctx.py.source if not is_auxiliary(m.path))
    density = count / max(1.0, source_lines / 1000)
    count_score = 60 * min(1.0, density / 8) * min(1.0, count / 10)
    kind_score = min(40, sum(_KIND_POINTS.get(k, 0) for k in kinds))
    score = round(count_score + kind_score)
    listed = ", ".join(f"{k} {n}" for k, n in kinds.most_common())
    summary = f"{count} tests ({listed}); {density:.1f} per 1,000 lines of source"
    gaps: list[str] = []
    if density < 8 or count < 10:
        gaps.append(f"few tests for the code's size ({count} for {source_lines} lines)")
    for kind in ("integration", "load"):
        if kind not in kinds:
            gaps.append(f"no {kind} tests")
    gaps += [f"{e.location}: {e.note}" for e in dropped[:3]]
    biggest = sorted(evidence, key=lambda e: -int(e.note.split()[0]))
    status: Status = "pass" if score >= 75 else "warn"
    return Outcome(
        status,
        min(100, score),
        summary,
        tuple((biggest[:5] + load + others[:2])[:8]),
        strengths=(summary,) if status == "pass" else (),
        gaps=tuple(gaps),
    )


_PR_EVENTS = frozenset({"pull_request", "pull_request_target", "merge_request", "merge_group"})


def _every_change(run: TestRun) -> bool:
    """Runs on every pull request, or on every push (no branch filter)."""
    for trigger in run.triggers:
        if trigger.event in _PR_EVENTS:
            return True
        if trigger.event == "push" and (
            not trigger.branches or any(b in ("*", "**") for b in trigger.branches)
        ):
            return True
    return False


def _run_evidence(run: TestRun) -> list[Evidence]:
    out = []
    changes = [t for t in run.triggers if t.event in CHANGE_EVENTS]
    for trigger in (changes or list(run.triggers))[:2]:
        source = run.pipeline.path
        out.append(Evidence(source, trigger.line, "config", f"runs on {trigger.event}"))
    for command in run.chain:
        strength: Strength = "wired" if run.pipeline.confirmed else "config"
        what = "make target" if command.role == "rule" else "runs"
        out.append(Evidence(command.path, command.line, strength, f"{what} `{command.text[:70]}`"))
    return out


@check(
    id="testing.ci",
    category="testing",
    title="CI runs the tests on every change",
    severity="high",
    effort="S",
    impact=(
        "Tests that only run when someone remembers do not stop regressions: a broken "
        "change merges and deploys before anyone runs the suite."
    ),
    recommendation=(
        "Run the test suite in CI on every push and pull request (GitHub Actions, GitLab "
        "CI), as a required check that can fail the build, with the same command "
        "developers use (`make test`)."
    ),
    depends_on=("testing.test-suite",),
)
def ci_runs_tests(ctx: AuditContext) -> Outcome:
    """A CI pipeline whose trigger is every change and whose steps reach a test runner."""
    configs = ctx.configs
    runs = configs.test_runs()
    confirmed = [r for r in runs if r.pipeline.confirmed]
    good = [r for r in confirmed if _every_change(r) and not r.allow_failure]
    if good:
        best = good[0]
        events = sorted({t.event for t in best.triggers if t.event in CHANGE_EVENTS})
        return Outcome(
            "pass",
            100,
            f"{best.pipeline.provider} CI runs the tests on {' and '.join(events)}",
            tuple(_run_evidence(best))[:8],
            strengths=(f"{best.pipeline.path}: job {best.job.name} runs the tests",),
        )
    lenient = [r for r in confirmed if _every_change(r)]
    if lenient:
        run = lenient[0]
        return Outcome(
            "warn",
            50,
            "CI runs the tests on every change, but a failure does not fail the build",
            tuple(_run_evidence(run))[:8],
            gaps=(
                f"{run.pipeline.path}: job {run.job.name} ignores test failures "
                "(continue-on-error, allow_failure or `|| true`)",
            ),
        )
    if confirmed:
        run = confirmed[0]
        events = sorted({t.event for t in run.triggers}) or ["no trigger"]
        after_merge = any(t.event == "push" and t.branches for t in run.triggers)
        return Outcome(
            "warn",
            60 if after_merge else 40,
            "CI runs the tests, but not on every change (" + ", ".join(events) + ")",
            tuple(_run_evidence(run))[:8],
            gaps=(
                "tests run only after merging to the listed branches"
                if after_merge
                else "tests run only on " + ", ".join(events),
            ),
        )
    unconfirmed = [r for r in runs if not r.pipeline.confirmed]
    if unconfirmed:
        run = unconfirmed[0]
        return Outcome(
            "warn",
            50,
            "a CI script runs the tests, but the repository does not say when it runs",
            tuple(_run_evidence(run))[:8],
            gaps=(run.pipeline.why,),
        )
    pipelines = [Evidence(p.path, p.line, "config", f"{p.provider} CI") for p in configs.pipelines]
    if pipelines:
        return Outcome(
            "fail",
            20,
            "CI exists but runs no tests",
            tuple(pipelines[:4]),
            gaps=tuple(f"{e.path}: no step reaches a test runner" for e in pipelines[:3]),
        )
    return Outcome("fail", 0, "no CI configuration", gaps=("nothing runs the tests automatically",))


_ERROR_NAME = re.compile(
    r"error|fail|invalid|timeout|timed_out|retry|retries|backoff|fallback|failover|"
    r"circuit|breaker|degrad|unavailable|exception|raises|reject|denied|unauthori[sz]ed|"
    r"forbidden|not_found|missing|outage|down\b|refus|limit|overload|crash|broken|bad|"
    r"wrong|malformed|expired|conflict|cancel",
    re.I,
)
_RAISES = frozenset({"raises", "assertRaises", "assertRaisesRegex", "raises_regex"})
_MECHANISMS: dict[str, re.Pattern[str]] = {
    "retry": re.compile(r"retr(y|ies)|backoff", re.I),
    "fallback": re.compile(r"fallback|failover|fall_back|degrad", re.I),
    "circuit breaker": re.compile(r"circuit|breaker", re.I),
    "timeout": re.compile(r"timeout|timed_out|deadline", re.I),
}
_MECHANISM_IMPORTS: dict[str, tuple[str, ...]] = {
    "retry": ("tenacity", "backoff", "stamina", "retrying", "urllib3.util.retry"),
    "circuit breaker": ("pybreaker", "aiobreaker", "circuitbreaker", "purgatory"),
}


def _error_test(test: _Test) -> str | None:
    """Why ``test`` exercises an error path (None when it does not)."""
    item, module = test.item, test.module
    raises = [c for c in module.calls if item.line <= c.line <= item.end_line and c.tail in _RAISES]
    if raises:
        return "asserts a raise"
    statuses = [s for s, line in module.statuses if item.line <= line <= item.end_line]
    if statuses:
        return f"asserts status {statuses[0]}"
    if _ERROR_NAME.search(test.name):
        return "named for a failure"
    return None


def _mechanisms(ctx: AuditContext) -> dict[str, Evidence]:
    """Resilience mechanisms the source defines (real bodies) or imports."""
    found: dict[str, Evidence] = {}
    for kind, pattern in _MECHANISMS.items():
        for module, item in ctx.py.defs(pattern, kinds=("function", "class", "method")):
            if not item.stub and not is_auxiliary(module.path):
                found[kind] = Evidence(module.path, item.line, "code", f"{kind}: {item.name}")
                break
    for kind, prefixes in _MECHANISM_IMPORTS.items():
        if kind not in found:
            for module, imported in ctx.py.imports(*prefixes):
                found[kind] = Evidence(
                    module.path, imported.line, "code", f"{kind}: {imported.module}"
                )
                break
    return found


def _covers(kind: str, tests: list[_Test], ctx: AuditContext, mechanism: Evidence) -> bool:
    pattern = _MECHANISMS[kind]
    if any(pattern.search(t.name) for t in tests):
        return True
    # A test module that uses the mechanism's own name (``CircuitBreaker``) and has an
    # error-path test exercises it.
    name = mechanism.note.split(": ", 1)[-1].rsplit(".", 1)[-1]
    return any(name in t.module.names and _error_test(t) for t in tests)


@check(
    id="testing.error-paths",
    category="testing",
    title="Failure, fallback and timeout paths are tested",
    severity="medium",
    effort="M",
    impact=(
        "The code that runs when a provider times out, a key is wrong or a breaker opens "
        "is exactly the code that never runs in a happy-path suite: it fails for the "
        "first time during the outage it was written for."
    ),
    recommendation=(
        "Test every failure mode on purpose: inject timeouts and errors into provider "
        "clients, assert `pytest.raises` and 4xx/5xx responses, and test that retries, "
        "fallbacks and circuit breakers do what they claim."
    ),
    depends_on=("testing.test-suite",),
)
def error_paths(ctx: AuditContext) -> Outcome:
    """Share of tests on error paths, and each resilience mechanism exercised by a test."""
    tests, _ = _tests(ctx)
    if not tests:
        return Outcome("unknown", 0, "no Python tests to judge (see testing.test-suite)")
    errors = [(t, why) for t in tests if (why := _error_test(t)) is not None]
    share = len(errors) / len(tests)
    score = 60 * min(1.0, share / 0.15)
    mechanisms = _mechanisms(ctx)
    covered = {k for k, e in mechanisms.items() if _covers(k, tests, ctx, e)}
    if mechanisms:
        score += 40 * len(covered) / len(mechanisms)
    elif errors:
        score += 40
    evidence = [
        Evidence(t.module.path, t.item.line, "test", f"{t.name}: {why}") for t, why in errors
    ]
    gaps = [
        f"{e.location}: {kind} ({e.note.split(': ', 1)[1]}) is not exercised by any test"
        for kind, e in mechanisms.items()
        if kind not in covered
    ]
    if share < 0.15:
        gaps.insert(0, f"only {len(errors)} of {len(tests)} tests exercise an error path")
    final = round(score)
    status: Status = "pass" if final >= 75 else "warn" if final >= 35 else "fail"
    summary = f"{len(errors)} of {len(tests)} tests exercise error paths" + (
        f"; mechanisms tested: {', '.join(sorted(covered))}" if covered else ""
    )
    uncovered = [e for k, e in mechanisms.items() if k not in covered]
    return Outcome(
        status,
        final,
        summary,
        tuple((evidence[:6] + uncovered)[:8]),
        strengths=tuple(f"{kind} is tested" for kind in sorted(covered)),
        gaps=tuple(gaps),
    )
