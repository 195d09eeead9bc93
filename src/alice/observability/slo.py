"""SLO reports: availability, chat latency attainment and the error budget left.

The objectives (``docs/observability.md``; overridable from the command line):

- **availability** 99.5 %: the share of requests that are not bad events (a 5xx, or a
  stream that ended in a server-fault error after its 200; see `analytics.is_bad`);
- **chat latency p95 <= 2 s**: at least 95 % of chat requests (``/api/chat`` and
  ``/v1/chat/completions``) end within 2 s;
- **chat latency p99 <= 3 s**: at least 99 % of them within 3 s.

For each, over the window looked at: the error budget is the number of bad events the
objective allows, ``(1 - objective) * total``; *consumed* is the share of it spent,
*remaining* the share left (negative once overspent), and the *burn rate* is how fast
it is spent relative to the rate that would use it up exactly over the SLO period
(``bad ratio / (1 - objective)``; 1 is on budget, 14.4 spends a 30-day budget in two
days). An SLO is *met* when its bad events are within the budget.

`report_from_records` reads a `RequestLog`; `report_from_prometheus` asks a Prometheus
server the same questions with ``increase()`` over the window. Prometheus extrapolates
``increase()`` to the window's edges, so its counts are estimates (not integers), and a
stream that fails after its 200 is counted by status (a 200), so the two sources can
differ slightly.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Final

import httpx
from prometheus_client.utils import floatToGoString

from alice.observability.analytics import CHAT_ROUTES, BadInputError, RequestLog, iso

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BREACHED",
    "EXIT_MET",
    "PROBE_ROUTES",
    "SloReport",
    "SloResult",
    "SloTargets",
    "Verdict",
    "report_from_prometheus",
    "report_from_records",
]

#: Machines poll these; they are not traffic for the SLOs.
PROBE_ROUTES: Final = ("/health", "/ready", "/metrics")

#: `alice slo report` exit codes: every SLO met (or without data), one breached, the
#: input could not be used.
EXIT_MET: Final = 0
EXIT_BREACHED: Final = 1
EXIT_BAD_INPUT: Final = 2
# Float slack when comparing bad events with the budget: 0.5 % of 1000 is 5.000000000000004.
_EPSILON: Final = 1e-9


@dataclass(frozen=True, slots=True)
class SloTargets:
    """The objectives.

    Attributes:
        availability: share of good requests, 0 < x < 1.
        latency_p95_s: the threshold that 95 % of chat requests must meet.
        latency_p99_s: the threshold that 99 % of chat requests must meet.
        period_s: the SLO period (the default window of a report).
        chat_routes: the routes the latency objectives are about.
    """

    availability: float = 0.995
    latency_p95_s: float = 2.0
    latency_p99_s: float = 3.0
    period_s: float = 30 * 86400.0
    chat_routes: tuple[str, ...] = CHAT_ROUTES

    def __post_init__(self) -> None:
        if not 0 < self.availability < 1:
            raise BadInputError(f"availability {self.availability} is not between 0 and 1")
        for name in ("latency_p95_s", "latency_p99_s", "period_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise BadInputError(f"{name} {value} is not a positive number")


class Verdict(StrEnum):
    """How an SLO fared."""

    MET = "met"
    BREACHED = "breached"
    NO_DATA = "no-data"


@dataclass(frozen=True, slots=True)
class SloResult:
    """One SLO over the window."""

    name: str
    objective: float
    threshold_s: float | None
    total: float
    bad: float
    attainment: float | None
    allowed_bad: float
    budget_consumed: float | None
    budget_remaining: float | None
    burn_rate: float | None
    verdict: Verdict

    @classmethod
    def compute(
        cls, name: str, objective: float, total: float, bad: float, threshold_s: float | None
    ) -> SloResult:
        """The result from the number of events and of bad ones."""
        allowed = (1 - objective) * total
        if total <= 0:
            return cls(name, objective, threshold_s, 0.0, 0.0, None, 0.0, None, None, None,
                       Verdict.NO_DATA)  # fmt: skip
        consumed = bad / allowed
        met = bad <= allowed * (1 + _EPSILON)
        return cls(
            name=name,
            objective=objective,
            threshold_s=threshold_s,
            total=total,
            bad=bad,
            attainment=1 - bad / total,
            allowed_bad=allowed,
            budget_consumed=consumed,
            budget_remaining=1 - consumed,
            burn_rate=(bad / total) / (1 - objective),
            verdict=Verdict.MET if met else Verdict.BREACHED,
        )


@dataclass(frozen=True, slots=True)
class SloReport:
    """Every SLO over one window of one source."""

    source: str
    window_s: float
    start: float | None
    end: float | None
    targets: SloTargets
    results: tuple[SloResult, ...]

    @property
    def exit_code(self) -> int:
        """`EXIT_BREACHED` when any SLO is breached, else `EXIT_MET`."""
        breached = any(r.verdict is Verdict.BREACHED for r in self.results)
        return EXIT_BREACHED if breached else EXIT_MET

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "source": self.source,
            "window_s": self.window_s,
            "start": None if self.start is None else iso(self.start),
            "end": None if self.end is None else iso(self.end),
            "targets": asdict(self.targets),
            "slos": {
                r.name: {k: v for k, v in asdict(r).items() if k != "name"} for r in self.results
            },
            "met": self.exit_code == EXIT_MET,
        }


def _results(
    targets: SloTargets, total: float, bad: float, chat: float, slow: tuple[float, float]
) -> tuple[SloResult, ...]:
    return (
        SloResult.compute("availability", targets.availability, total, bad, None),
        SloResult.compute("latency-p95", 0.95, chat, slow[0], targets.latency_p95_s),
        SloResult.compute("latency-p99", 0.99, chat, slow[1], targets.latency_p99_s),
    )


def report_from_records(
    log: RequestLog, targets: SloTargets, *, window_s: float | None = None
) -> SloReport:
    """The SLOs over the last ``window_s`` (default: the SLO period) of a request log.

    The window ends at the newest request: a report on last month's files is about last
    month, not about the empty time since.

    Raises:
        BadInputError: the log holds no request.
    """
    if len(log) == 0:
        raise BadInputError(f"no request lines found ({log.scan.lines} lines read)")
    window = targets.period_s if window_s is None else window_s
    end = float(log.timestamp[-1])
    recent = log.select(log.timestamp > end - window)
    # As the Prometheus rules (deploy/prometheus/alice-rules.yml) count: probes and
    # scrapes are not traffic, and a chat request that failed on the server is already
    # bad for availability (a fast 503 must not make latency look better).
    recent = recent.select(~recent.on_routes(PROBE_ROUTES))
    chat = recent.on_routes(targets.chat_routes) & (recent.status < 500)
    latency_s = recent.latency_ms[chat] / 1000
    slow = (
        float((latency_s > targets.latency_p95_s).sum()),
        float((latency_s > targets.latency_p99_s).sum()),
    )
    results = _results(
        targets, float(len(recent)), float(recent.bad.sum()), float(chat.sum()), slow
    )
    return SloReport("logs", window, float(recent.timestamp[0]), end, targets, results)


def _prometheus_duration(seconds: float) -> str:
    # PromQL range durations are integers with a unit; whole seconds are precise enough.
    return f"{max(1, round(seconds))}s"


def _query(client: httpx.Client, query: str) -> float | None:
    """The value of an instant query returning one sample, None when it returns none."""
    try:
        response = client.get("/api/v1/query", params={"query": query})
    except httpx.HTTPError as exc:
        raise BadInputError(f"cannot reach Prometheus at {client.base_url} ({exc})") from exc
    try:
        body = response.json()
    except ValueError as exc:
        raise BadInputError(
            f"{client.base_url} answered {response.status_code} without JSON: not Prometheus?"
        ) from exc
    if response.status_code != 200 or body.get("status") != "success":
        raise BadInputError(
            f"Prometheus refused {query!r}: {body.get('error', response.status_code)}"
        )
    result = body["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return value if math.isfinite(value) else None


def report_from_prometheus(
    url: str,
    targets: SloTargets,
    *,
    window_s: float | None = None,
    timeout_s: float = 30.0,
) -> SloReport:
    """The SLOs over the last ``window_s`` (default: the SLO period), from Prometheus.

    Args:
        url: the Prometheus server's base URL (``http://prometheus:9090``).
        targets: the objectives.
        window_s: how far back to look.
        timeout_s: per query.

    Raises:
        BadInputError: Prometheus cannot be reached or refuses a query, or has no
            histogram bucket at a latency threshold.
    """
    window = targets.period_s if window_s is None else window_s
    w = _prometheus_duration(window)
    routes = "|".join(targets.chat_routes)
    chat = f'route=~"{routes}",status!~"5.."'
    end = time.time()
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s) as client:
        traffic = f'route!~"{"|".join(PROBE_ROUTES)}"'
        total = _query(client, f"sum(increase(alice_http_requests_total{{{traffic}}}[{w}]))")
        bad = _query(
            client, f'sum(increase(alice_http_requests_total{{{traffic},status=~"5.."}}[{w}]))'
        )
        total = total or 0.0
        chat_total = _query(
            client, f"sum(increase(alice_http_request_duration_seconds_count{{{chat}}}[{w}]))"
        )
        slow = []
        for threshold in (targets.latency_p95_s, targets.latency_p99_s):
            # The client library's own rendering of ``le``, so the label matches exactly
            # (it has no type hints).
            le: str = floatToGoString(threshold)  # type: ignore[no-untyped-call]
            fast = _query(
                client,
                "sum(increase(alice_http_request_duration_seconds_bucket"
                f'{{{chat},le="{le}"}}[{w}]))',
            )
            if fast is None and chat_total:
                raise BadInputError(
                    f"Prometheus has no alice_http_request_duration_seconds bucket le={le}: "
                    "latency thresholds must be bucket bounds (docs/observability.md)"
                )
            slow.append(max(0.0, (chat_total or 0.0) - (fast or 0.0)))
    results = _results(targets, total, bad or 0.0, chat_total or 0.0, (slow[0], slow[1]))
    return SloReport("prometheus", window, end - window, end, targets, results)
