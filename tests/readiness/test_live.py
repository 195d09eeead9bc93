"""Live mode against real HTTP services: small FastAPI apps under uvicorn on loopback.

Four services: a good one, a bad one, a mixed one (degraded readiness, metrics behind a
key, load shedding instead of a rate limit, a slow health endpoint) and a catch-all that
answers the same page on every path; plus a URL where nothing listens.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException, Request, Response, Security
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from readiness.context import AuditOptions
from readiness.engine import build_context
from readiness.live import Latency, LiveProbe
from readiness.liveparse import components, parse_openapi, stack_trace
from readiness.model import Outcome
from readiness.registry import all_checks
from tests.support.servers import free_port, serve_in_thread

KEY = "s3cret-test-key"
LIVE_IDS = {
    "live.reachable",
    "live.health-endpoint",
    "live.readiness-endpoint",
    "live.metrics-exposition",
    "live.openapi",
    "live.auth-enforced",
    "live.rate-limiting",
    "live.security-headers",
    "live.error-leaks",
    "live.latency",
}
Next = Callable[[Request], Awaitable[Response]]
api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


def require_key(key: str | None = Security(api_key)) -> str:
    if key != KEY:
        raise HTTPException(401, "missing or invalid API key")
    return key


# --- the services ------------------------------------------------------------------------
def good_app() -> FastAPI:
    app = FastAPI(title="good")
    registry = CollectorRegistry()
    hits = Counter("http_requests", "Requests served", ["path"], registry=registry)
    tokens: dict[str, float] = {}

    @app.middleware("http")
    async def guard(request: Request, call_next: Next) -> Response:
        path = request.url.path
        if path.startswith(("/api", "/v1")):
            # A token bucket per client and key: 10 requests, refilled (almost) never.
            host = request.client.host if request.client else ""
            who = f"{host}|{request.headers.get('x-api-key')}"
            left = tokens.get(who, 10.0)
            if left < 1:
                return JSONResponse({"error": "rate limited"}, 429, {"Retry-After": "30"})
            tokens[who] = left - 1
        response = await call_next(request)
        hits.labels(path=path).inc()
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/", include_in_schema=False)
    def root() -> dict[str, str]:
        return {"service": "good"}

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", include_in_schema=False)
    def ready() -> dict[str, object]:
        return {"status": "ready", "checks": {"database": "ok", "cache": "ok"}}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/items")
    def items(key: str = Security(require_key)) -> list[str]:
        return ["a", "b"]

    @app.get("/api/items/{item_id}")
    def item(item_id: int, key: str = Security(require_key)) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/api/status")  # documented as public: declares no security
    def status() -> dict[str, str]:
        return {"version": "1"}

    return app


def bad_app() -> FastAPI:
    app = FastAPI(title="bad", debug=True, openapi_url=None)

    @app.middleware("http")
    async def banner(request: Request, call_next: Next) -> Response:
        response = await call_next(request)
        response.headers["X-Powered-By"] = "Python/3.11"
        return response

    @app.get("/")
    def root() -> dict[str, str]:
        return {"service": "bad"}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse('requests_total{path="/" 12\nthis is not a metric\n')

    @app.get("/api/users")
    def users() -> list[dict[str, str]]:
        return [{"name": "alice", "email": "alice@example.com"}]

    @app.get("/{path:path}")
    def anything(path: str) -> None:
        raise RuntimeError(f"no handler for {path}")

    return app


def mixed_app() -> FastAPI:
    app = FastAPI(title="mixed")
    served = {"v1": 0}

    @app.middleware("http")
    async def shed(request: Request, call_next: Next) -> Response:
        if request.url.path.startswith("/v1"):
            served["v1"] += 1
            if served["v1"] > 15:  # overloaded: shed, but no per-client limit
                return JSONResponse({"error": "overloaded"}, 503, {"Retry-After": "2"})
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        time.sleep(0.55)  # a slow probe: p95 between 500 ms and 2 s
        return {"status": "ok"}

    @app.get("/ready", include_in_schema=False)
    def ready() -> JSONResponse:
        body = {"status": "not ready", "checks": {"database": {"status": "down"}, "cache": "ok"}}
        return JSONResponse(body, 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(key: str = Security(require_key)) -> PlainTextResponse:
        return PlainTextResponse("# TYPE up gauge\nup 1\n", media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    def models(key: str = Security(require_key)) -> dict[str, list[str]]:
        return {"data": ["small"]}

    @app.get("/v1/models/{name}")
    def model(name: str, key: str = Security(require_key)) -> dict[str, str]:
        return {"id": name}

    return app


def catch_all_app() -> FastAPI:
    app = FastAPI(title="spa", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/{path:path}")
    def page(path: str) -> HTMLResponse:
        return HTMLResponse("<html><body><div id=app></div></body></html>")

    return app


def gateway_app() -> FastAPI:
    app = FastAPI(title="gateway", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/{path:path}")
    def upstream_down(path: str) -> HTMLResponse:
        return HTMLResponse("<html><body>502 Bad Gateway</body></html>", 502)

    return app


def login_app() -> FastAPI:
    app = FastAPI(title="web", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/users")
    def users() -> RedirectResponse:
        return RedirectResponse("/login?next=/users", 302)

    @app.get("/login")
    def login() -> HTMLResponse:
        return HTMLResponse("<form>sign in</form>")

    return app


# --- helpers -------------------------------------------------------------------------------
def audit(root: Path, url: str, *, requests: int = 5, key: bool = False) -> dict[str, Outcome]:
    headers = (("X-API-Key", KEY),) if key else ()
    options = AuditOptions(url=url, analysers=False, live_requests=requests, live_headers=headers)
    ctx = build_context(root, options)
    outcomes = {c.spec.id: c.run(ctx) for c in all_checks() if c.spec.live}
    outcomes["probe"] = ctx.live  # type: ignore[assignment]
    return outcomes


def statuses(outcomes: dict[str, Outcome]) -> dict[str, str]:
    return {k: v.status for k, v in outcomes.items() if k != "probe"}


def probe_of(outcomes: dict[str, Outcome]) -> LiveProbe:
    probe = outcomes["probe"]
    assert isinstance(probe, LiveProbe)
    return probe


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("live-repo")
    (root / "README.md").write_text("# service\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def good(repo: Path) -> Iterator[tuple[str, dict[str, Outcome]]]:
    with serve_in_thread(good_app()) as url:
        yield url, audit(repo, url)


@pytest.fixture(scope="module")
def good_with_key(repo: Path) -> Iterator[tuple[str, dict[str, Outcome]]]:
    with serve_in_thread(good_app()) as url:
        yield url, audit(repo, url, key=True)


@pytest.fixture(scope="module")
def bad(repo: Path) -> Iterator[tuple[str, dict[str, Outcome]]]:
    with serve_in_thread(bad_app()) as url:
        yield url, audit(repo, url)


@pytest.fixture(scope="module")
def mixed(repo: Path) -> Iterator[tuple[str, dict[str, Outcome]]]:
    with serve_in_thread(mixed_app()) as url:
        yield url, audit(repo, url, requests=2, key=True)


# --- the good service ----------------------------------------------------------------------
def test_every_live_check_passes_on_the_good_service(good: tuple[str, dict[str, Outcome]]) -> None:
    _, outcomes = good
    assert set(statuses(outcomes)) == LIVE_IDS
    assert statuses(outcomes) == dict.fromkeys(LIVE_IDS, "pass")
    assert {k: v.score for k, v in outcomes.items() if k != "probe"} == dict.fromkeys(LIVE_IDS, 100)


def test_good_service_evidence_is_the_probed_urls(good: tuple[str, dict[str, Outcome]]) -> None:
    url, outcomes = good
    health = outcomes["live.health-endpoint"]
    assert health.evidence[0].location == f"{url}/health"
    assert health.evidence[0].strength == "live"
    assert health.evidence[0].line == 0
    assert health.evidence[0].note.startswith("GET -> 200 in ")
    ready = outcomes["live.readiness-endpoint"]
    assert ready.summary == f"{url}/ready answered 200 naming 2 components"
    assert ready.evidence[0].note.endswith("components cache: ok, database: ok")
    assert outcomes["live.openapi"].summary == (
        f"{url}/openapi.json: OpenAPI 3.1.0, 3 paths, 3 operations"
    )


def test_auth_probes_the_secured_openapi_operations_without_credentials(
    good: tuple[str, dict[str, Outcome]],
) -> None:
    url, outcomes = good
    probe = probe_of(outcomes)
    # /api/status declares no security while others do: the document says it is public.
    assert probe.auth_source == "openapi"
    assert [(e.url, e.status) for e in probe.auth] == [
        (f"{url}/api/items", 401),
        (f"{url}/api/items/1", 401),
    ]
    auth = outcomes["live.auth-enforced"]
    assert auth.summary == (
        "2 of 2 endpoints from the OpenAPI document refused requests without credentials "
        "(/api/items 401, /api/items/1 401)"
    )
    assert [e.location for e in auth.evidence] == [f"{url}/api/items", f"{url}/api/items/1"]


def test_burst_against_the_protected_endpoint_gets_429_with_retry_after(
    good: tuple[str, dict[str, Outcome]],
) -> None:
    url, outcomes = good
    burst = probe_of(outcomes).burst
    assert burst is not None
    assert burst.url == f"{url}/api/items"
    # 10 tokens, 2 spent by the authentication probes: the 9th request of 60 is limited.
    assert (burst.sent, burst.limited, burst.first_limited) == (60, 52, 9)
    assert burst.retry_after == "30"
    assert outcomes["live.rate-limiting"].summary.startswith("52 of 60 requests in ")
    assert outcomes["live.rate-limiting"].evidence[0].location == f"{url}/api/items"


def test_latency_summary_states_p50_and_p95(good: tuple[str, dict[str, Outcome]]) -> None:
    url, outcomes = good
    latency = probe_of(outcomes).latency
    assert latency is not None
    assert latency.url == f"{url}/health"
    assert latency.statuses == (200,) * 5
    result = outcomes["live.latency"]
    assert result.summary == (
        f"health endpoint p50 {latency.p50_ms:.1f} ms, p95 {latency.p95_ms:.1f} ms over 5 requests"
    )


def test_given_key_is_used_for_authenticated_probes_only(
    good_with_key: tuple[str, dict[str, Outcome]],
) -> None:
    url, outcomes = good_with_key
    assert statuses(outcomes) == dict.fromkeys(LIVE_IDS, "pass")
    probe = probe_of(outcomes)
    assert [(e.url, e.status, e.credentials) for e in probe.auth] == [
        (f"{url}/api/items", 401, False),
        (f"{url}/api/items/1", 401, False),
    ]
    assert [(e.url, e.status, e.credentials) for e in probe.authed] == [
        (f"{url}/api/items", 200, True),
        (f"{url}/api/items/1", 200, True),
    ]
    assert probe.authed_latency is not None
    assert probe.authed_latency.statuses == (200,) * 5
    assert "authenticated " + f"{url}/api/items: p50 " in outcomes["live.latency"].summary
    assert "the given credentials are accepted" in outcomes["live.auth-enforced"].strengths
    # The key has its own bucket: 10 - 2 (authed) - 5 (latency) = 3 left for the burst.
    burst = probe.burst
    assert burst is not None
    assert (burst.credentials, burst.first_limited, burst.limited) == (True, 4, 57)


# --- the bad service -----------------------------------------------------------------------
def test_bad_service_statuses(bad: tuple[str, dict[str, Outcome]]) -> None:
    _, outcomes = bad
    assert statuses(outcomes) == {
        "live.reachable": "pass",
        "live.health-endpoint": "pass",
        "live.readiness-endpoint": "fail",
        "live.metrics-exposition": "fail",
        "live.openapi": "fail",
        "live.auth-enforced": "fail",
        "live.rate-limiting": "fail",
        "live.security-headers": "fail",
        "live.error-leaks": "fail",
        "live.latency": "pass",
    }


def test_open_endpoint_is_a_critical_fail(bad: tuple[str, dict[str, Outcome]]) -> None:
    url, outcomes = bad
    auth = outcomes["live.auth-enforced"]
    assert (auth.score, auth.severity) == (0, "critical")
    assert auth.summary == (
        f"1 of 1 endpoints from common API paths answered 200 without credentials: {url}/api/users"
    )
    assert [e.location for e in auth.evidence] == [f"{url}/api/users"]


def test_invalid_exposition_fails_with_the_parser_error(
    bad: tuple[str, dict[str, Outcome]],
) -> None:
    url, outcomes = bad
    metrics = outcomes["live.metrics-exposition"]
    assert metrics.score == 10
    assert metrics.summary.startswith(f"{url}/metrics is not a valid prometheus exposition: ")
    assert "ValueError" in metrics.summary


def test_stack_trace_in_a_500_body_is_found(bad: tuple[str, dict[str, Outcome]]) -> None:
    url, outcomes = bad
    leaks = outcomes["live.error-leaks"]
    assert "Python traceback" in leaks.summary
    unknown = probe_of(outcomes).unknown
    assert unknown is not None and unknown.status == 500
    assert unknown.url in {e.location for e in leaks.evidence}
    assert all(e.location.startswith(url) for e in leaks.evidence)


def test_bad_service_never_limits_and_leaks_its_stack(bad: tuple[str, dict[str, Outcome]]) -> None:
    url, outcomes = bad
    rate = outcomes["live.rate-limiting"]
    assert rate.summary.startswith("none of 60 requests in ")
    assert rate.evidence[0].location == f"{url}/api/users"
    headers = outcomes["live.security-headers"]
    assert (headers.score, headers.summary) == (
        0,
        f"0 of 5 header checks pass on {url}/; missing X-Content-Type-Options: nosniff; "
        "missing X-Frame-Options or CSP frame-ancestors; missing Content-Security-Policy; "
        "missing Referrer-Policy; version banner X-Powered-By: Python/3.11",
    )
    # The catch-all answers 500 everywhere: /ready and /openapi.json are not endpoints.
    assert outcomes["live.readiness-endpoint"].summary == (
        "no readiness endpoint: /ready 500, /readyz 500"
    )


# --- the mixed service ---------------------------------------------------------------------
def test_mixed_service_statuses(mixed: tuple[str, dict[str, Outcome]]) -> None:
    _, outcomes = mixed
    assert statuses(outcomes) == {
        "live.reachable": "pass",
        "live.health-endpoint": "pass",
        "live.readiness-endpoint": "pass",
        "live.metrics-exposition": "pass",
        "live.openapi": "pass",
        "live.auth-enforced": "pass",
        "live.rate-limiting": "warn",
        "live.security-headers": "warn",
        "live.error-leaks": "pass",
        "live.latency": "warn",
    }


def test_503_readiness_naming_components_is_a_readiness_endpoint(
    mixed: tuple[str, dict[str, Outcome]],
) -> None:
    url, outcomes = mixed
    ready = outcomes["live.readiness-endpoint"]
    assert ready.score == 90
    assert ready.summary == (
        f"{url}/ready answered 503 naming its components: not ready now (database)"
    )


def test_metrics_behind_a_key_are_read_with_the_given_headers(
    mixed: tuple[str, dict[str, Outcome]],
) -> None:
    url, outcomes = mixed
    probe = probe_of(outcomes)
    assert [(e.status, e.credentials) for e in probe.metrics] == [(401, False), (200, True)]
    assert outcomes["live.metrics-exposition"].summary == (
        f"{url}/metrics: valid prometheus exposition, 1 metric families, 1 samples"
    )


def test_shedding_without_429_warns_and_slow_health_warns(
    mixed: tuple[str, dict[str, Outcome]],
) -> None:
    url, outcomes = mixed
    rate = outcomes["live.rate-limiting"]
    assert rate.score == 50
    assert "shed load with 503 + Retry-After" in rate.summary
    latency = outcomes["live.latency"]
    assert latency.summary.startswith("health endpoint p50 ")
    assert latency.evidence[0].location == f"{url}/healthz"
    assert 50 <= latency.score <= 90
    headers = outcomes["live.security-headers"]
    assert (headers.score, headers.gaps) == (80, ("missing Content-Security-Policy",))
    leaks = outcomes["live.error-leaks"]
    assert (leaks.score, leaks.notes) == (100, ())


def test_metrics_behind_a_key_without_headers_is_unknown(repo: Path) -> None:
    with serve_in_thread(mixed_app()) as url:
        probe = LiveProbe.run(url, requests=1, headers={}, burst=1)
        ctx = build_context(repo, AuditOptions(url=url, analysers=False))
        ctx.__dict__["live"] = probe  # the probe just taken: no second round of requests
        metrics = next(c for c in all_checks() if c.spec.id == "live.metrics-exposition")
        outcome = metrics.run(ctx)
    assert outcome.status == "unknown"
    assert outcome.summary == (
        f"{url}/metrics needs credentials (401); give --header to validate it"
    )


# --- a catch-all, and nothing at all -------------------------------------------------------
def test_catch_all_page_is_not_mistaken_for_endpoints(repo: Path) -> None:
    with serve_in_thread(catch_all_app()) as url:
        outcomes = audit(repo, url, requests=2)
    assert probe_of(outcomes).catch_all
    assert {k: outcomes[k].status for k in sorted(LIVE_IDS)} == {
        "live.auth-enforced": "unknown",
        "live.error-leaks": "pass",
        "live.health-endpoint": "fail",
        "live.latency": "pass",
        "live.metrics-exposition": "fail",
        "live.openapi": "fail",
        "live.rate-limiting": "fail",
        "live.readiness-endpoint": "fail",
        "live.reachable": "pass",
        "live.security-headers": "fail",
    }
    assert outcomes["live.health-endpoint"].summary.endswith(
        "(every path answers 2xx: a catch-all)"
    )
    assert outcomes["live.latency"].summary.startswith("root (no health endpoint) p50 ")


def test_gateway_without_upstream_warns_reachable_and_fails_health(repo: Path) -> None:
    with serve_in_thread(gateway_app()) as url:
        outcomes = audit(repo, url, requests=2)
    assert {k: outcomes[k].status for k in ("live.reachable", "live.health-endpoint")} == {
        "live.reachable": "warn",
        "live.health-endpoint": "fail",
    }
    assert outcomes["live.reachable"].summary == (
        f"{url}/ answered 502 and no health endpoint answers: a gateway answers, the service "
        "behind it does not"
    )
    assert outcomes["live.error-leaks"].status == "warn"
    assert outcomes["live.auth-enforced"].status == "unknown"


def test_redirect_to_login_counts_as_refused(repo: Path) -> None:
    with serve_in_thread(login_app()) as url:
        outcomes = audit(repo, url, requests=2)
    auth = outcomes["live.auth-enforced"]
    assert auth.status == "pass"
    assert auth.summary == (
        "1 of 1 endpoints from common API paths refused requests without credentials (/users 302)"
    )
    assert [e.location for e in auth.evidence] == [f"{url}/users"]


def test_unreachable_url_fails_reachable_and_leaves_the_rest_unknown(repo: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    outcomes = audit(repo, url)
    expected = dict.fromkeys(LIVE_IDS, "unknown")
    expected["live.reachable"] = "fail"
    assert statuses(outcomes) == expected
    reachable = outcomes["live.reachable"]
    assert reachable.summary.startswith(f"{url} did not answer: ConnectError")
    assert [e.location for e in reachable.evidence] == [f"{url}/"]
    spec = next(c.spec for c in all_checks() if c.spec.id == "live.reachable")
    assert spec.severity == "critical"
    assert outcomes["live.auth-enforced"].summary == (
        f"not probed: {url} did not answer (see live.reachable)"
    )


def test_not_an_http_url_is_unreachable() -> None:
    probe = LiveProbe.run("ftp://example.org", requests=1, headers={})
    assert not probe.reachable
    assert probe.root.error == "not an http(s) URL"


def test_live_checks_are_live_only_and_unknown_without_a_url(repo: Path) -> None:
    ctx = build_context(repo, AuditOptions(analysers=False))
    live = [c for c in all_checks() if c.spec.id.startswith("live.")]
    assert {c.spec.id for c in live} == LIVE_IDS
    assert all(c.spec.live for c in live)
    assert {c.run(ctx).status for c in live} == {"unknown"}


# --- judging boundaries and parsers ----------------------------------------------------------
@pytest.mark.parametrize(
    ("p95", "status", "score"),
    [(500.0, "pass", 100), (500.1, "warn", 90), (2000.0, "warn", 50), (2000.1, "fail", 20)],
)
def test_latency_thresholds(
    repo: Path, p95: float, status: str, score: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from readiness.live import Exchange

    root = Exchange("GET", "http://svc/", 200, 1.0)
    health = Exchange("GET", "http://svc/health", 200, 1.0, body="ok")
    latency = Latency("http://svc/health", (1.0, p95), (200, 200))
    probe = LiveProbe("http://svc", True, root, health=(health,), latency=latency)
    ctx = build_context(repo, AuditOptions(url="http://svc", analysers=False))
    # The context probes once, on first use: hand it this probe instead.
    monkeypatch.setattr(LiveProbe, "run", classmethod(lambda cls, *args, **kwargs: probe))
    check = next(c for c in all_checks() if c.spec.id == "live.latency")
    outcome = check.run(ctx)
    assert (outcome.status, outcome.score) == (status, score)


def test_components_reads_grouped_and_flat_bodies() -> None:
    assert components({"status": "fail", "checks": {"db": {"status": "down"}, "q": "ok"}}) == {
        "db": "down",
        "q": "ok",
    }
    assert components({"components": [{"name": "redis", "healthy": False}]}) == {"redis": "down"}
    assert components({"status": "ok", "database": "up", "version": "1.2"}) == {"database": "up"}
    assert components({"status": "ok"}) == {}
    assert components(["ok"]) == {}


def test_openapi_security_and_server_prefix() -> None:
    doc = parse_openapi(
        '{"openapi": "3.0.3", "servers": [{"url": "https://x.example/api"}],'
        ' "security": [{"key": []}],'
        ' "paths": {"/a": {"get": {}}, "/b": {"get": {"security": []}},'
        ' "/c": {"post": {"security": [{}, {"key": []}]}}}}',
        "application/json",
        "http://x/openapi.json",
    )
    assert doc.valid and doc.version == "3.0.3" and doc.paths == 3
    assert [(o.method, o.path, o.secured) for o in doc.operations] == [
        ("GET", "/api/a", True),
        ("GET", "/api/b", False),
        ("POST", "/api/c", False),
    ]
    assert parse_openapi("openapi: 3.1.0\npaths: {}\n", "application/yaml", "u").paths == 0
    assert parse_openapi('{"paths": {}}', "application/json", "u").error == (
        "no `openapi` or `swagger` version field"
    )
    assert parse_openapi("<html>", "text/html", "u").error == "not JSON or YAML (JSONDecodeError)"


def test_stack_trace_kinds() -> None:
    python = 'Traceback (most recent call last):\n  File "/app/x.py", line 3, in f\n'
    assert stack_trace(python) == "Python traceback"
    java = "java.lang.NullPointerException\n\tat com.acme.Api.get(Api.java:42)\n"
    assert stack_trace(java) == "Java stack trace"
    assert stack_trace("goroutine 1 [running]:\nmain.main()") == "Go panic"
    escaped = '{"trace": "  File \\"/app/x.py\\", line 3, in f"}'  # a trace inside JSON
    assert stack_trace(escaped) == "Python traceback"
    assert stack_trace('{"detail": "Not Found"}') is None
    assert stack_trace("line 3 of the file") is None


def test_live_findings_merge_into_the_report(
    repo: Path, bad: tuple[str, dict[str, Outcome]]
) -> None:
    from readiness.engine import run_audit

    url, _ = bad  # the bad service is still up for this module
    report = run_audit(repo, AuditOptions(url=url, analysers=False, live_requests=2))
    assert report.url == url
    by_id = {r.id: r for r in report.results}
    assert set(by_id) >= LIVE_IDS
    assert by_id["live.auth-enforced"].status == "fail"
    gap = next(g for g in report.gaps if g.id == "live.auth-enforced")
    assert (gap.severity, gap.category, gap.depends_on) == (
        "critical",
        "security",
        ("live.reachable",),
    )
    assert gap.evidence[0].location == f"{url}/api/users"
    offline = run_audit(repo, AuditOptions(analysers=False))
    assert not {r.id for r in offline.results} & LIVE_IDS
