"""The auditor's vocabulary: evidence, check outcomes, gaps and the report they make.

Everything here is plain frozen data, so checks can run in threads and the reports
(Markdown, JSON, SARIF) are pure functions of an `AuditReport`.

How evidence is weighed (`Strength`, strongest first):

- ``wired``: code on a running path (defined in source *and* used from source that is
  not a test, a route actually registered, a workflow step that runs the tests);
- ``code``: defined in source but not shown to be used;
- ``config``: a parsed configuration file says so (Dockerfile, compose, Kubernetes,
  Terraform, CI workflow, Prometheus rules);
- ``dependency``: a declared dependency (pyproject, requirements, package.json);
- ``test``: only tests exercise it;
- ``docs``: only a document mentions it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = [
    "CATEGORIES",
    "EFFORT_HOURS",
    "SEVERITY_ORDER",
    "STRENGTH_WEIGHT",
    "AuditReport",
    "Band",
    "CategoryScore",
    "CheckResult",
    "CheckSpec",
    "Effort",
    "Evidence",
    "Gap",
    "Outcome",
    "RoadmapStep",
    "Severity",
    "Status",
    "Strength",
]

Status: TypeAlias = Literal["pass", "warn", "fail", "unknown"]
Severity: TypeAlias = Literal["critical", "high", "medium", "low"]
Effort: TypeAlias = Literal["S", "M", "L", "XL"]
Strength: TypeAlias = Literal["wired", "code", "config", "dependency", "test", "docs", "live"]
Band: TypeAlias = Literal["production-ready", "nearly-ready", "significant-work"]

#: Category id -> human title, in report order.
CATEGORIES: dict[str, str] = {
    "llm": "LLM integration",
    "resilience": "Infrastructure resilience",
    "testing": "Testing",
    "observability": "Monitoring and observability",
    "security": "Security and compliance",
    "deployment": "Deployment",
    "documentation": "Documentation",
    "performance": "Performance and scalability",
}

#: How much one piece of evidence of each strength is worth, as a share of full marks.
#: A running code path is proof; a dependency is intent; a document is a promise.
STRENGTH_WEIGHT: dict[Strength, float] = {
    "wired": 1.0,
    "live": 1.0,
    "config": 0.9,
    "code": 0.6,
    "dependency": 0.45,
    "test": 0.3,
    "docs": 0.25,
}

SEVERITY_ORDER: dict[Severity, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3}

#: Rough engineering hours behind each effort size (shown in the roadmap).
EFFORT_HOURS: dict[Effort, tuple[int, int]] = {
    "S": (1, 4),
    "M": (4, 16),
    "L": (16, 40),
    "XL": (40, 120),
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a finding comes from: ``path:line`` (line 0: the file as a whole)."""

    path: str
    line: int
    strength: Strength
    note: str = ""

    @property
    def location(self) -> str:
        """``path:line`` (``path`` alone for a whole file, the URL for live probes)."""
        return f"{self.path}:{self.line}" if self.line > 0 else self.path


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a check function returns.

    ``score`` is 0-100 (ignored for ``unknown``). ``severity`` overrides the check's
    default when the finding is worse (or milder) than usual, e.g. a real leaked key is
    critical. ``strengths`` and ``gaps`` are short sentences for the report.
    """

    status: Status
    score: int
    summary: str
    evidence: tuple[Evidence, ...] = ()
    strengths: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()
    severity: Severity | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.score <= 100:
            raise ValueError(f"score must be 0-100, got {self.score}")


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """What a check is, independent of any repository."""

    id: str
    category: str
    title: str
    #: Weight within its category (relative).
    weight: float
    #: Severity of the gap when the check fails (a warn is one step milder).
    severity: Severity
    effort: Effort
    impact: str
    recommendation: str
    #: Check ids whose gaps must be closed first.
    depends_on: tuple[str, ...] = ()
    #: Live checks run only with ``--url``.
    live: bool = False


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome on one repository (after suppressions)."""

    spec: CheckSpec
    outcome: Outcome
    suppressed: str | None = None  # the reason, when a suppression matched

    @property
    def id(self) -> str:
        """The check's id."""
        return self.spec.id

    @property
    def status(self) -> Status:
        """Pass / warn / fail / unknown."""
        return self.outcome.status

    @property
    def score(self) -> int:
        """0-100."""
        return self.outcome.score


@dataclass(frozen=True, slots=True)
class Gap:
    """A failed or weak check, as work to do."""

    id: str  # the check id
    category: str
    title: str
    severity: Severity
    impact: str
    recommendation: str
    effort: Effort
    depends_on: tuple[str, ...]
    summary: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class RoadmapStep:
    """One gap at its place in the roadmap."""

    order: int
    gap: Gap
    #: The most severe gap this one unblocks (itself included): why it is this early.
    priority: Severity
    phase: str


@dataclass(frozen=True, slots=True)
class CategoryScore:
    """A category's score (None when every check was inconclusive)."""

    id: str
    title: str
    weight: float
    score: float | None
    passed: int
    warned: int
    failed: int
    unknown: int


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Everything the report formats render."""

    tool_version: str
    target: str
    url: str | None
    generated_at: str
    duration_s: float
    categories: tuple[CategoryScore, ...]
    overall: float | None
    band: Band | None
    weakest: CategoryScore | None
    results: tuple[CheckResult, ...]
    gaps: tuple[Gap, ...]
    roadmap: tuple[RoadmapStep, ...]
    #: Which external analysers ran, and why the others did not.
    analysers: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    stats: dict[str, int] = field(default_factory=dict)
