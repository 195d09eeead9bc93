"""Live mode: probe a running service over HTTP and keep what it answered.

`LiveProbe.run` is called once per audit (`AuditContext.live`) and sends, in this order:

1. ``GET /`` (falling back to ``/health``): is anything answering at all;
2. ``GET`` a random unknown path: how errors look, and whether every path answers 200
   (a catch-all, which would make any "endpoint found" meaningless);
3. health (``/health``, ``/healthz``, ``/livez``) and readiness (``/ready``, ``/readyz``);
4. ``/metrics`` and the OpenAPI document (again with the given headers when they were
   refused without them);
5. authentication: ``GET`` requests *without* credentials to endpoints that should be
   protected (from the OpenAPI document, else common API paths). Only ``GET``: the
   auditor never sends a request that could change data on a service without auth;
6. latency: ``requests`` sequential requests to the health endpoint (and to a protected
   endpoint with the given headers, when some were given);
7. last, a capped burst without pauses, to see whether the service answers 429.

Network errors never raise: each becomes an `Exchange` with ``error`` set. A time budget
bounds the whole probe against a slow service. The given headers (credentials) are sent
only by the probes marked ``credentials=True``.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from readiness.liveparse import MetricsScan, OpenApiDoc, parse_metrics, parse_openapi

__all__ = [
    "HEALTH_PATHS",
    "OPENAPI_PATHS",
    "READY_PATHS",
    "Burst",
    "Exchange",
    "Latency",
    "LiveProbe",
]

HEALTH_PATHS = ("/health", "/healthz", "/livez")
READY_PATHS = ("/ready", "/readyz")
OPENAPI_PATHS = ("/openapi.json", "/openapi.yaml", "/swagger.json")
#: Tried for the authentication probe when there is no OpenAPI document: resources that
#: no production service should serve to anonymous callers.
COMMON_API_PATHS = ("/v1/models", "/api/v1/users", "/api/users", "/users", "/admin", "/api/keys")
#: Never tested for authentication: probes and documentation are public by design.
_PUBLIC_PREFIXES = (
    "/health",
    "/live",
    "/ready",
    "/metrics",
    "/openapi",
    "/swagger",
    "/docs",
    "/redoc",
    "/favicon",
    "/robots.txt",
    "/.well-known",
)
_MAX_BODY = 4 * 1024 * 1024  # read at most this much of any body
_KEEP_BODY = 64 * 1024  # and keep this much of it
_MAX_AUTH_PROBES = 4
_ABSENT = frozenset({404, 405, 410, 501, 502, 504})
_USER_AGENT = "readiness-auditor (live probe)"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and what came back (``status`` None: no HTTP answer, see ``error``)."""

    method: str
    url: str
    status: int | None
    elapsed_ms: float
    #: Response headers, names lower-cased.
    headers: tuple[tuple[str, str], ...] = ()
    #: The first 64 KiB of the body, decoded.
    body: str = ""
    error: str | None = None
    #: Sent with the given headers.
    credentials: bool = False

    @property
    def ok(self) -> bool:
        """Answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """A response header's value (first one), by case-insensitive name."""
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    @property
    def content_type(self) -> str:
        """The media type, lower case, without parameters."""
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def json(self) -> object | None:
        """The body as JSON (None when it is not JSON)."""
        import json

        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def describe(self) -> str:
        """``GET -> 200 in 3 ms`` (or the error), for evidence notes."""
        auth = " with the given headers" if self.credentials else ""
        if self.status is None:
            return f"{self.method}{auth}: no answer ({self.error})"
        return f"{self.method}{auth} -> {self.status} in {self.elapsed_ms:.0f} ms"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Latency:
    """Sequential requests to one endpoint: their times and statuses."""

    url: str
    samples_ms: tuple[float, ...]
    statuses: tuple[int | None, ...]
    credentials: bool = False

    @property
    def answered(self) -> int:
        """Requests that got an HTTP answer."""
        return sum(s is not None for s in self.statuses)

    @property
    def failures(self) -> int:
        """Requests with no answer or a 5xx."""
        return sum(s is None or s >= 500 for s in self.statuses)

    def _times(self) -> list[float]:
        return [t for t, s in zip(self.samples_ms, self.statuses, strict=True) if s is not None]

    @property
    def p50_ms(self) -> float | None:
        """Median time of the answered requests (nearest rank)."""
        times = self._times()
        return round(_percentile(times, 0.5), 1) if times else None

    @property
    def p95_ms(self) -> float | None:
        """95th percentile time of the answered requests (nearest rank)."""
        times = self._times()
        return round(_percentile(times, 0.95), 1) if times else None


@dataclass(frozen=True, slots=True)
class Burst:
    """Requests sent back to back to one endpoint, to provoke a rate limit."""

    url: str
    statuses: tuple[int | None, ...]
    elapsed_ms: float
    #: The Retry-After header of the first 429 (None: none had one, or no 429).
    retry_after: str | None = None
    #: A 503 carried Retry-After (load shedding rather than a rate limit).
    shed_retry_after: str | None = None
    credentials: bool = False

    @property
    def sent(self) -> int:
        """Requests sent."""
        return len(self.statuses)

    @property
    def limited(self) -> int:
        """Requests answered 429."""
        return self.statuses.count(429)

    @property
    def first_limited(self) -> int | None:
        """1-based number of the first request answered 429."""
        return self.statuses.index(429) + 1 if 429 in self.statuses else None

    @property
    def server_errors(self) -> int:
        """Requests answered 5xx."""
        return sum(s is not None and s >= 500 for s in self.statuses)

    @property
    def unanswered(self) -> int:
        """Requests with no HTTP answer."""
        return sum(s is None for s in self.statuses)

    @property
    def rate_per_s(self) -> float:
        """The request rate the burst reached."""
        return self.sent / max(self.elapsed_ms / 1000, 1e-3)


class _Session:
    """An httpx client with a deadline; every failure becomes an `Exchange`."""

    def __init__(self, credentials: Mapping[str, str], timeout_s: float, budget_s: float) -> None:
        self._credentials = dict(credentials)
        self._deadline = time.monotonic() + budget_s
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(3.0, timeout_s)),
            headers={"User-Agent": _USER_AGENT, "Accept": "*/*"},
            follow_redirects=False,
        )

    def __enter__(self) -> _Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._client.close()

    @property
    def expired(self) -> bool:
        """The probe's time budget is spent."""
        return time.monotonic() > self._deadline

    def get(self, url: str, *, credentials: bool = False, follow: bool = True) -> Exchange:
        """``GET url``; ``follow``: follow redirects (not for authentication probes)."""
        return self.fetch(url, credentials=credentials, follow=follow)[0]

    def fetch(
        self, url: str, *, credentials: bool = False, follow: bool = True
    ) -> tuple[Exchange, str]:
        """``GET url`` -> (the exchange, the whole body up to 4 MiB).

        A connection that breaks before any answer is retried once on a fresh one (a GET
        is safe to repeat): servers close idle keep-alive connections, and a service that
        drops the connection after an error must not lose the next probe too. Timeouts are
        not retried.
        """
        if self.expired:
            skipped = "skipped: the live probe's time budget was spent"
            return Exchange("GET", url, None, 0.0, error=skipped, credentials=credentials), ""
        for attempt in (1, 2):
            try:
                return self._attempt(url, credentials=credentials, follow=follow)
            except httpx.TimeoutException as exc:
                failure: Exception = exc
                break
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as exc:
                failure = exc
                if attempt == 2 or not isinstance(exc, httpx.TransportError):
                    break
        reason = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
        return Exchange("GET", url, None, 0.0, error=reason, credentials=credentials), ""

    def _attempt(self, url: str, *, credentials: bool, follow: bool) -> tuple[Exchange, str]:
        headers = self._credentials if credentials else None
        started = time.perf_counter()
        with self._client.stream("GET", url, headers=headers, follow_redirects=follow) as response:
            raw = bytearray()
            for chunk in response.iter_bytes():
                raw += chunk
                if len(raw) >= _MAX_BODY:
                    break
            elapsed = (time.perf_counter() - started) * 1000
            status = response.status_code
            names = tuple((k.lower(), v) for k, v in response.headers.multi_items())
            encoding = response.charset_encoding or "utf-8"
        try:
            text = bytes(raw[:_MAX_BODY]).decode(encoding, errors="replace")
        except LookupError:  # an unknown charset name
            text = bytes(raw[:_MAX_BODY]).decode("utf-8", errors="replace")
        exchange = Exchange(
            "GET", url, status, round(elapsed, 1), names, text[:_KEEP_BODY], None, credentials
        )
        return exchange, text


@dataclass(frozen=True, slots=True)
class LiveProbe:
    """What a running service answered; the live checks judge it."""

    url: str
    reachable: bool
    #: ``GET /`` (or the health fallback when ``/`` got no answer).
    root: Exchange
    #: A random path that should not exist.
    unknown: Exchange | None = None
    health: tuple[Exchange, ...] = ()
    readiness: tuple[Exchange, ...] = ()
    #: ``/metrics`` without, then (when refused) with the given headers.
    metrics: tuple[Exchange, ...] = ()
    metrics_scan: MetricsScan | None = None
    #: Every OpenAPI location tried, in order.
    openapi: tuple[Exchange, ...] = ()
    openapi_doc: OpenApiDoc | None = None
    #: Requests without credentials to endpoints that should be protected.
    auth: tuple[Exchange, ...] = ()
    #: Where those endpoints came from: "openapi", "common paths" or "" (none found).
    auth_source: str = ""
    #: The same endpoints requested with the given headers.
    authed: tuple[Exchange, ...] = ()
    latency: Latency | None = None
    authed_latency: Latency | None = None
    burst: Burst | None = None
    #: Headers (credentials) were given.
    credentials: bool = False

    # --- reading the observations --------------------------------------------------------
    @property
    def catch_all(self) -> bool:
        """A path that cannot exist answered 2xx: every path seems to."""
        return self.unknown is not None and self.unknown.ok

    def found(self, exchange: Exchange) -> bool:
        """``exchange`` answered 2xx with something other than the catch-all page."""
        if not exchange.ok:
            return False
        unknown = self.unknown
        return not (unknown is not None and unknown.ok and exchange.body == unknown.body)

    def exists(self, exchange: Exchange) -> bool:
        """The endpoint is there: a genuine 2xx, or an answer that no such route gives.

        404/405/410/501 say "no such route" and 502/504 "no upstream"; any other answer
        (a 401, a 503 "not ready", a 500) shows a handler or a guard, unless the unknown
        path got the same status (then the answer says nothing about this path).
        """
        if exchange.status is None or exchange.status in _ABSENT:
            return False
        if exchange.ok:
            return self.found(exchange)
        return self.unknown is None or exchange.status != self.unknown.status

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        """Every single request kept (latency and burst requests are only counted)."""
        items = [self.root]
        if self.unknown is not None:
            items.append(self.unknown)
        items += [*self.health, *self.readiness, *self.metrics, *self.openapi]
        items += [*self.auth, *self.authed]
        return tuple(items)

    # --- probing -------------------------------------------------------------------------
    @classmethod
    def run(
        cls,
        url: str,
        *,
        requests: int,
        headers: dict[str, str],
        burst: int = 60,
        timeout_s: float = 5.0,
        budget_s: float = 90.0,
    ) -> LiveProbe:
        """Probe the service at ``url`` (see the module docstring).

        Never raises on network errors: they are recorded in the exchanges.
        """
        base = url.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            bad = Exchange("GET", url, None, 0.0, error="not an http(s) URL")
            return cls(url=url, reachable=False, root=bad)
        with _Session(headers, timeout_s, budget_s) as session:
            root = session.get(base + "/")
            if root.status is None:
                fallback = session.get(base + HEALTH_PATHS[0])
                if fallback.status is None:
                    return cls(url=base, reachable=False, root=root, credentials=bool(headers))
                root = fallback
            unknown = session.get(f"{base}/readiness-probe-{secrets.token_hex(6)}", follow=False)
            probe = cls(
                url=base,
                reachable=True,
                root=root,
                unknown=unknown,
                health=tuple(session.get(base + p) for p in HEALTH_PATHS),
                readiness=tuple(session.get(base + p) for p in READY_PATHS),
                credentials=bool(headers),
            )
            probe = probe._with_metrics(session, base)
            probe = probe._with_openapi(session, base)
            probe = probe._with_auth(session, base)
            probe = probe._with_latency(session, requests)
            return probe._with_burst(session, burst)

    def _with_metrics(self, session: _Session, base: str) -> LiveProbe:
        first, text = session.fetch(base + "/metrics")
        tried = [first]
        answer = first
        if first.status in (401, 403) and self.credentials:
            answer, text = session.fetch(base + "/metrics", credentials=True)
            tried.append(answer)
        scan = parse_metrics(text, answer.content_type) if self.found(answer) else None
        return replace(self, metrics=tuple(tried), metrics_scan=scan)

    def _with_openapi(self, session: _Session, base: str) -> LiveProbe:
        tried: list[Exchange] = []
        doc: OpenApiDoc | None = None
        for path in OPENAPI_PATHS:
            answer, text = session.fetch(base + path)
            tried.append(answer)
            if answer.status in (401, 403) and self.credentials:
                answer, text = session.fetch(base + path, credentials=True)
                tried.append(answer)
            if self.found(answer):
                doc = parse_openapi(text, answer.content_type, answer.url)
                if doc.valid:
                    break
        return replace(self, openapi=tuple(tried), openapi_doc=doc)

    def _auth_targets(self, base: str) -> tuple[list[str], str]:
        doc = self.openapi_doc
        if doc is not None and doc.valid:
            ops = [
                op
                for op in doc.operations
                if op.method == "GET"
                and op.path not in ("", "/")
                and not op.path.startswith(_PUBLIC_PREFIXES)
                # When the document declares security anywhere, trust it about the rest.
                and (op.secured if doc.documents_security else op.secured is not False)
            ]
            # Plain paths first (a template filled with "1" may well be a 404), then the
            # ones that declare security.
            ops.sort(key=lambda op: (op.templated, not op.secured, op.path))
            if ops:
                return [_locate(base, _fill(op.path)) for op in ops[:_MAX_AUTH_PROBES]], "openapi"
        return [base + p for p in COMMON_API_PATHS], "common paths"

    def _with_auth(self, session: _Session, base: str) -> LiveProbe:
        targets, source = self._auth_targets(base)
        tried = [session.get(t, follow=False) for t in targets]
        if source == "common paths":  # guesses: keep only the ones that exist
            tried = [e for e in tried if self.exists(e)]
        authed = [
            session.get(e.url, credentials=True, follow=False)
            for e in tried
            if self.credentials and e.status in (401, 403)
        ][:2]
        return replace(
            self, auth=tuple(tried), auth_source=source if tried else "", authed=tuple(authed)
        )

    def health_endpoint(self) -> Exchange | None:
        """The first health endpoint that answered a genuine 2xx."""
        return next((e for e in self.health if self.found(e)), None)

    def _with_latency(self, session: _Session, requests: int) -> LiveProbe:
        target = self.health_endpoint()
        url = target.url if target is not None else self.root.url
        latency = _measure(session, url, max(1, requests), credentials=False)
        authed = next((e for e in self.authed if e.ok), None)
        authed_latency = (
            _measure(session, authed.url, max(1, requests), credentials=True)
            if authed is not None
            else None
        )
        return replace(self, latency=latency, authed_latency=authed_latency)

    def _burst_target(self) -> tuple[str, bool]:
        authed = next((e for e in self.authed if e.ok), None)
        if authed is not None:
            return authed.url, True
        protected = next((e for e in self.auth if e.status in (401, 403)), None)
        if protected is not None:
            return protected.url, False
        opened = next((e for e in self.auth if e.ok), None)
        if opened is not None:
            return opened.url, False
        if self.root.status is not None and self.root.status < 500:
            return self.root.url, False
        health = self.health_endpoint()
        return (health.url if health is not None else self.root.url), False

    def _with_burst(self, session: _Session, count: int) -> LiveProbe:
        url, credentials = self._burst_target()
        statuses: list[int | None] = []
        retry_after: str | None = None
        shed: str | None = None
        started = time.perf_counter()
        misses = 0
        for _ in range(max(1, count)):
            answer = session.get(url, credentials=credentials, follow=False)
            statuses.append(answer.status)
            if answer.status == 429 and retry_after is None:
                retry_after = answer.header("retry-after")
            if answer.status == 503 and shed is None:
                shed = answer.header("retry-after")
            misses = misses + 1 if answer.status is None else 0
            if misses >= 3 or session.expired:
                break  # the service stopped answering: don't keep hammering it
        elapsed = (time.perf_counter() - started) * 1000
        return replace(
            self,
            burst=Burst(url, tuple(statuses), round(elapsed, 1), retry_after, shed, credentials),
        )


def _locate(base: str, path: str) -> str:
    """The URL of an OpenAPI path.

    A path that already carries the base URL's own path (the document's server prefix)
    goes on the origin, any other on the base URL.
    """
    parts = urlsplit(base)
    if parts.path and (path == parts.path or path.startswith(parts.path + "/")):
        return f"{parts.scheme}://{parts.netloc}{path}"
    return base + path


def _fill(path: str) -> str:
    """A concrete path from a template: each ``{parameter}`` becomes ``1``."""
    out, depth = [], 0
    for char in path:
        if char == "{":
            depth += 1
            if depth == 1:
                out.append("1")
        elif char == "}":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _measure(session: _Session, url: str, count: int, *, credentials: bool) -> Latency:
    times: list[float] = []
    statuses: list[int | None] = []
    misses = 0
    for _ in range(count):
        answer = session.get(url, credentials=credentials)
        times.append(answer.elapsed_ms)
        statuses.append(answer.status)
        misses = misses + 1 if answer.status is None else 0
        if misses >= 3 or session.expired:
            break
    return Latency(url, tuple(times), tuple(statuses), credentials)
