"""Checks: the running deployment (``--url``), judged from `readiness.live.LiveProbe`.

Every check here is registered with ``live=True``: it runs only when a URL is given. The
evidence is the URL of each probe (``strength="live"``), with what it answered. When the
URL does not answer at all, `live.reachable` fails (critical) and every other live check
is ``unknown``: nothing can be said about endpoints that could not be reached, and
counting them as failures would bury the one real finding under nine echoes of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from readiness.live import Exchange, LiveProbe
from readiness.liveparse import FAILING_STATES, components, stack_trace
from readiness.model import Evidence, Outcome, Status
from readiness.registry import check

if TYPE_CHECKING:
    from readiness.context import AuditContext

__all__ = [
    "LATENCY_FAIL_MS",
    "LATENCY_PASS_MS",
    "auth_enforced",
    "error_leaks",
    "health_endpoint",
    "latency",
    "metrics_exposition",
    "openapi",
    "rate_limiting",
    "reachable",
    "readiness_endpoint",
    "security_headers",
]

#: p95 of the health endpoint: at most this passes ...
LATENCY_PASS_MS = 500.0
#: ... at most this warns, above it fails.
LATENCY_FAIL_MS = 2000.0

_AFTER_REACHABLE = ("live.reachable",)
_LOGIN = re.compile(r"log-?in|sign-?in|auth|sso|oauth", re.IGNORECASE)
_VERSION = re.compile(r"\d+\.\d+")


def _ev(exchange: Exchange, note: str = "") -> Evidence:
    detail = exchange.describe()
    return Evidence(exchange.url, 0, "live", f"{detail}; {note}" if note else detail)


def _probe(ctx: AuditContext) -> LiveProbe | Outcome:
    """The probe, or the `unknown` outcome every live check gives without one."""
    probe = ctx.live
    if probe is None:
        return Outcome("unknown", 0, "no --url given: the running service was not probed")
    if not probe.reachable:
        return Outcome(
            "unknown",
            0,
            f"not probed: {probe.url} did not answer (see live.reachable)",
            (_ev(probe.root),),
        )
    return probe


def _statuses(exchanges: Iterable[Exchange]) -> str:
    """``/ready 500, /readyz 404`` (the paths and what each answered)."""
    return ", ".join(
        f"{urlsplit(e.url).path or '/'} {e.status if e.status is not None else 'no answer'}"
        for e in exchanges
    )


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


# --- reachability ---------------------------------------------------------------------------
@check(
    id="live.reachable",
    category="resilience",
    title="Service answers at the given URL",
    severity="critical",
    effort="S",
    weight=0.5,
    impact="Clients get connection errors, and nothing else about the deployment can be "
    "verified while the URL does not answer.",
    recommendation="Check that the service runs and listens on the published port, then DNS, "
    "TLS and the load balancer listener; re-run with the URL clients actually use.",
    live=True,
)
def reachable(ctx: AuditContext) -> Outcome:
    """The URL answers HTTP at all (any status)."""
    probe = ctx.live
    if probe is None:
        return Outcome("unknown", 0, "no --url given: the running service was not probed")
    root = probe.root
    if not probe.reachable:
        return Outcome(
            "fail",
            0,
            f"{probe.url} did not answer: {root.error}",
            (_ev(root),),
            gaps=(f"no HTTP answer from {probe.url}",),
        )
    if root.status in (502, 503, 504) and probe.health_endpoint() is None:
        return Outcome(
            "warn",
            50,
            f"{root.url} answered {root.status} and no health endpoint answers: a gateway "
            "answers, the service behind it does not",
            (_ev(root),),
            gaps=(f"{probe.url} answers {root.status}",),
        )
    return Outcome(
        "pass",
        100,
        f"{root.url} answered {root.status} in {root.elapsed_ms:.0f} ms",
        (_ev(root),),
        strengths=(f"the deployment answers at {probe.url}",),
    )


# --- health and readiness -------------------------------------------------------------------
@check(
    id="live.health-endpoint",
    category="resilience",
    title="Liveness endpoint answers",
    severity="high",
    effort="S",
    impact="Without a liveness endpoint an orchestrator or load balancer cannot tell a hung "
    "process from a healthy one: dead instances keep receiving traffic.",
    recommendation="Serve GET /healthz (or /health, /livez) without credentials, answering 200 "
    "from the process itself (no dependency calls), and point the liveness probe at it.",
    depends_on=_AFTER_REACHABLE,
    live=True,
)
def health_endpoint(ctx: AuditContext) -> Outcome:
    """A health/liveness path answers a genuine 2xx."""
    probe = _probe(ctx)
    if isinstance(probe, Outcome):
        return probe
    evidence = tuple(_ev(e) for e in probe.health)
    good = probe.health_endpoint()
    if good is not None:
        return Outcome(
            "pass",
            100,
            f"{good.url} answered {good.status} in {good.elapsed_ms:.0f} ms",
            (_ev(good), *(e for e in evidence if e.path != good.url)),
            strengths=(f"liveness endpoint at {good.url}",),
        )
    # A 401 counts even when every path answers 401: the probe cannot use it either way.
    guarded = [e for e in probe.health if e.status in (401, 403)]
    there = [e for e in probe.health if probe.exists(e)]
    if guarded:
        return Outcome(
            "warn",
            50,
            f"{guarded[0].url} needs credentials ({guarded[0].status}): probes cannot use it",
            evidence,
            gaps=("the health endpoint is behind authentication",),
        )
    if there:
        state = components(there[0].json())
        down = sorted(k for k, v in state.items() if v in FAILING_STATES)
        extra = f" ({', '.join(down)} down)" if down else ""
        return Outcome(
            "warn",
            50,
            f"{there[0].url} reports unhealthy: {there[0].status}{extra}",
            evidence,
            gaps=(f"the health endpoint answers {there[0].status}",),
        )
    catch = " (every path answers 2xx: a catch-all)" if probe.catch_all else ""
    return Outcome(
        "fail",
        0,
        f"no liveness endpoint: {_statuses(probe.health)}{catch}",
        evidence,
        gaps=("no health endpoint answers",),
    )


@check(
    id="live.readiness-endpoint",
    category="resilience",
    title="Readiness endpoint reports dependencies",
    severity="high",
    effort="S",
    impact="Without a readiness endpoint, instances receive traffic before their database, "
    "cache or model is usable, and keep receiving it while a dependency is down.",
    recommendation="Serve GET /readyz: 200 when every dependency the service needs answers, "
    "503 with a JSON body naming the failing components otherwise; use it as the readiness "
    "probe and keep liveness separate.",
    depends_on=_AFTER_REACHABLE,
    live=True,
)
def readiness_endpoint(ctx: AuditContext) -> Outcome:
    """A readiness path answers 2xx, or 503 naming the components that are not ready."""
    probe = _probe(ctx)
    if isinstance(probe, Outcome):
        return probe
    evidence = tuple(_ev(e) for e in probe.readiness)
    for answer in probe.readiness:
        if not probe.exists(answer) and answer.status not in (401, 403):
            continue
        named = components(answer.json())
        listed = ", ".join(f"{k}: {v}" for k, v in sorted(named.items()))
        first = (_ev(answer, f"components {listed}" if listed else ""),)
        rest = tuple(e for e in evidence if e.path != answer.url)
        if answer.ok:
            detail = f" naming {len(named)} components" if named else ""
            return Outcome(
                "pass",
                100,
                f"{answer.url} answered {answer.status}{detail}",
                first + rest,
                strengths=(f"readiness endpoint at {answer.url}",),
            )
        if answer.status == 503 and named:
            down = sorted(k for k, v in named.items() if v in FAILING_STATES) or sorted(named)
            return Outcome(
                "pass",
                90,
                f"{answer.url} answered 503 naming its components: not ready now "
                f"({', '.join(down)})",
                first + rest,
                strengths=(f"readiness endpoint at {answer.url} names failing components",),
                notes=(f"the service reported not ready during the audit: {', '.join(down)}",),
            )
        if answer.status in (401, 403):
            summary = f"{answer.url} needs credentials ({answer.status}): probes cannot use it"
            return Outcome("warn", 50, summary, first + rest, gaps=(summary,))
        summary = f"{answer.url} answered {answer.status} without naming what is not ready"
        return Outcome("warn", 40 if answer.status != 503 else 60, summary, first + rest)
    health = probe.health_endpoint()
    named = components(health.json()) if health is not None else {}
    if health is not None and named:
        return Outcome(
            "warn",
            50,
            f"no readiness endpoint ({_statuses(probe.readiness)}); {health.url} reports "
            f"{len(named)} components, so liveness and readiness share one probe",
            (_ev(health), *evidence),
            gaps=("liveness and readiness are one endpoint: a dependency outage restarts pods",),
        )
    return Outcome(
        "fail",
        0,
        f"no readiness endpoint: {_statuses(probe.readiness)}",
        evidence,
        gaps=("no readiness endpoint answers",),
    )


# --- metrics ---------------------------------------------------------------------------------
@check(
    id="live.metrics-exposition",
    category="observability",
    title="Valid Prometheus exposition at /metrics",
    severity="high",
    effort="S",
    impact="Without a scrapeable, valid exposition there are no request rates, error rates or "
    "latency histograms to alert on: outages are found by users first.",
    recommendation="Expose /metrics with prometheus_client (or the framework's exporter), "
    "validate it with promtool check metrics in CI, and scrape it.",
    depends_on=_AFTER_REACHABLE,
    live=True,
)
def metrics_exposition(ctx: AuditContext) -> Outcome:
    """``/metrics`` parses with the Prometheus text parser and has metric families."""
    probe = _probe(ctx)
    if isinstance(probe, Outcome) or not probe.metrics:
        return probe if isinstance(probe, Outcome) else Outcome("unknown", 0, "not probed")
    answer = probe.metrics[-1]
    evidence = tuple(_ev(e) for e in probe.metrics)
    scan = probe.metrics_scan
    if scan is not None and scan.error is not None:
        return Outcome(
            "fail",
            10,
            f"{answer.url} is not a valid {scan.format} exposition: {scan.error}",
            (_ev(answer, scan.error),),
            gaps=("the metrics exposition does not parse: Prometheus drops the whole scrape",),
        )
    if scan is not None and scan.families == 0:
        return Outcome("warn", 40, f"{answer.url} parses but exposes no metric", evidence)
    if scan is not None:
        names = ", ".join(scan.names[:5])
        return Outcome(
            "pass",
            100,
            f"{answer.url}: valid {scan.format} exposition, {scan.families} metric families, "
            f"{scan.samples} samples",
            (_ev(answer, f"e.g. {names}"),),
            strengths=(f"Prometheus metrics at {answer.url}",),
        )
    if answer.status in (401, 403):
        if answer.credentials:
            return Outcome(
                "warn",
                50,
                f"{answer.url} refused the given headers too ({answer.status}): not validated",
                evidence,
            )
        return Outcome(
            "unknown",
            0,
            f"{answer.url} needs credentials ({answer.status}); give --header to validate it",
            evidence,
        )
    catch = " like every other path: a catch-all" if answer.ok else ""
    return Outcome(
        "fail",
        0,
        f"no Prometheus exposition at {answer.url} ({answer.status or answer.error}{catch}); "
        "a separate metrics port cannot be seen from here",
        evidence,
        gaps=("no /metrics endpoint",),
    )


# --- OpenAPI ---------------------------------------------------------------------------------
@check(
    id="live.openapi",
    category="documentation",
    title="OpenAPI document served",
    severity="medium",
    effort="S",
    impact="Without a machine-readable contract, clients are written against guesses and "
    "breaking changes go unnoticed until they break someone.",
    recommendation="Serve the OpenAPI document (/openapi.json), check it in CI (schema "
    "validation or contract tests), and publish it with the API docs.",
    depends_on=_AFTER_REACHABLE,
    live=True,
)
def openapi(ctx: AuditContext) -> Outcome:
    """An OpenAPI/Swagger document with a version and paths is served."""
    probe = _probe(ctx)
    if isinstance(probe, Outcome):
        return probe
    doc = probe.openapi_doc
    evidence = tuple(_ev(e) for e in probe.openapi if probe.exists(e) or e.ok)
    served = next((e for e in reversed(probe.openapi) if probe.found(e)), None)
    if doc is not None and served is not None:
        if not doc.valid:
            return Outcome(
                "fail",
                20,
                f"{served.url} is not an OpenAPI document: {doc.error}",
                (_ev(served, doc.error or ""),),
                gaps=("the served API document is invalid",),
            )
        counts = f"OpenAPI {doc.version}, {doc.paths} paths, {len(doc.operations)} operations"
        if doc.paths == 0:
            return Outcome("warn", 50, f"{served.url}: {counts}", (_ev(served, counts),))
        return Outcome(
            "pass",
            100,
            f"{served.url}: {counts}",
            (_ev(served, counts),),
            strengths=(f"API contract served at {served.url}",),
        )
    guarded = next((e for e in probe.openapi if e.status in (401, 403)), None)
    if guarded is not None:
        return Outcome(
            "unknown",
            0,
            f"{guarded.url} needs credentials ({guarded.status}); give --header to check it",
            evidence or (_ev(guarded),),
        )
    return Outcome(
        "fail",
        0,
        f"no OpenAPI document: {_statuses(probe.openapi)}",
        tuple(_ev(e) for e in probe.openapi),
        gaps=("no OpenAPI document is served",),
    )


# --- security --------------------------------------------------------------------------------
def _refused(exchange: Exchange) -> bool:
    """Refused for lack of credentials: 401/403, or a redirect to a login page."""
    if exchange.status in (401, 403):
        return True
    location = exchange.header("location") or ""
    return exchange.status in (301, 302, 303, 307, 308) and bool(_LOGIN.search(location))


@check(
    id="live.auth-enforced",
    category="security",
    title="Endpoints refuse requests without credentials",
    severity="critical",
    effort="M",
    weight=1.5,
    impact="Anyone who can reach the URL can read data and spend model capacity: an open "
    "endpoint is a data leak and a cost incident waiting to happen.",
    recommendation="Require an API key or token on every non-probe route (one dependency or "
    "middleware, deny by default), answer 401 without one, and test it in CI.",
    depends_on=_AFTER_REACHABLE,
    live=True,
)
def auth_enforced(ctx: AuditContext) -> Outcome:
    """Endpoints that should be protected answer 401/403 without credentials."""
    probe = _probe(ctx)
    if isinstance(probe, Outcome):
        return probe
    source = "the OpenAPI document" if probe.auth_source == "openapi" else "common API paths"
    opened = [e for e in probe.auth if probe.found(e)]
    refused = [e for e in probe.auth if _refused(e)]
    accepted = [e for e in probe.authed if e.ok]
    notes: tuple[str, ...] = ()
    if probe.authed and not accepted:
        notes = ("the given headers were refused too: check the key passed with --header",)
    if opened:
        return Outcome(
            "fail",
            round(40 * len(refused) / len(probe.auth)),
            f"{len(opened)} of {len(probe.auth)} endpoints from {source} answered "
            f"{opened[0].status} without credentials: {', '.join(e.url for e in opened)}",
            tuple(_ev(e, "no credentials sent") for e in (*opened, *refused)),
            gaps=tuple(f"{e.url} is open to anonymous callers" for e in opened),
            severity="critical",
            notes=notes,
        )
    if refused:
        strengths = [f"{len(refused)} endpoints refuse anonymous requests"]
        if accepted:
            strengths.append("the given credentials are accepted")
        return Outcome(
            "pass",
            100,
            f"{len(refused)} of {len(probe.auth)} endpoints from {source} refused requests "
            f"without credentials ({_statuses(refused)})",
            tuple(_ev(e, "no credentials sent") for e in refused)
            + tuple(_ev(e) for e in probe.authed),
            strengths=tuple(strengths),
            notes=notes,
        )
    unknown = probe.unknown
    if unknown is not None and unknown.status in (401, 403):
        return Outcome(
            "pass",
            90,
            f"credentials are required in front of every route: even {unknown.url} "
            f"answered {unknown.status}",
            (_ev(unknown, "no credentials sent"),),
            strengths=("authentication is enforced before routing",),
        )
    if not probe.auth:
        return Outcome(
            "unknown",
            0,
            "found no endpoint to test: no GET operation outside the probes in an OpenAPI "
            "document, and none of the common API paths exists",
        )
    return Outcome(
        "unknown",
        0,
        f"no conclusive answer from {source}: {_statuses(probe.auth)}",
        tuple(_ev(e, "no credentials sent") for e in probe.auth),
    )


@check(
    id="live.rate-limiting",
    category="security",
    title="Rate limiting answers 429 to a burst",
    severity="high",
    effort="M",
    impact="One client (a loop, a scraper, a leaked key) can take all the capacity and run up "
    "the model bill; everyone else gets timeouts instead of a clear 429.",
    recommendation="Limit requests per key and per client IP (token bucket) in the service or "
    "the gateway; answer 429 with Retry-After, and exempt only the health probes.",
    depends_on=_AFTER_REACHABLE,
    live=True,
)
def rate_limiting(ctx: AuditContext) -> Outcome:
    """A burst of requests without pauses gets some 429 answers."""
    probe = _probe(ctx)
    if isinstance(probe, Outcome):
        return probe
    burst = probe.burst
    if burst is None or burst.unanswered == burst.sent:
        return Outcome("unknown", 0, "the burst got no answer")
    how = " with the given headers" if burst.credentials else ""
    sent = f"{burst.sent} requests{how} in {_duration(burst.elapsed_ms)} "
    sent += f"({burst.rate_per_s:.0f}/s)"
    ev = Evidence(burst.url, 0, "live", f"burst of {sent}: {burst.limited} answered 429")
    if burst.limited:
        retry = burst.retry_after
        detail = f"Retry-After: {retry}" if retry is not None else "no Retry-After header"
        return Outcome(
            "pass",
            100 if retry is not None else 80,
            f"{burst.limited} of {sent} answered 429 (first at request "
            f"{burst.first_limited}; {detail})",
            (ev,),
            strengths=("rate limiting answers 429 to a burst",),
            gaps=() if retry is not None else ("429 answers carry no Retry-After",),
        )
    errors = f"; {burst.server_errors} answered 5xx" if burst.server_errors else ""
    if burst.shed_retry_after is not None:
        return Outcome(
            "warn",
            50,
            f"no 429 in {sent}, but the service shed load with 503 + Retry-After{errors}",
            (ev,),
            gaps=("overload is shed, but no client is limited on its own",),
        )
    return Outcome(
        "fail",
        0,
        f"none of {sent} answered 429{errors}",
        (ev,),
        gaps=(f"no rate limit at {burst.url}",),
    )


def _header_findings(answer: Exchange, https: bool) -> list[tuple[str, str | None]]:
    """(what is checked, the problem found or None), one per header rule."""
    csp = answer.header("content-security-policy") or ""
    frame = (answer.header("x-frame-options") or "").strip().upper()
    nosniff = (answer.header("x-content-type-options") or "").strip().lower() == "nosniff"
    rules: list[tuple[str, bool]] = [
        ("X-Content-Type-Options: nosniff", nosniff),
        (
            "X-Frame-Options or CSP frame-ancestors",
            frame in ("DENY", "SAMEORIGIN") or "frame-ancestors" in csp,
        ),
        ("Content-Security-Policy", bool(csp)),
        ("Referrer-Policy", bool(answer.header("referrer-policy"))),
    ]
    if https:
        hsts = answer.header("strict-transport-security") or ""
        rules.append(("Strict-Transport-Security", "max-age=" in hsts and "max-age=0" not in hsts))
    findings: list[tuple[str, str | None]] = [
        (name, None if ok else f"missing {name}") for name, ok in rules
    ]
    server = answer.header("server") or ""
    powered = answer.header("x-powered-by")
    banner = (
        f"X-Powered-By: {powered}"
        if powered is not None
        else f"Server: {server}"
        if _VERSION.search(server)
        else None
    )
    findings.append(("no version banner", f"version banner {banner}" if banner else None))
    return findings


@check(
    id="live.security-headers",
    category="security",
    title="Security headers on responses",
    severity="medium",
    effort="S",
    impact="Missing headers leave browsers free to sniff content types, frame the app "
    "(clickjacking) and leak URLs in referrers; a version banner tells attackers which "
    "CVEs to try.",
    recommendation="Add nosniff, frame-ancestors/X-Frame-Options DENY, a Content-Security-"
    "Policy, Referrer-Policy and (behind TLS) HSTS in one middleware or at the proxy; drop "
    "version banners.",
    depends_on=_AFTER_REACHABLE,
    live=True,
)
def security_headers(ctx: AuditContext) -> Outcome:
    """The root (or health) response carries the usual security headers."""
    probe = _probe(ctx)
    if isinstance(probe, Outcome):
        return probe
    answer = probe.root
    https = probe.url.lower().startswith("https://")
    findings = _header_findings(answer, https)
    good = [name for name, problem in findings if problem is None]
    problems = [problem for _, problem in findings if problem is not None]
    score = round(100 * len(good) / len(findings))
    status: Status = "pass" if not problems else "warn" if score >= 50 else "fail"
    plain = () if https else ("served over plain HTTP: HSTS not judged; terminate TLS in front",)
    summary = f"{len(good)} of {len(findings)} header checks pass on {answer.url}"
    if problems:
        summary += f"; {'; '.join(problems)}"
    return Outcome(
        status,
        score,
        summary,
        (_ev(answer, "; ".join(problems) if problems else "all present"),),
        strengths=tuple(good),
        gaps=tuple(problems),
        notes=plain,
    )


@check(
    id="live.error-leaks",
    category="security",
    title="Error responses leak no stack traces",
    severity="high",
    effort="S",
    impact="A stack trace in a response hands attackers file paths, library versions and "
    "code structure, and often secrets from local variables.",
    recommendation="Turn debug mode off in production and answer errors with a generic JSON "
    "body (an error code and a request id); log the trace server-side.",
    depends_on=_AFTER_REACHABLE,
    live=True,
)
def error_leaks(ctx: AuditContext) -> Outcome:
    """No response body carries a stack trace; an unknown path gets a clean 404."""
    probe = _probe(ctx)
    if isinstance(probe, Outcome):
        return probe
    leaks = [(e, kind) for e in probe.exchanges if (kind := stack_trace(e.body)) is not None]
    if leaks:
        return Outcome(
            "fail",
            0,
            f"{len(leaks)} responses leak stack traces ({leaks[0][1]} at {leaks[0][0].url})",
            tuple(_ev(e, kind) for e, kind in leaks[:8]),
            gaps=("stack traces are returned to clients",),
        )
    count = len(probe.exchanges)
    unknown = probe.unknown
    if unknown is None or unknown.status is None:
        return Outcome("pass", 90, f"no stack trace in {count} responses")
    ev = (_ev(unknown, "an unknown path"),)
    if unknown.status >= 500:
        return Outcome(
            "warn",
            50,
            f"an unknown path answered {unknown.status} (no stack trace in {count} responses)",
            ev,
            gaps=("unknown paths are server errors, not 404",),
        )
    shape = "JSON" if unknown.json() is not None else unknown.content_type or "no body"
    summary = f"no stack trace in {count} responses; an unknown path answered {unknown.status}"
    summary += f" ({shape})"
    notes = () if shape == "JSON" else ("error bodies are not JSON",)
    if unknown.ok:
        notes = (*notes, "unknown paths answer 2xx (a catch-all): clients cannot tell a typo")
    score = 100 if shape == "JSON" and not unknown.ok else 90 if not unknown.ok else 80
    return Outcome(
        "pass", score, summary, ev, strengths=("errors leak no stack traces",), notes=notes
    )


# --- performance -----------------------------------------------------------------------------
@check(
    id="live.latency",
    category="performance",
    title="Health endpoint p95 latency",
    severity="high",
    effort="L",
    impact="When even the cheapest endpoint is slow, the process is saturated or blocked: "
    "every request waits, and probes start timing out and restarting instances.",
    recommendation="Find what blocks the event loop or saturates workers (profiling, "
    "per-endpoint histograms), scale out, and set a p95 latency SLO with an alert.",
    depends_on=_AFTER_REACHABLE,
    live=True,
)
def latency(ctx: AuditContext) -> Outcome:
    """p95 over the sequential health requests: <= 500 ms passes, <= 2 s warns."""
    probe = _probe(ctx)
    if isinstance(probe, Outcome):
        return probe
    lat = probe.latency
    if lat is None or lat.p50_ms is None or lat.p95_ms is None:
        return Outcome("unknown", 0, "no latency request was answered")
    what = "health endpoint" if probe.health_endpoint() is not None else "root (no health endpoint)"
    summary = (
        f"{what} p50 {lat.p50_ms:.1f} ms, p95 {lat.p95_ms:.1f} ms over {lat.answered} requests"
    )
    evidence = [Evidence(lat.url, 0, "live", f"p50 {lat.p50_ms} ms, p95 {lat.p95_ms} ms")]
    authed = probe.authed_latency
    if authed is not None and authed.p50_ms is not None:
        summary += (
            f"; authenticated {authed.url}: p50 {authed.p50_ms:.1f} ms, p95 {authed.p95_ms:.1f} ms"
        )
        evidence.append(
            Evidence(
                authed.url,
                0,
                "live",
                f"with credentials: p50 {authed.p50_ms} ms, p95 {authed.p95_ms} ms",
            )
        )
    p95 = lat.p95_ms
    status: Status
    if p95 <= LATENCY_PASS_MS:
        status, score = "pass", 100
    elif p95 <= LATENCY_FAIL_MS:
        share = (p95 - LATENCY_PASS_MS) / (LATENCY_FAIL_MS - LATENCY_PASS_MS)
        status, score = "warn", round(90 - 40 * share)
    else:
        status, score = "fail", 20
    gaps: tuple[str, ...] = ()
    if lat.failures:
        summary += f"; {lat.failures} of {len(lat.statuses)} failed (5xx or no answer)"
        gaps = (f"{lat.failures} failed requests to {lat.url}",)
        if status == "pass":
            status, score = "warn", 70
    if status != "pass":
        gaps = (*gaps, f"p95 {p95:.0f} ms on {lat.url}") if p95 > LATENCY_PASS_MS else gaps
    return Outcome(
        status,
        score,
        summary,
        tuple(evidence),
        strengths=(f"p95 {p95:.0f} ms on the {what}",) if status == "pass" else (),
        gaps=gaps,
    )
