"""The files in ``deploy/`` as data, for the deploy tests.

The alert rules, the Grafana dashboard's queries, the metric names of the contract
(``docs/observability.md``) and a small PromQL scanner that lists the metric names an
expression reads. The scanner is not a PromQL parser: Prometheus itself checks that each
expression parses (``promtool check rules`` here, a real server in
``test_live_prometheus.py``); the scanner only has to find the names, which it tests on
known expressions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from tests.support.prometheus import REPO_ROOT

__all__ = [
    "DASHBOARD",
    "OBSERVABILITY_DOC",
    "PROMETHEUS_CONFIG",
    "RULES",
    "RULE_TESTS",
    "RUNBOOK",
    "DashboardQuery",
    "contract_base_name",
    "contract_metrics",
    "dashboard",
    "dashboard_queries",
    "grafana_to_promql",
    "metric_names",
    "rule_groups",
    "rules",
]

DEPLOY = REPO_ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "alice-rules.yml"
RULE_TESTS = (
    DEPLOY / "prometheus" / "alice-rules.test.yml",
    DEPLOY / "prometheus" / "alice-rules-3d.test.yml",
)
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "alice-dashboard.json"
OBSERVABILITY_DOC = REPO_ROOT / "docs" / "observability.md"
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"

# What Grafana puts in place of its variables when it sends a query: a rate window of a
# few scrape intervals, and the "All" value of the multi-value variables (allValue ".*").
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "${route}": ".*",
    "$route": ".*",
    "${model}": ".*",
    "$model": ".*",
}
_HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")
_CONTRACT_ROW = re.compile(r"^\|\s*`(alice_[a-z0-9_]+)`\s*\|\s*([a-z]+)")


def rules() -> dict[str, Any]:
    """``alice-rules.yml`` as loaded by YAML."""
    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return loaded


def rule_groups() -> list[dict[str, Any]]:
    """The rule groups of ``alice-rules.yml``."""
    groups: list[dict[str, Any]] = rules()["groups"]
    return groups


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard JSON."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


@dataclass(frozen=True)
class DashboardQuery:
    """One query of one panel."""

    panel: str
    ref_id: str
    expr: str


def dashboard_queries() -> list[DashboardQuery]:
    """Every query of every panel (rows included, and panels nested in rows)."""
    queries: list[DashboardQuery] = []
    stack = list(dashboard()["panels"])
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            queries.append(DashboardQuery(panel["title"], target["refId"], target["expr"]))
    return queries


def grafana_to_promql(expr: str) -> str:
    """The PromQL Grafana sends for ``expr`` with every variable at its default."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable in {expr!r}")
    return expr


def metric_names(expr: str) -> set[str]:
    """The metric (and recording rule) names that a PromQL expression reads.

    Strings, label matchers, range windows and grouping clauses are removed first; what
    is left is functions (a name before ``(``), keywords, numbers and metric names.
    """
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def contract_metrics() -> set[str]:
    """Every series name the metrics table of ``docs/observability.md`` promises.

    A histogram ``x`` promises ``x_bucket``, ``x_count`` and ``x_sum``.
    """
    names: set[str] = set()
    for line in OBSERVABILITY_DOC.read_text().splitlines():
        match = _CONTRACT_ROW.match(line)
        if match is None:
            continue
        name, kind = match.groups()
        if kind == "histogram":
            names.update(name + suffix for suffix in _HISTOGRAM_SERIES)
        else:
            names.add(name)
    return names


def contract_base_name(series: str) -> str:
    """The metric a series belongs to: ``x_bucket`` -> ``x``; others are themselves."""
    for suffix in _HISTOGRAM_SERIES:
        if series.endswith(suffix):
            return series.removesuffix(suffix)
    return series
