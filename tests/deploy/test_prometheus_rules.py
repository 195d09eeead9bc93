"""``deploy/``: alert rules, their promtool unit tests, the example config, the dashboard.

promtool is the real binary (``make tools`` fetches it; without it these tests fail with
the install hint, they never skip). Everything here runs in seconds without a server;
``test_live_prometheus.py`` loads the same files into a real Prometheus scraping a real
Alice.

Debian's promtool (what ``make tools`` unpacks) is built without Kubernetes service
discovery, so it refuses ``kubernetes_sd_configs`` as an unknown field. With such a
promtool the example config is checked with that one block swapped for a static target
(the relabelling, rules and everything else unchanged); a promtool with Kubernetes
discovery checks the file as it is.
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.artifacts import (
    DASHBOARD,
    PROMETHEUS_CONFIG,
    RULE_TESTS,
    RULES,
    RUNBOOK,
    contract_base_name,
    contract_metrics,
    dashboard,
    dashboard_queries,
    grafana_to_promql,
    metric_names,
    rule_groups,
)
from tests.support.prometheus import describe, run_promtool

_NO_KUBERNETES_SD = "field kubernetes_sd_configs not found"
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def _records() -> set[str]:
    return {
        rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule
    }


def _panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    stack = list(dashboard()["panels"])
    while stack:
        panel = stack.pop(0)
        panels.append(panel)
        stack.extend(panel.get("panels", []))
    return panels


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


# ------------------------------------------------------------------------- rules --


def test_rules_pass_promtool_check() -> None:
    result = run_promtool("check", "rules", str(RULES))
    assert result.returncode == 0, describe(result)
    count = sum(len(group["rules"]) for group in rule_groups())
    assert f"SUCCESS: {count} rules found" in result.stdout, describe(result)


def test_rule_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", *(str(path) for path in RULE_TESTS))
    assert result.returncode == 0, describe(result)
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), describe(result)


def test_every_alert_is_unit_tested_both_firing_and_quiet() -> None:
    fired: dict[str, int] = defaultdict(int)
    quiet: dict[str, int] = defaultdict(int)
    for path in RULE_TESTS:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                counts = fired if case.get("exp_alerts") else quiet
                counts[case["alertname"]] += 1
    names = {alert["alert"] for alert in _alerts()}
    # A test case naming no existing alert passes vacuously in promtool: refuse typos.
    assert set(fired) | set(quiet) <= names
    assert names - set(fired) == set(), "alerts never shown to fire"
    assert names - set(quiet) == set(), "alerts never shown to stay quiet"


def test_the_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    # The rules as if the fast page needed a 100x burn: the sustained 20x burn test must
    # now fail, naming the alert (promtool's failures are real failures here).
    original = RULES.read_text()
    broken = original.replace("(14.4 * 0.005)", "(100 * 0.005)")
    assert broken != original
    (tmp_path / RULES.name).write_text(broken)
    suite = yaml.safe_load(RULE_TESTS[0].read_text())
    suite["tests"] = [t for t in suite["tests"] if t["name"].startswith("a sustained 20x burn")]
    assert len(suite["tests"]) == 1
    (tmp_path / "broken.test.yml").write_text(yaml.safe_dump(suite))

    result = run_promtool("test", "rules", "broken.test.yml", cwd=tmp_path)

    assert result.returncode != 0, describe(result)
    assert "alertname: AliceAvailabilityBudgetBurnFast" in result.stderr, describe(result)


def test_every_alert_has_severity_summary_description_and_its_runbook_section() -> None:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", RUNBOOK.read_text(), flags=re.MULTILINE)
    anchors = {_github_anchor(heading) for heading in headings}
    alerts = _alerts()
    assert len(alerts) >= 14
    for alert in alerts:
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"page", "ticket"}, name
        assert alert.get("for"), f"{name} fires on a single evaluation"
        annotations = alert["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), name
        assert annotations["runbook_url"] == f"docs/runbook.md#{name.lower()}"
        assert name.lower() in anchors, f"docs/runbook.md has no section for {name}"


def test_runbook_links_within_the_page_resolve() -> None:
    text = RUNBOOK.read_text()
    anchors = {_github_anchor(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links
    assert set(links) <= anchors


def test_rules_read_only_contract_metrics() -> None:
    contract = contract_metrics()
    for group in rule_groups():
        for rule in group["rules"]:
            names = metric_names(rule["expr"])
            assert names, rule["expr"]
            unknown = names - contract - _records() - {"up"}
            assert unknown == set(), f"{rule.get('alert') or rule.get('record')}: {unknown}"


# ------------------------------------------------------------------------ config --


def test_example_prometheus_config_passesrun_promtool(tmp_path: Path) -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    result = run_promtool("check", "config", str(PROMETHEUS_CONFIG))
    if result.returncode != 0 and _NO_KUBERNETES_SD in result.stdout + result.stderr:
        kubernetes = [job for job in config["scrape_configs"] if "kubernetes_sd_configs" in job]
        assert [job["kubernetes_sd_configs"] for job in kubernetes] == [[{"role": "pod"}]]
        for job in kubernetes:
            del job["kubernetes_sd_configs"]
            job["static_configs"] = [{"targets": ["10.0.0.1:8000"]}]
        (tmp_path / PROMETHEUS_CONFIG.name).write_text(yaml.safe_dump(config, sort_keys=False))
        shutil.copy(RULES, tmp_path / RULES.name)
        result = run_promtool("check", "config", str(tmp_path / PROMETHEUS_CONFIG.name))
    assert result.returncode == 0, describe(result)
    assert "SUCCESS: 1 rule files found" in result.stdout, describe(result)
    assert config["rule_files"] == [RULES.name]


def test_example_prometheus_config_gives_every_target_job_alice() -> None:
    # The rules and the dashboard select job="alice"; a target's own `job` label wins
    # over its scrape config's job_name.
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    for job in config["scrape_configs"]:
        static_jobs = {
            static.get("labels", {}).get("job", job["job_name"])
            for static in job.get("static_configs", [])
        }
        assert static_jobs <= {"alice"}, job["job_name"]
        if not static_jobs:
            assert job["job_name"] == "alice"
        assert job["metrics_path"] == "/metrics"


# --------------------------------------------------------------------- dashboard --


def test_dashboard_panels_have_unique_ids_and_queries() -> None:
    panels = _panels()
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] == "row":
            continue
        targets = panel["targets"]
        assert targets, panel["title"]
        assert panel["datasource"] == _DATASOURCE, panel["title"]
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"] == _DATASOURCE, panel["title"]


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _panels():
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_dashboard_variables() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name, metric in (
        ("route", "alice_http_requests_total"),
        ("model", "alice_model_tokens_total"),
    ):
        variable = variables[name]
        assert variable["type"] == "query"
        assert variable["includeAll"] and variable["multi"]
        assert variable["allValue"] == ".*"
        assert variable["query"]["query"] == f'label_values({metric}{{job="alice"}}, {name})'
    used = " ".join(query.expr for query in dashboard_queries())
    assert "$route" in used and "$model" in used


def test_dashboard_reads_only_contract_metrics_and_recording_rules() -> None:
    contract = contract_metrics()
    # The table was found: an unparsed table must not make the check below vacuous.
    assert "alice_http_request_duration_seconds_bucket" in contract and len(contract) >= 30
    known = contract | _records() | {"up"}
    for query in dashboard_queries():
        names = metric_names(grafana_to_promql(query.expr))
        assert names, f"{query.panel}: {query.expr}"
        assert names - known == set(), f"{query.panel}: {names - known}"


def test_dashboard_shows_every_contract_metric() -> None:
    shown = {
        contract_base_name(name)
        for query in dashboard_queries()
        for name in metric_names(grafana_to_promql(query.expr))
    }
    promised = {contract_base_name(name) for name in contract_metrics()}
    assert promised - shown == set()


def test_dashboard_shows_the_slo_lines() -> None:
    exprs = {query.panel: query.expr for query in dashboard_queries()}
    latency = next(p for p in _panels() if p["title"] == "Chat latency p50 / p95 / p99")
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [step["value"] for step in steps] == [None, 2, 3]
    assert latency["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
    quantiles = sorted(
        float(q)
        for t in latency["targets"]
        for q in re.findall(r"histogram_quantile\(([\d.]+)", t["expr"])
    )
    assert quantiles == [0.5, 0.95, 0.99]
    assert "Guardian mode" in exprs and "alice_guardian_mode" in exprs["Guardian mode"]


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard_folder() -> None:
    provisioning = DASHBOARD.parent / "provisioning"
    datasources = yaml.safe_load(
        (provisioning / "datasources" / "alice-prometheus.yaml").read_text()
    )
    assert [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    providers = yaml.safe_load((provisioning / "dashboards" / "alice.yaml").read_text())
    assert [p["type"] for p in providers["providers"]] == ["file"]
    assert providers["apiVersion"] == datasources["apiVersion"] == 1


# ------------------------------------------------------------------- the scanner --


def test_metric_names_finds_metrics_and_skips_functions_labels_and_keywords() -> None:
    quantile = (
        "histogram_quantile(0.95, sum by (le, route) "
        '(rate(alice_x_bucket{route=~"/a|b", le="2.0"}[5m])))'
    )
    cases = {
        quantile: {"alice_x_bucket"},
        'alice:sli_errors:ratio_rate1h{job="alice"} / 0.005 and on (job) up offset 5m': {
            "alice:sli_errors:ratio_rate1h",
            "up",
        },
        "sum(rate(foo_total[1m])) / 2^30 or vector(0)": {"foo_total"},
        'max without (state) (bar{state=~"open|half_open"}) == bool 1': {"bar"},
        'count(baz{msg="not_a_metric(x) or other"}) * 1e3': {"baz"},
        "predict_linear(disk[6h], 4 * 3600) < 0 unless ignoring (mode) gauge": {"disk", "gauge"},
    }
    for expr, expected in cases.items():
        assert metric_names(expr) == expected, expr
