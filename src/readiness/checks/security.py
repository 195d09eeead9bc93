"""Checks: security and compliance (secrets, authentication, abuse limits, static analysis).

Secrets are judged, not matched: a placeholder is not a leak, a real provider format or
a long random value is, wherever it sits (see `readiness.checks._secrets`); values are
only ever reported masked. Authentication is followed from each route to what guards it
(see `readiness.checks._auth`). detect-secrets and bandit are used when installed; without
them the auditor's own rules run and the outcome says so.
"""

from __future__ import annotations

import hashlib
import re

from readiness.checks._auth import auth_map, is_public_path
from readiness.checks._code import (
    is_auxiliary,
    named_defs,
    production,
    resolved_calls,
    web_service,
)
from readiness.checks._secrets import (
    config_secrets,
    is_lenient_path,
    judge,
    mask,
    provider_matches,
    secret_name,
)
from readiness.context import AuditContext, grade
from readiness.model import Evidence, Outcome, Strength
from readiness.registry import check
from readiness.repo import is_doc, is_test_path

__all__ = [
    "endpoint_auth",
    "hardcoded_secrets",
    "rate_limiting",
    "static_analysis",
]

_BINARYISH = re.compile(r"\.(png|jpe?g|gif|ico|pdf|zip|gz|whl|so|pyc|woff2?|ttf|gguf|bin)$")


# --- security.hardcoded-secrets ---------------------------------------------------------
class _Found:
    """A judged secret candidate (the raw value is kept here only, never reported)."""

    __slots__ = ("line", "name", "path", "reason", "source", "value", "verdict")

    def __init__(self, path: str, line: int, name: str, value: str, source: str) -> None:
        self.path = path
        self.line = line
        self.name = name
        self.value = value
        self.source = source
        self.verdict, self.reason = judge(value)

    def evidence(self) -> Evidence:
        strength: Strength = (
            "test" if is_test_path(self.path) else "docs" if is_doc(self.path) else "code"
        )
        if not self.path.endswith(".py") and strength == "code":
            strength = "config"
        what = f"{self.name} = " if self.name else ""
        note = f"{self.source}: {what}{mask(self.value)} ({self.reason})"
        return Evidence(self.path, self.line, strength, note)


def _recover(line: str, digest: str) -> str | None:
    """The secret on ``line`` whose SHA-1 detect-secrets reported (never stored by it)."""
    candidates: set[str] = set(re.findall(r"""["']([^"'\s]{4,})["']""", line))
    candidates.update(re.findall(r"[^\s\"'=:,;()\[\]{}<>`]{4,}", line))
    for match in re.finditer(r"://[^:/@\s]*:([^@/\s]+)@", line):
        candidates.add(match.group(1))
    for candidate in candidates:
        if hashlib.sha1(candidate.encode("utf-8"), usedforsecurity=False).hexdigest() == digest:
            return candidate
    return None


def _secret_candidates(ctx: AuditContext) -> tuple[list[_Found], list[str]]:
    found: dict[tuple[str, int], _Found] = {}

    def add(item: _Found) -> None:
        key = (item.path, item.line)
        known = found.get(key)
        order = {"real": 0, "possible": 1, "placeholder": 2}
        if known is None or order[item.verdict] < order[known.verdict]:
            found[key] = item

    for module in ctx.py.modules:
        for literal in module.secrets:
            if secret_name(literal.name):
                add(_Found(module.path, literal.line, literal.name, literal.value, "literal"))
    texts = [p for p in ctx.repo.files if not _BINARYISH.search(p)]
    for path, line, provider, value in provider_matches(ctx.repo, texts):
        add(_Found(path, line, provider, value, "key format"))
    for item in config_secrets(ctx.repo):
        add(_Found(item.path, item.line, item.name, item.value, item.where))
    notes: list[str] = []
    analysers = ctx.analysers
    result = analysers.result("detect-secrets") if analysers is not None else None
    if result is None:
        notes.append(
            "detect-secrets did not run ("
            + ("analysers disabled" if analysers is None else "see the analysers' status")
            + "): secrets were searched with the auditor's own rules only"
        )
    else:
        for finding in result.findings:
            lines = ctx.repo.lines(finding.path)
            text = lines[finding.line - 1] if 0 < finding.line <= len(lines) else ""
            recovered = _recover(text, finding.digest)
            if recovered is not None and (finding.path, finding.line) not in found:
                add(_Found(finding.path, finding.line, finding.rule, recovered, "detect-secrets"))
    return sorted(found.values(), key=lambda f: (f.path, f.line)), notes


@check(
    id="security.hardcoded-secrets",
    category="security",
    title="No hard-coded secrets",
    severity="critical",
    effort="M",
    weight=3.0,
    impact=(
        "A key committed to the repository is in every clone, fork, CI log and backup of "
        "it, forever; anyone who reads it can spend on the account or read its data."
    ),
    recommendation=(
        "Revoke and rotate each listed key now (removing it from the code is not enough), "
        "load secrets from the environment or a secret manager, and add detect-secrets as "
        "a pre-commit hook and CI step so the next one is stopped before the push."
    ),
)
def hardcoded_secrets(ctx: AuditContext) -> Outcome:
    """Real-looking secrets anywhere (critical); weak credentials in source (warn)."""
    candidates, notes = _secret_candidates(ctx)
    leaks = [f for f in candidates if f.verdict == "real"]
    # A weak credential matters where the service runs, not in tests, docs or tooling.
    weak = [
        f
        for f in candidates
        if f.verdict == "possible" and not is_lenient_path(f.path) and not is_auxiliary(f.path)
    ]
    ignored = len(candidates) - len(leaks) - len(weak)
    tail = f"; {ignored} placeholder or example value(s) ignored" if ignored else ""
    if leaks:
        return Outcome(
            "fail",
            0,
            f"{len(leaks)} real-looking secret(s) committed (shown masked){tail}",
            tuple(f.evidence() for f in [*leaks, *weak][:12]),
            gaps=tuple(
                f"{f.path}:{f.line}: {f.name or 'a value'} looks like a real key ({f.reason})"
                for f in leaks[:5]
            ),
            severity="critical",
            notes=tuple(notes),
        )
    if weak:
        return Outcome(
            "warn",
            60,
            f"{len(weak)} hard-coded credential-like value(s) in source or configuration, "
            f"none in a real key format{tail}",
            tuple(f.evidence() for f in weak[:12]),
            gaps=("credentials are hard-coded rather than read from the environment",),
            severity="high",
            notes=tuple(notes),
        )
    return Outcome(
        "pass",
        100,
        f"no hard-coded secrets found{tail}",
        strengths=("no real-looking secret in source, configuration, tests or documents",),
        notes=tuple(notes),
    )


# --- security.endpoint-auth -------------------------------------------------------------
@check(
    id="security.endpoint-auth",
    category="security",
    title="Authentication on endpoints",
    severity="critical",
    effort="M",
    weight=3.0,
    impact=(
        "An endpoint without authentication serves anyone who can reach it: other "
        "tenants' data, the model's compute budget, and admin actions."
    ),
    recommendation=(
        "Put authentication on the router or application (a dependency on the "
        "APIRouter/include_router, or an auth middleware) so new routes are protected by "
        "default; keep only probes, metrics and docs public, and test that every other "
        "route answers 401 without a key."
    ),
)
def endpoint_auth(ctx: AuditContext) -> Outcome:
    """Share of non-public routes behind authentication (dependency, decorator, middleware)."""
    routes = auth_map(ctx)
    private = [r for r in routes.routes if not is_public_path(r.route.path)]
    if not routes.routes:
        return Outcome("unknown", 0, "no HTTP routes found in production code")
    if not private:
        return Outcome("unknown", 0, "only public routes (probes, metrics, docs) found")
    if routes.middleware:
        return Outcome(
            "pass",
            100,
            f"authentication middleware guards all {len(private)} non-public routes",
            routes.middleware[:4],
            strengths=("authentication is applied app-wide, so new routes are covered",),
        )
    open_routes = [r for r in private if r.guard is None]
    guarded = [r for r in private if r.guard is not None]
    share = len(guarded) / len(private)
    evidence = [
        Evidence(
            r.module.path,
            r.route.line,
            "code",
            f"{r.route.method} {r.route.path}: no authentication on the route, its router "
            "or the app",
        )
        for r in open_routes[:10]
    ]
    evidence += [g.guard for g in guarded[:4] if g.guard is not None]
    summary = f"{len(guarded)} of {len(private)} non-public routes require authentication"
    if not open_routes:
        return Outcome(
            "pass",
            100,
            summary,
            tuple(evidence),
            strengths=("every non-public route requires authentication",),
        )
    gaps = tuple(f"{r.route.method} {r.route.path} is open" for r in open_routes[:5])
    if share >= 0.75:
        return Outcome("warn", round(100 * share), summary, tuple(evidence), gaps=gaps)
    return Outcome("fail", round(100 * share), summary, tuple(evidence), gaps=gaps)


# --- security.rate-limiting -------------------------------------------------------------
_LIMITER_LIBS = (
    "slowapi",
    "fastapi_limiter",
    "limits",
    "flask_limiter",
    "aiolimiter",
    "ratelimit",
    "pyrate_limiter",
    "django_ratelimit",
)
_LIMITER_DEPS = (
    "slowapi",
    "fastapi-limiter",
    "limits",
    "flask-limiter",
    "aiolimiter",
    "ratelimit",
    "pyrate-limiter",
    "django-ratelimit",
)
_LIMITER_DEF = re.compile(
    r"rate_?limit|ratelimit|token_?bucket|leaky_?bucket|throttl|limiter", re.IGNORECASE
)


@check(
    id="security.rate-limiting",
    category="security",
    title="Rate limiting",
    severity="high",
    effort="M",
    weight=1.5,
    impact=(
        "Without limits one client (a bug, a scraper, a leaked key) can exhaust the model "
        "and the budget for everyone, and keys can be guessed at full speed."
    ),
    recommendation=(
        "Limit requests per key and per client IP (slowapi, fastapi-limiter or a token "
        "bucket in middleware), answer 429 with Retry-After, and count tokens as well as "
        "requests for LLM endpoints."
    ),
)
def rate_limiting(ctx: AuditContext) -> Outcome:
    """A rate limiter on the request path: a library used or an own limiter wired."""
    if not web_service(ctx):
        return Outcome("unknown", 0, "not an HTTP service: nothing to rate-limit")
    evidence: list[Evidence] = []
    for found in resolved_calls(ctx, _LIMITER_LIBS):
        evidence.append(
            Evidence(found.module.path, found.call.line, "wired", f"calls {found.qualified}")
        )
    own = named_defs(ctx, _LIMITER_DEF)
    wired = [item for item in own if item.state == "wired"]
    for item in wired or own:  # unused or stub limiters only matter when nothing is wired
        strength: Strength = "wired" if item.state == "wired" else "code"
        note = f"{item.item.kind} {item.item.name} ({item.state})"
        evidence.append(Evidence(item.module.path, item.item.line, strength, note))
    evidence += ctx.deps.evidence(*_LIMITER_DEPS)
    for module in ctx.py.tests:
        for status, line in module.statuses:
            if status == 429:
                evidence.append(Evidence(module.path, line, "test", "a test expects 429"))
    return grade(
        evidence,
        found="requests are rate-limited",
        missing="no rate limiting found (no limiter library or own limiter on the request path)",
    )


# --- security.static-analysis -----------------------------------------------------------
_SHELL_CALLS = frozenset({"run", "call", "check_call", "check_output", "Popen"})


def _own_rules(ctx: AuditContext) -> list[tuple[str, Evidence]]:
    """(severity, evidence) of the auditor's own unsafe-call rules (bandit's core ones)."""
    out: list[tuple[str, Evidence]] = []
    for module in production(ctx).modules:
        for call in module.calls:
            qualified = ctx.py.qualify(module, call.name)
            rule = ""
            severity = "high"
            if qualified in ("eval", "exec", "builtins.eval", "builtins.exec"):
                if call.args and call.args[0] is not None:
                    continue  # a literal string: not input
                rule = f"{qualified}() on a computed expression"
            elif qualified in ("os.system", "os.popen") or (
                qualified.startswith("subprocess.")
                and call.tail in _SHELL_CALLS
                and "shell" in call.on
            ):
                rule = f"{qualified}() runs a shell command line"
            elif qualified in ("yaml.load", "yaml.load_all") and "Loader" not in call.kwargs:
                rule = "yaml.load() without a safe Loader"
            elif qualified in ("pickle.loads", "pickle.load", "marshal.loads", "dill.loads"):
                rule = f"{qualified}() deserialises arbitrary objects"
            elif "verify" in call.off and call.tail in (
                "get",
                "post",
                "put",
                "patch",
                "delete",
                "request",
                "Client",
                "AsyncClient",
                "Session",
            ):
                rule, severity = f"{call.name}(verify=False) turns off TLS verification", "medium"
            elif call.tail == "run" and "debug" in call.on:
                # High, as bandit's B201 rates it: the Werkzeug debugger runs code sent to it.
                rule, severity = f"{call.name}(debug=True) serves the debugger", "high"
            if rule:
                out.append((severity, Evidence(module.path, call.line, "code", rule)))
    return out


@check(
    id="security.static-analysis",
    category="security",
    title="Static security analysis (bandit)",
    severity="high",
    effort="M",
    weight=1.5,
    impact=(
        "Shell injection, unsafe deserialisation and eval on input turn one crafted "
        "request into code execution on the server."
    ),
    recommendation=(
        "Fix each listed call (argument lists instead of shell=True, yaml.safe_load, JSON "
        "instead of pickle, no eval), and run bandit in CI so new ones fail the build."
    ),
)
def static_analysis(ctx: AuditContext) -> Outcome:
    """Bandit's high and medium findings in production code, or the auditor's own rules."""
    analysers = ctx.analysers
    result = analysers.result("bandit") if analysers is not None else None
    notes: tuple[str, ...] = ()
    if result is not None:
        tool = "bandit"
        findings = [
            (
                f.severity,
                Evidence(f.path, f.line, "code", f"{f.rule}: {f.message} ({f.confidence})"),
            )
            for f in result.findings
            if f.severity in ("high", "medium")
            and f.confidence in ("high", "medium")
            and not is_auxiliary(f.path)
        ]
    else:
        tool = "the auditor's own rules"
        findings = _own_rules(ctx)
        why = "analysers disabled" if analysers is None else "bandit not available"
        notes = (
            f"{why}: static analysis used the auditor's own rules (eval/exec, shell=True, "
            "yaml.load, pickle, verify=False, debug=True); pip install bandit for the full set",
        )
    if not production(ctx).modules:
        return Outcome("unknown", 0, "no production Python source to analyse", notes=notes)
    high = [e for s, e in findings if s == "high"]
    medium = [e for s, e in findings if s == "medium"]
    evidence = tuple([*high, *medium][:12])
    if high:
        return Outcome(
            "fail",
            max(0, 40 - 10 * (len(high) - 1)),
            f"{len(high)} high-severity and {len(medium)} medium-severity finding(s) ({tool})",
            evidence,
            gaps=tuple(e.note for e in high[:5]),
            notes=notes,
        )
    if medium:
        return Outcome(
            "warn",
            max(50, 80 - 5 * len(medium)),
            f"{len(medium)} medium-severity finding(s), none high ({tool})",
            evidence,
            notes=notes,
        )
    return Outcome(
        "pass",
        100,
        f"no high or medium severity findings ({tool})",
        strengths=(f"{tool} finds no unsafe calls in production code",),
        notes=notes,
    )
