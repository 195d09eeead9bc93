"""Checks: performance and scalability (load tests, caching, capacity, blocking calls).

Horizontal scaling is judged from deployment configuration elsewhere.

Load tests are recognised by what they are (a Locust user class, a k6 script, an
Artillery config, a load-test package) and count for more when a Makefile target or a
CI job runs them; caching by a cache on a running path; capacity by numbers in the
documents.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from readiness.checks._code import (
    def_state,
    named_defs,
    no_python,
    production,
    resolved_calls,
    served_routes,
    web_service,
)
from readiness.configs.ci import Command
from readiness.configs.yamlines import YamlError, YMap, load_all
from readiness.context import AuditContext, ranked
from readiness.model import Evidence, Outcome, Status
from readiness.registry import check

__all__ = [
    "check_blocking_in_async",
    "check_caching",
    "check_capacity_docs",
    "check_load_tests",
]

_LIMIT = 10


# --- load tests -----------------------------------------------------------------------------
_LOAD_TOOLS = re.compile(
    r"(?:^|[\s/;&|(])(locust\b|k6\s+run|artillery\s+(?:run|quick)|vegeta\s+attack|"
    r"(?:wrk2?|hey|oha|bombardier|jmeter|siege)\s+-|ab\s+-[nc]|gatling\.sh|molotov\s)",
    re.IGNORECASE,
)
_INSTALL = re.compile(r"\b(pip3?|uv|poetry|npm|pnpm|yarn|apt(-get)?|brew)\s+(install|add|i)\b")
_LOAD_DIR = re.compile(
    r"(^|/)(load[_-]?tests?|loadtesting|load[_-]?testing|stress[_-]?tests?|soak[_-]?tests?)(/|$)",
    re.IGNORECASE,
)
_K6_IMPORT = re.compile(
    r"""^\s*import\s.*\bfrom\s+['"]k6(/[\w/-]+)?['"]|require\(\s*['"]k6""", re.M
)
_HTTP_CLIENTS = ("httpx", "aiohttp", "requests", "urllib3")
_USER_BASES = frozenset({"HttpUser", "FastHttpUser", "User"})


def _load_scripts(ctx: AuditContext) -> tuple[list[Evidence], set[str], set[str]]:
    """Load-test scripts, their paths, and the packages that hold Python ones."""
    found: list[Evidence] = []
    handles: set[str] = set()
    packages: set[str] = set()
    for module in (*ctx.py.source, *ctx.py.tests):
        locust = next((i for i in module.imports if i.module.split(".")[0] == "locust"), None)
        users = [
            d
            for d in module.defs
            if d.kind == "class" and any(b.rsplit(".", 1)[-1] in _USER_BASES for b in d.bases)
        ]
        if locust is not None:
            line = users[0].line if users else locust.line
            what = f"Locust user {users[0].name}" if users else "imports Locust"
            found.append(Evidence(module.path, line, "code", what))
        elif _LOAD_DIR.search(module.path) and any(
            i.module.split(".")[0] in _HTTP_CLIENTS for i in module.imports
        ):
            found.append(Evidence(module.path, 0, "code", "load-test driver (HTTP client)"))
        else:
            continue
        handles.add(module.path)
        if "/" in module.path:
            packages.add(module.path.split("/", 1)[0])
    for path in ctx.repo.files:
        suffix = PurePosixPath(path).suffix
        if suffix in (".js", ".ts", ".mjs"):
            text = ctx.repo.text(path) or ""
            match = _K6_IMPORT.search(text)
            if match:
                line = text.count("\n", 0, match.start()) + 1
                found.append(Evidence(path, line, "code", "k6 script"))
                handles.add(path)
        elif suffix == ".jmx":
            found.append(Evidence(path, 0, "code", "JMeter test plan"))
            handles.add(path)
        elif suffix in (".yml", ".yaml") and _artillery(ctx, path):
            found.append(Evidence(path, 1, "code", "Artillery scenario"))
            handles.add(path)
        elif suffix == ".lua" and "wrk." in (ctx.repo.text(path) or ""):
            found.append(Evidence(path, 1, "code", "wrk script"))
            handles.add(path)
    return found, handles, packages


def _artillery(ctx: AuditContext, path: str) -> bool:
    text = ctx.repo.text(path)
    if not text or "scenarios" not in text or "config" not in text:
        return False
    try:
        docs = load_all(text)
    except YamlError:
        return False
    for doc in docs:
        if isinstance(doc, YMap) and "scenarios" in doc:
            config = doc.get("config")
            if isinstance(config, dict) and "target" in config:
                return True
    return False


def _load_runs(ctx: AuditContext, handles: set[str], packages: set[str]) -> list[Evidence]:
    """Makefile recipes and CI steps that run a load-test tool or script."""
    commands: list[tuple[Command, str]] = []
    for rules in ctx.configs.makefiles.values():
        for rule in rules.values():
            commands.extend((c, f"make {rule.target}") for c in rule.commands)
    for pipeline in ctx.configs.pipelines:
        for job in pipeline.jobs:
            for step in job.steps:
                commands.extend((c, f"CI job {job.name}") for c in step.commands)
    runs = []
    for command, where in commands:
        text = command.text
        if _INSTALL.search(text):
            continue
        tool = _LOAD_TOOLS.search(text)
        what = tool.group(1).strip() if tool else None
        what = what or next((h for h in sorted(handles) if h in text), None)
        what = what or next(
            (f"-m {p}" for p in sorted(packages) if re.search(rf"-m\s+{re.escape(p)}\b", text)),
            None,
        )
        if what:
            runs.append(Evidence(command.path, command.line, "config", f"{where} runs {what}"))
    return runs


@check(
    id="performance.load-tests",
    category="performance",
    title="Load tests exist and are run",
    severity="medium",
    effort="M",
    weight=1.0,
    impact=(
        "Without load tests nobody knows where the service saturates: the first traffic "
        "spike finds the limit in production, usually as timeouts and OOM kills."
    ),
    recommendation=(
        "Write a load test for the main chat path (Locust, k6 or Artillery) with a "
        "realistic mix and think time, run it from a Makefile target or a scheduled CI "
        "job, and record the saturation point."
    ),
)
def check_load_tests(ctx: AuditContext) -> Outcome:
    """Load-test scripts, and whether a Makefile target or CI job runs them."""
    scripts, handles, packages = _load_scripts(ctx)
    runs = _load_runs(ctx, handles, packages)
    evidence = ranked(runs + scripts)
    if runs:
        return Outcome(
            "pass",
            100,
            "load tests exist and a Makefile target or CI job runs them",
            evidence,
            strengths=("load tests automated",),
        )
    if scripts:
        return Outcome(
            "warn",
            70,
            "load tests exist but nothing runs them",
            evidence,
            gaps=("no Makefile target or CI job runs the load tests",),
        )
    declared = ctx.deps.evidence("locust", "k6", "artillery")
    if declared:
        return Outcome(
            "warn",
            45,
            "a load-testing tool is declared but no load test was found",
            ranked(declared),
            gaps=("no load-test script",),
        )
    if no_python(ctx) is not None or not web_service(ctx):
        return Outcome("unknown", 0, "no HTTP service found and no load tests")
    return Outcome("fail", 0, "no load tests", gaps=("no load-test script or run",))


# --- caching -----------------------------------------------------------------------------------
_CACHE_LIBS = (
    "cachetools",
    "aiocache",
    "diskcache",
    "fastapi_cache",
    "flask_caching",
    "django.core.cache",
    "requests_cache",
    "hishel",
    "async_lru",
    "cashews",
    "dogpile.cache",
    "pymemcache",
    "aiomcache",
    "langchain.globals.set_llm_cache",
    "langchain_core.globals.set_llm_cache",
    "gptcache",
)
_CACHE_PACKAGES = (
    "cachetools",
    "aiocache",
    "diskcache",
    "fastapi-cache2",
    "flask-caching",
    "requests-cache",
    "hishel",
    "async-lru",
    "cashews",
    "dogpile-cache",
    "pymemcache",
    "aiomcache",
    "gptcache",
)
_CACHE_WORDS = frozenset({"cache", "caches", "caching", "lrucache", "ttlcache"})
_MEMO = frozenset({"functools.lru_cache", "functools.cache", "lru_cache", "cache"})


def _cache_evidence(ctx: AuditContext) -> list[Evidence]:
    evidence: list[Evidence] = []
    for found in resolved_calls(ctx, _CACHE_LIBS):
        note = f"uses {found.qualified}"
        evidence.append(Evidence(found.module.path, found.call.line, "wired", note))
    for named in named_defs(ctx, _CACHE_WORDS, kinds=("class",)):
        if named.state == "wired":
            note = f"cache class {named.item.name} is used from source"
            evidence.append(Evidence(named.module.path, named.item.line, "wired", note))
        elif named.state == "unused":
            note = f"cache class {named.item.name} is never used"
            evidence.append(Evidence(named.module.path, named.item.line, "code", note))
    for module in production(ctx).modules:
        redis = any(i.module.split(".")[0] == "redis" for i in module.imports)
        for call in module.calls if redis else ():
            ttl = call.tail in ("setex", "psetex") or (
                call.tail == "set" and bool({"ex", "px"} & set(call.kwargs))
            )
            owner = ctx.py.enclosing(module, call.line)
            named_cache = "cache" in module.path.lower() or (
                owner is not None and "cache" in owner.name.lower()
            )
            if ttl and named_cache:
                note = "Redis entries with a TTL in cache code"
                evidence.append(Evidence(module.path, call.line, "wired", note))
        for item in module.defs:
            memo = [
                d for d in item.decorators if ctx.py.qualify(module, d.removesuffix("()")) in _MEMO
            ]
            if memo and item.kind != "class" and def_state(ctx, module, item) == "wired":
                note = f"{item.name} memoised with {memo[0]} (in-process)"
                evidence.append(Evidence(module.path, item.line, "code", note))
    return evidence


@check(
    id="performance.caching",
    category="performance",
    title="Caching on the request path",
    severity="medium",
    effort="M",
    weight=0.75,
    impact=(
        "Every repeated question, embedding or lookup pays full model latency and token "
        "cost again; under load the cheapest requests compete with the expensive ones."
    ),
    recommendation=(
        "Cache what repeats on the request path (identical prompts, embeddings, "
        "retrieval results, auth lookups) in a TTL cache shared by replicas (Redis) or "
        "in-process (cachetools), keyed on everything that changes the answer."
    ),
)
def check_caching(ctx: AuditContext) -> Outcome:
    """A cache used on a running path."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    evidence = _cache_evidence(ctx)
    if any(e.strength == "wired" for e in evidence):
        return Outcome(
            "pass",
            100,
            "a cache is used on a running path",
            ranked(evidence),
            strengths=("caching wired",),
        )
    if evidence:
        return Outcome(
            "warn",
            60,
            "only in-process memoisation or unused cache code",
            ranked(evidence),
            gaps=("no shared or TTL cache on the request path",),
        )
    declared = ctx.deps.evidence(*_CACHE_PACKAGES)
    if declared:
        return Outcome(
            "warn",
            45,
            "a caching library is declared but not used",
            ranked(declared),
            gaps=("the declared cache library caches nothing yet",),
        )
    return Outcome("fail", 0, "no caching found", gaps=("nothing is cached",))


# --- capacity and cost documented --------------------------------------------------------------
_THROUGHPUT = re.compile(
    r"\d[\d,.]*\s*k?\s*(req(uest)?s?\s*/\s*s(ec)?\b|rps\b|qps\b|requests?\s+(per|a)\s+sec|"
    r"tokens?\s*/\s*s\b|tok/s\b|answers?\s*/\s*s\b|queries\s+per\s+second|"
    r"(concurrent|simultaneous|parallel)\s+(users|requests|connections|sessions|streams|chats))",
    re.IGNORECASE,
)
_PERCENTILE = re.compile(
    r"\bp(50|90|95|99|99\.9)\b[^|\n]{0,30}?\d[\d.,]*\s*(ms|s|sec|seconds?)\b|"
    r"\d[\d.,]*\s*(ms|s)\s+(at\s+)?p(50|90|95|99)\b",
    re.IGNORECASE,
)
_MONEY = re.compile(
    r"[$€£]\s?\d[\d,]*(\.\d+)?|\d[\d,]*(\.\d+)?\s?(USD|EUR|GBP|SEK|cents?|ct)\b", re.IGNORECASE
)
_PER_UNIT = re.compile(
    r"\bper\s+(active\s+)?(user|request|req|answer|conversation|chat|seat|month|1k|1,?000|"
    r"thousand|million|token|call|query|hour|day|tenant|session|mau|dau)|"
    r"/\s?(user|request|req|month|mo|hour|1k|answer|seat)\b",
    re.IGNORECASE,
)
_COST_PHRASE = re.compile(
    r"cost\s+(per|for\s+each|of\s+one)\s+(user|request|answer|conversation|1k|1,?000|million|"
    r"token|chat|seat)",
    re.IGNORECASE,
)
_CAPACITY_HEADER = re.compile(
    r"req/s|rps|qps|throughput|p50|p90|p95|p99|latency|concurren|users|tokens?/s|answers?/s",
    re.IGNORECASE,
)
_COST_HEADER = re.compile(r"cost|price|\$|usd|eur|€", re.IGNORECASE)
_NUMBER_CELL = re.compile(r"^[~≈<>]?\s*[$€£]?\s*\d[\d.,]*\s*(ms|s|%|k|/s|usd|eur)?$", re.IGNORECASE)


def _table_hits(lines: list[str]) -> tuple[list[int], list[int]]:
    """Markdown table rows with a number under a capacity or a cost header.

    Returns (capacity rows, cost rows) as 1-based line numbers.
    """
    capacity: list[int] = []
    cost: list[int] = []
    header: list[str] | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue
        for title, cell in zip(header, cells, strict=False):
            if not _NUMBER_CELL.match(cell.replace("**", "")):
                continue
            if _COST_HEADER.search(title):
                cost.append(number)
                break
            if _CAPACITY_HEADER.search(title):
                capacity.append(number)
                break
    return capacity, cost


def _doc_files(ctx: AuditContext) -> list[str]:
    out = []
    for path in ctx.repo.doc_files:
        name = PurePosixPath(path).name.lower()
        if name.endswith(".txt") and name.startswith(("requirements", "constraints")):
            continue
        out.append(path)
    return out


@check(
    id="performance.capacity-docs",
    category="performance",
    title="Capacity and cost per user documented",
    severity="medium",
    effort="M",
    weight=0.75,
    depends_on=("performance.load-tests",),
    impact=(
        "Without measured capacity and unit cost, nobody can size the deployment, set "
        "autoscaling limits or price the service; the first large customer becomes an "
        "outage or a loss."
    ),
    recommendation=(
        "Publish the measured limits (sustained req/s or concurrent chats per replica at "
        "a stated p95) from the load tests, and the cost per user or per 1,000 requests "
        "(model tokens plus infrastructure), with the date and hardware measured on."
    ),
)
def check_capacity_docs(ctx: AuditContext) -> Outcome:
    """Documents state measured capacity (throughput, concurrency, percentiles) and cost."""
    capacity: list[Evidence] = []
    cost: list[Evidence] = []
    for path in _doc_files(ctx):
        lines = ctx.repo.lines(path)
        for number, line in enumerate(lines, start=1):
            if _THROUGHPUT.search(line) or _PERCENTILE.search(line):
                capacity.append(Evidence(path, number, "docs", "states measured capacity"))
            if (_MONEY.search(line) and _PER_UNIT.search(line)) or (
                _COST_PHRASE.search(line) and re.search(r"\d", line)
            ):
                cost.append(Evidence(path, number, "docs", "states cost per unit"))
        rows_capacity, rows_cost = _table_hits(lines)
        capacity.extend(Evidence(path, n, "docs", "capacity table row") for n in rows_capacity)
        cost.extend(Evidence(path, n, "docs", "cost table row") for n in rows_cost)
    capacity_ev = ranked(capacity)[:5]
    cost_ev = ranked(cost)[:5]
    evidence = capacity_ev + cost_ev
    if capacity and cost:
        return Outcome(
            "pass",
            100,
            "capacity and cost per unit are documented",
            evidence,
            strengths=("measured capacity and unit cost written down",),
        )
    if capacity:
        return Outcome(
            "warn",
            50,
            "capacity is documented, cost per user/request is not",
            evidence,
            gaps=("no cost per user or per request",),
        )
    if cost:
        return Outcome(
            "warn",
            40,
            "cost is documented, measured capacity is not",
            evidence,
            gaps=("no measured throughput, concurrency or latency percentiles",),
        )
    return Outcome(
        "fail",
        0,
        "neither capacity nor cost per user is documented",
        gaps=("no measured capacity", "no cost per user or request"),
    )


# --- blocking calls in async code ------------------------------------------------------------
_BLOCKING: dict[str, str] = {
    "time.sleep": "use await asyncio.sleep",
    "urllib.request.urlopen": "use an async HTTP client",
    "subprocess.run": "use asyncio.create_subprocess_exec",
    "subprocess.call": "use asyncio.create_subprocess_exec",
    "subprocess.check_call": "use asyncio.create_subprocess_exec",
    "subprocess.check_output": "use asyncio.create_subprocess_exec",
    "os.system": "use asyncio.create_subprocess_shell",
    "sqlite3.connect": "use aiosqlite or run it in a thread",
    "psycopg2.connect": "use asyncpg/psycopg async or run it in a thread",
    "pymysql.connect": "use aiomysql or run it in a thread",
    "socket.create_connection": "use asyncio.open_connection",
    "smtplib.SMTP": "use aiosmtplib or run it in a thread",
    "httpx.Client": "use httpx.AsyncClient",
    "requests.Session": "use an async HTTP client",
}
for _verb in ("get", "post", "put", "patch", "delete", "head", "options", "request"):
    _BLOCKING[f"requests.{_verb}"] = "use an async HTTP client (httpx.AsyncClient)"
    _BLOCKING[f"httpx.{_verb}"] = "use httpx.AsyncClient"


@check(
    id="performance.blocking-in-async",
    category="performance",
    title="No blocking calls inside async code",
    severity="high",
    effort="S",
    weight=1.0,
    impact=(
        "A blocking call inside async def stops the event loop: every other request on "
        "that worker waits, so one slow call multiplies into latency for all users."
    ),
    recommendation=(
        "Replace blocking calls in async code with their async counterparts "
        "(asyncio.sleep, httpx.AsyncClient, asyncpg) or move them off the loop with "
        "asyncio.to_thread / run_in_executor."
    ),
)
def check_blocking_in_async(ctx: AuditContext) -> Outcome:
    """Known blocking calls made directly inside ``async def`` bodies."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    if not any(c.in_async for m in production(ctx).modules for c in m.calls):
        return Outcome("unknown", 0, "no async code found")
    handlers = {(s.module.path, s.handler) for s in served_routes(ctx) if s.handler}
    found: list[Evidence] = []
    in_handler = False
    for module in production(ctx).modules:
        for call in module.calls:
            if not call.in_async:
                continue
            name = ctx.py.qualify(module, call.name)
            if name not in _BLOCKING:
                continue
            owner = ctx.py.enclosing(module, call.line)
            route = owner is not None and (module.path, owner.name) in handlers
            in_handler = in_handler or route
            where = f" in route handler {owner.name}" if route and owner else ""
            note = f"{name} blocks the event loop{where}: {_BLOCKING[name]}"
            found.append(Evidence(module.path, call.line, "wired", note))
    if not found:
        return Outcome(
            "pass",
            100,
            "no known blocking calls inside async functions",
            strengths=("async code does not block the event loop",),
        )
    score = max(0, 100 - 20 * len(found))
    status: Status = "fail" if in_handler or score < 50 else "warn"
    if status == "fail":
        score = min(score, 40)
    gaps = tuple(f"{e.location}: {e.note}" for e in found[:_LIMIT])
    summary = f"{len(found)} blocking call(s) inside async functions"
    return Outcome(status, score, summary, tuple(found[:_LIMIT]), gaps=gaps)
