"""Monitoring configuration, parsed.

Prometheus rule files (and PrometheusRule objects), promtool rule tests, Prometheus
scrape configs, Alertmanager configs and Grafana dashboards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from readiness.configs.yamlines import YMap

__all__ = [
    "Alertmanager",
    "Dashboard",
    "Rule",
    "ScrapeJob",
    "alertmanager",
    "dashboard",
    "rules",
    "scrape_jobs",
]


@dataclass(frozen=True, slots=True)
class Rule:
    """A Prometheus alerting (``alert:``) or recording (``record:``) rule."""

    path: str
    line: int
    group: str
    kind: str  # alert | record
    name: str
    expr: str
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    for_: str | None = None

    @property
    def runbook(self) -> str | None:
        """The ``runbook_url`` (or ``runbook``) annotation."""
        for key, value in self.annotations:
            if key.lower() in ("runbook_url", "runbook"):
                return value
        return None

    @property
    def severity(self) -> str | None:
        """The ``severity`` label."""
        return dict(self.labels).get("severity")


@dataclass(frozen=True, slots=True)
class ScrapeJob:
    """A ``scrape_configs`` job of a Prometheus configuration."""

    path: str
    line: int
    job: str


@dataclass(frozen=True, slots=True)
class Alertmanager:
    """An Alertmanager configuration: where alerts go."""

    path: str
    line: int
    receivers: tuple[str, ...]
    #: Receivers with an actual destination (e-mail, Slack, PagerDuty, webhook ...).
    wired_receivers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A Grafana dashboard (JSON model)."""

    path: str
    line: int
    title: str
    panels: int
    #: Every target expression (PromQL, SQL ...) of its panels.
    queries: tuple[str, ...]


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple((str(k), str(v)) for k, v in value.items())


def rules(path: str, groups: Any) -> list[Rule]:
    """The rules of a ``groups:`` list (a rule file or a PrometheusRule's spec)."""
    out: list[Rule] = []
    if not isinstance(groups, list):
        return out
    for group in groups:
        if not isinstance(group, YMap):
            continue
        name = str(group.get("name", ""))
        for rule in group.list("rules").maps():
            kind = "alert" if "alert" in rule else "record" if "record" in rule else ""
            if not kind:
                continue
            out.append(
                Rule(
                    path,
                    rule.line_of(kind),
                    name,
                    kind,
                    str(rule[kind]),
                    str(rule.get("expr", "")),
                    _pairs(rule.get("labels")),
                    _pairs(rule.get("annotations")),
                    str(rule["for"]) if "for" in rule else None,
                )
            )
    return out


def scrape_jobs(path: str, doc: YMap) -> list[ScrapeJob]:
    """The scrape jobs of a Prometheus configuration."""
    return [
        ScrapeJob(path, item.line_of("job_name"), str(item.get("job_name", "")))
        for item in doc.list("scrape_configs").maps()
    ]


def alertmanager(path: str, doc: YMap) -> Alertmanager:
    """An Alertmanager configuration document."""
    names: list[str] = []
    wired: list[str] = []
    for receiver in doc.list("receivers").maps():
        name = str(receiver.get("name", ""))
        names.append(name)
        if any(
            key.endswith("_configs") and receiver[key] for key in receiver if isinstance(key, str)
        ):
            wired.append(name)
    return Alertmanager(path, doc.line_of("receivers"), tuple(names), tuple(wired))


def _panels(items: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not isinstance(items, list):
        return out
    for panel in items:
        if not isinstance(panel, dict):
            continue
        if panel.get("type") == "row" or "panels" in panel:
            out.extend(_panels(panel.get("panels")))
            if panel.get("type") == "row":
                continue
        out.append(panel)
    return out


def dashboard(path: str, text: str, line_of_panels: int) -> Dashboard | None:
    """A Grafana dashboard from JSON ``text`` (None when it is not one).

    Accepts the dashboard model itself, the API's ``{"dashboard": {...}}`` wrapper and
    the old ``rows`` layout. Raises ValueError on invalid JSON.
    """
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("dashboard"), dict):
        data = data["dashboard"]
    if not isinstance(data, dict) or not ("panels" in data or "rows" in data):
        return None
    panels = _panels(data.get("panels"))
    for row in data.get("rows") or []:
        if isinstance(row, dict):
            panels.extend(_panels(row.get("panels")))
    queries = []
    for panel in panels:
        for target in panel.get("targets") or []:
            if isinstance(target, dict):
                query = target.get("expr") or target.get("rawSql") or target.get("query")
                if isinstance(query, str) and query.strip():
                    queries.append(query.strip())
    real = [p for p in panels if p.get("type") not in ("text", "news", "dashlist")]
    return Dashboard(path, line_of_panels, str(data.get("title", "")), len(real), tuple(queries))
