"""Checks: infrastructure resilience (breakers, health, readiness, failover, degradation).

Judged from the AST facts of non-test Python: a breaker counts only when it has a real
body and source uses it; an endpoint only when a route registers it; a readiness probe
passes fully only when its handler asks its dependencies.
"""

from __future__ import annotations

import re

from readiness.checks._code import (
    Served,
    evidence_of,
    loop_state,
    name_words,
    named_defs,
    no_python,
    production,
    resolved_calls,
    served_routes,
    web_service,
)
from readiness.context import AuditContext, ranked
from readiness.model import Evidence, Outcome, Strength
from readiness.pyindex import Call, ModuleFacts
from readiness.registry import check

__all__ = [
    "check_circuit_breaker",
    "check_failover",
    "check_graceful_degradation",
    "check_health_endpoint",
    "check_readiness_endpoint",
]

# --- circuit breaker -----------------------------------------------------------------------
_BREAKER_LIBS = ("pybreaker", "aiobreaker", "circuitbreaker", "purgatory")
_BREAKER_PACKAGES = ("pybreaker", "aiobreaker", "circuitbreaker", "purgatory")
_BREAKER_WORDS = frozenset({"breaker", "breakers", "circuitbreaker"})


@check(
    id="resilience.circuit-breaker",
    category="resilience",
    title="Circuit breakers around failing dependencies",
    severity="high",
    effort="M",
    weight=1.25,
    depends_on=("llm.timeouts",),
    impact=(
        "Without a breaker, every request keeps waiting on a dependency that is down: "
        "timeouts stack up, threads and connections run out, and one slow model or "
        "database takes the whole service with it."
    ),
    recommendation=(
        "Wrap each model backend and remote dependency in a circuit breaker (pybreaker, "
        "aiobreaker, or your own) that opens after consecutive failures, fails fast while "
        "open and probes with half-open trials; export its state as a metric."
    ),
)
def check_circuit_breaker(ctx: AuditContext) -> Outcome:
    """A real breaker (library or own) that source uses."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    wired: list[Evidence] = []
    idle: list[Evidence] = []
    stubs: list[Evidence] = []
    for found in resolved_calls(ctx, _BREAKER_LIBS):
        note = f"uses {found.qualified}"
        wired.append(Evidence(found.module.path, found.call.line, "wired", note))
    for module in production(ctx).modules:
        for item in module.defs:
            if any(ctx.py.qualify(module, d).startswith(_BREAKER_LIBS) for d in item.decorators):
                note = f"{item.name} is decorated with a circuit breaker"
                wired.append(Evidence(module.path, item.line, "wired", note))
    if not wired:
        for module, imported in ctx.py.imports(*_BREAKER_LIBS):
            note = f"imports {imported.module} but never calls it"
            idle.append(Evidence(module.path, imported.line, "code", note))
    for named in named_defs(ctx, _BREAKER_WORDS):
        piece = evidence_of(named, "circuit breaker")
        {"wired": wired, "unused": idle, "stub": stubs}[named.state].append(piece)
    if wired:
        gaps = tuple(f"{e.location}: {e.note}" for e in stubs + idle)
        return Outcome(
            "pass",
            100,
            "a circuit breaker guards calls on a running path",
            ranked(wired + idle + stubs),
            strengths=("circuit breaker wired",),
            gaps=gaps,
        )
    if idle or stubs:
        gaps = tuple(f"{e.location}: {e.note}" for e in stubs + idle)
        if idle:
            summary = "a circuit breaker is defined but never called"
        else:
            summary = "the circuit breaker is a stub: it does nothing"
        return Outcome("fail", 15 if idle else 0, summary, ranked(stubs + idle), gaps=gaps)
    declared = ctx.deps.evidence(*_BREAKER_PACKAGES)
    if declared:
        return Outcome(
            "warn",
            45,
            "a circuit-breaker library is declared but not used in source",
            ranked(declared),
            gaps=("the declared breaker library guards nothing yet",),
        )
    return Outcome(
        "fail",
        0,
        "no circuit breaker: failing dependencies are called until they time out",
        gaps=("no circuit breaker around model backends or remote services",),
    )


# --- health and readiness endpoints ----------------------------------------------------------
_LIVENESS = re.compile(
    r"(^|/)(health|healthz|healthcheck|health-check|health_check|livez|live|liveness|alive|"
    r"ping|health/live|health/liveness|healthz/live)$",
    re.IGNORECASE,
)
_READINESS = re.compile(
    r"(^|/)(ready|readyz|readiness|health/ready|health/readiness|healthz/ready|"
    r"health/deep|status/ready)$",
    re.IGNORECASE,
)
#: Calls that ask a dependency how it is (a readiness handler that makes none of them
#: answers the same whatever the database or the model is doing).
_PROBES = frozenset(
    {
        "ping",
        "health",
        "healthcheck",
        "health_check",
        "check",
        "check_health",
        "is_ready",
        "ready",
        "readiness",
        "is_healthy",
        "is_alive",
        "execute",
        "fetchval",
        "fetchrow",
        "fetch",
        "scalar",
        "connect",
        "acquire",
        "info",
        "list_models",
        "models",
        "head",
        "exists",
        "gather",
        "probe",
        "status",
    }
)


def _route_path(path: str) -> str:
    return path.rstrip("/") or "/"


def _handler_calls(module: ModuleFacts, handler: str, line: int) -> list[Call] | None:
    """Calls in the route's handler and in the same-module functions it calls.

    One level deep; None when the handler cannot be found.
    """
    if not handler:
        return None
    defs = [d for d in module.defs if d.name == handler and d.kind != "class" and d.line >= line]
    if not defs:
        return None
    item = min(defs, key=lambda d: d.line)
    calls = [c for c in module.calls if item.line <= c.line <= item.end_line]
    helpers = {c.tail for c in calls}
    for other in module.defs:
        if other.name in helpers and other is not item and other.kind != "class":
            calls.extend(c for c in module.calls if other.line <= c.line <= other.end_line)
    return calls


def _probes(served: Served) -> tuple[bool | None, str]:
    """Whether the route's handler asks a dependency (None: the handler is unknown)."""
    calls = _handler_calls(served.module, served.handler, served.line)
    if calls is None:
        return None, "handler not found"
    asked = sorted({c.name for c in calls if c.tail in _PROBES})
    if asked:
        return True, "checks " + ", ".join(asked[:3])
    return False, "returns without checking any dependency"


def _liveness(routes: list[Served]) -> list[Served]:
    return [r for r in routes if _LIVENESS.search(_route_path(r.path))]


def _readiness(routes: list[Served]) -> list[Served]:
    return [r for r in routes if _READINESS.search(_route_path(r.path))]


@check(
    id="resilience.health-endpoint",
    category="resilience",
    title="Liveness (health) endpoint",
    severity="critical",
    effort="S",
    weight=1.5,
    impact=(
        "Without a health endpoint, orchestrators and load balancers cannot tell a hung "
        "process from a working one: dead instances keep receiving traffic and are never "
        "restarted."
    ),
    recommendation=(
        "Serve GET /health (or /healthz) that answers 200 quickly without touching "
        "dependencies, and point the container HEALTHCHECK / livenessProbe at it."
    ),
)
def check_health_endpoint(ctx: AuditContext) -> Outcome:
    """A liveness route is registered."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    if not web_service(ctx):
        return Outcome("unknown", 0, "no HTTP service found in the Python source")
    routes = served_routes(ctx)
    live = _liveness(routes)
    if live:
        evidence = [Evidence(r.module.path, r.line, "wired", f"{r.method} {r.path}") for r in live]
        paths = ", ".join(sorted({r.path for r in live}))
        return Outcome(
            "pass",
            100,
            f"liveness endpoint: {paths}",
            ranked(evidence),
            strengths=(f"health endpoint {paths} registered",),
        )
    ready = _readiness(routes)
    if ready:
        evidence = [Evidence(r.module.path, r.line, "wired", f"{r.method} {r.path}") for r in ready]
        return Outcome(
            "warn",
            60,
            "only a readiness endpoint: it doubles as liveness",
            ranked(evidence),
            gaps=(
                "liveness probes on a readiness route restart instances when a dependency is down",
            ),
        )
    return Outcome(
        "fail",
        0,
        "no health endpoint is registered",
        gaps=("no /health or /healthz route",),
    )


@check(
    id="resilience.readiness-endpoint",
    category="resilience",
    title="Readiness endpoint that checks dependencies",
    severity="high",
    effort="S",
    weight=1.0,
    impact=(
        "Without a readiness check that asks the database and the model backend, traffic "
        "is sent to instances that are still starting or have lost a dependency, and "
        "deploys route users to pods that can only fail."
    ),
    recommendation=(
        "Serve GET /ready (or /readyz) that checks each hard dependency (database ping, "
        "model backend reachable, migrations applied) and answers 503 while any is down; "
        "use it as the readinessProbe and load-balancer check."
    ),
)
def check_readiness_endpoint(ctx: AuditContext) -> Outcome:
    """A readiness route whose handler checks dependencies."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    if not web_service(ctx):
        return Outcome("unknown", 0, "no HTTP service found in the Python source")
    routes = served_routes(ctx)
    ready = _readiness(routes)
    judged = [(r, *_probes(r)) for r in ready]
    evidence = [
        Evidence(r.module.path, r.line, "wired", f"{r.method} {r.path}: {why}")
        for r, _, why in judged
    ]
    if any(asks for _, asks, _ in judged):
        return Outcome(
            "pass",
            100,
            "readiness endpoint checks its dependencies",
            ranked(evidence),
            strengths=("readiness reflects dependency state",),
        )
    if any(asks is None for _, asks, _ in judged):
        return Outcome(
            "warn",
            70,
            "readiness endpoint registered; its handler could not be inspected",
            ranked(evidence),
            notes=("the route is registered by a call, not a decorator",),
        )
    if judged:
        return Outcome(
            "warn",
            50,
            "readiness endpoint answers without checking any dependency",
            ranked(evidence),
            gaps=("readiness returns a constant: it says ready while the database is down",),
        )
    combined = [(r, *_probes(r)) for r in _liveness(routes)]
    deep = [
        Evidence(r.module.path, r.line, "wired", f"{r.method} {r.path}: {why}")
        for r, asks, why in combined
        if asks
    ]
    if deep:
        return Outcome(
            "warn",
            60,
            "no readiness endpoint; the health endpoint checks dependencies",
            ranked(deep),
            gaps=(
                "one endpoint for liveness and readiness: a database outage restarts "
                "instances instead of draining them",
            ),
        )
    return Outcome(
        "fail",
        0,
        "no readiness endpoint",
        gaps=("no /ready or /readyz route that checks dependencies",),
    )


# --- failover ------------------------------------------------------------------------------
#: Words in a loop's iterable or variable that say it walks over targets of one service.
_FAILOVER_LOOP = frozenset(
    {
        "backend",
        "backends",
        "upstream",
        "upstreams",
        "endpoint",
        "endpoints",
        "replica",
        "replicas",
        "host",
        "hosts",
        "server",
        "servers",
        "node",
        "nodes",
        "url",
        "urls",
        "mirror",
        "mirrors",
        "region",
        "regions",
        "primary",
        "secondary",
        "dsn",
        "dsns",
        "shard",
        "shards",
        "peer",
        "peers",
    }
)
_FAILOVER_WORDS = frozenset({"failover", "replica", "replicas", "standby", "sentinel"})
_FAILOVER_CALLS = (
    "redis.sentinel.Sentinel",
    "redis.asyncio.sentinel.Sentinel",
    "redis.Sentinel",
    "redis.asyncio.Sentinel",
    "redis.cluster.RedisCluster",
    "redis.asyncio.cluster.RedisCluster",
    "redis.RedisCluster",
    "redis.asyncio.RedisCluster",
    "cassandra.cluster.Cluster",
    "kazoo.client.KazooClient",
)


@check(
    id="resilience.failover",
    category="resilience",
    title="Failover across backends, replicas or database hosts",
    severity="medium",
    effort="L",
    weight=0.75,
    impact=(
        "With one address per dependency, losing that host or zone is an outage until "
        "someone repoints the configuration by hand."
    ),
    recommendation=(
        "Give each stateful or remote dependency a second target the client moves to on "
        "its own: Redis Sentinel/Cluster, a multi-host PostgreSQL DSN with "
        "target_session_attrs, or an ordered list of upstream URLs tried in turn."
    ),
)
def check_failover(ctx: AuditContext) -> Outcome:
    """Code that moves to another backend, replica or host when one fails."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    evidence: list[Evidence] = []
    for found in resolved_calls(ctx, _FAILOVER_CALLS):
        note = f"{found.qualified}: the client follows failover"
        evidence.append(Evidence(found.module.path, found.call.line, "wired", note))
    for module in production(ctx).modules:
        for call in module.calls:
            if "target_session_attrs" in call.kwargs:
                note = "multi-host database connection (target_session_attrs)"
                evidence.append(Evidence(module.path, call.line, "wired", note))
        for loop in module.loops:
            words = _FAILOVER_LOOP.intersection(name_words(f"{loop.iter} {loop.target}"))
            if loop.kind == "for" and loop.handled and words:
                state = loop_state(ctx, module, loop)
                strength: Strength = "wired" if state == "wired" else "code"
                note = f"tries the next of {loop.iter or loop.target} after an error"
                evidence.append(Evidence(module.path, loop.line, strength, note))
    for named in named_defs(ctx, _FAILOVER_WORDS, kinds=("class", "function", "method")):
        if named.state != "stub":
            evidence.append(evidence_of(named, "failover"))
    if any(e.strength == "wired" for e in evidence):
        return Outcome(
            "pass",
            100,
            "clients fail over to another backend or replica",
            ranked(evidence),
            strengths=("failover on a running path",),
        )
    if evidence:
        return Outcome(
            "warn",
            45,
            "failover code exists but is not on a running path",
            ranked(evidence),
            gaps=("the failover code is never called",),
        )
    return Outcome(
        "fail",
        0,
        "no failover: each dependency has a single target",
        gaps=("no replica, sentinel, multi-host or ordered upstream failover found",),
    )


# --- graceful degradation ----------------------------------------------------------------------
_BOUNDED = (
    "asyncio.Semaphore",
    "asyncio.BoundedSemaphore",
    "threading.Semaphore",
    "threading.BoundedSemaphore",
    "anyio.Semaphore",
    "anyio.CapacityLimiter",
    "trio.Semaphore",
    "trio.CapacityLimiter",
)
_QUEUES = (
    "asyncio.Queue",
    "asyncio.PriorityQueue",
    "asyncio.LifoQueue",
    "queue.Queue",
    "queue.PriorityQueue",
    "queue.LifoQueue",
    "multiprocessing.Queue",
)
_DEGRADED_WORDS = frozenset(
    {
        "degrade",
        "degraded",
        "degrading",
        "offline",
        "brownout",
        "shed",
        "shedder",
        "shedding",
        "stale",
        "readonly",
    }
)
_SHED_HEADERS = frozenset({"retry-after"})


def _degradation_kinds(ctx: AuditContext) -> dict[str, list[Evidence]]:
    kinds: dict[str, list[Evidence]] = {"shed": [], "bounded": [], "degraded": []}
    for found in resolved_calls(ctx, _BOUNDED):
        note = f"{found.qualified} caps concurrent work"
        kinds["bounded"].append(Evidence(found.module.path, found.call.line, "wired", note))
    for found in resolved_calls(ctx, _QUEUES):
        call = found.call
        if found.qualified in _QUEUES and ("maxsize" in call.kwargs or call.args):
            if "maxsize" in call.off:
                continue
            note = f"bounded {found.qualified}: back-pressure instead of unbounded backlog"
            kinds["bounded"].append(Evidence(found.module.path, call.line, "wired", note))
    for module in production(ctx).modules:
        for text, line in module.tokens:
            if text.lower() in _SHED_HEADERS:
                note = "refuses with Retry-After (load shedding / back-off hint)"
                kinds["shed"].append(Evidence(module.path, line, "code", note))
    for named in named_defs(ctx, _DEGRADED_WORDS, kinds=("class", "function", "method")):
        # A degraded mode nothing switches to is not one: only wired code counts.
        if named.state == "wired":
            kinds["degraded"].append(evidence_of(named, "degraded mode"))
    return kinds


@check(
    id="resilience.graceful-degradation",
    category="resilience",
    title="Graceful degradation and load shedding",
    severity="medium",
    effort="M",
    weight=1.0,
    impact=(
        "Under overload or a dependency outage the service fails every request at once "
        "instead of shedding some load or answering in a reduced mode, and unbounded "
        "queues turn a spike into minutes of latency and memory growth."
    ),
    recommendation=(
        "Bound concurrency and queues (Semaphore, Queue(maxsize=)), refuse excess with "
        "429/503 and Retry-After, and keep a degraded mode (cached or canned answers, a "
        "smaller local model, read-only) for when a dependency is down."
    ),
)
def check_graceful_degradation(ctx: AuditContext) -> Outcome:
    """Independent mechanisms that keep the service answering under stress."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    kinds = _degradation_kinds(ctx)
    titles = {
        "shed": "load shedding with Retry-After",
        "bounded": "bounded concurrency or queues",
        "degraded": "degraded/offline mode",
    }
    present = [
        k for k, items in kinds.items() if any(e.strength in ("wired", "code") for e in items)
    ]
    absent = [titles[k] for k in kinds if k not in present]
    evidence = ranked([e for items in kinds.values() for e in items])
    found = ", ".join(titles[k] for k in present)
    gaps = tuple(f"no {t}" for t in absent)
    if len(present) >= 2:
        return Outcome(
            "pass",
            100,
            f"degrades under stress: {found}",
            evidence,
            strengths=(found,),
            gaps=gaps,
        )
    if present:
        return Outcome("warn", 60, f"one degradation mechanism: {found}", evidence, gaps=gaps)
    return Outcome(
        "fail", 0, "nothing bounds load or degrades: overload fails every request", gaps=gaps
    )
