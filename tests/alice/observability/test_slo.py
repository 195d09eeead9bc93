"""``alice slo report``: attainment, error budget and exit codes, from logs and Prometheus.

From logs the numbers are exact, so each is checked against the formula applied to the
requests the test wrote. From Prometheus (a real one scraping a real Alice) ``increase()``
extrapolates to the window's edges, so counts are checked as bounds around what the
test sent.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alice.observability.analytics import BadInputError
from alice.observability.slo import SloResult, SloTargets, Verdict
from alice.settings import Settings
from tests.conftest import SettingsFactory
from tests.support.cli import run_alice
from tests.support.prometheus import prometheus_server
from tests.support.servers import free_port

T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)


def line(
    at: datetime,
    latency_ms: float,
    *,
    route: str = "/api/chat",
    status: int = 200,
    error_class: str | None = None,
) -> str:
    return json.dumps(
        {
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "level": "info",
            "event": "http.request",
            "logger": "alice.http",
            "method": "POST",
            "route": route,
            "status": status,
            "latency_ms": latency_ms,
            "guardian_mode": "ok",
            "error_class": error_class,
            "stream": error_class is not None and status == 200,
        }
    )


def write_log(path: Path, requests: list[dict[str, Any]]) -> Path:
    path.write_text("".join(line(**r) + "\n" for r in requests))
    return path


def month_of_requests(bad: int, slow_2s: int, slow_3s: int) -> list[dict[str, Any]]:
    """1000 chat requests a few minutes apart, plus 200 health checks.

    ``bad`` of the chat requests fail on the server (one of them a stream that ended in
    a server fault after its 200); ``slow_2s`` take over 2 s, ``slow_3s`` of those over 3 s.
    """
    requests: list[dict[str, Any]] = []
    for i in range(1000):
        at = T0 + timedelta(minutes=40 * i)
        if i < slow_3s:
            latency = 3000.5 + i
        elif i < slow_2s:
            latency = 2000.5 + i
        else:
            latency = 100.0 + i % 1900  # at most 1999 ms
        request: dict[str, Any] = {"at": at, "latency_ms": latency}
        if i >= 1000 - bad:
            request |= {"status": 503, "error_class": "model-unavailable"}
        requests.append(request)
    if bad:
        # A stream that failed after its 200: still a bad event (docs/observability.md).
        requests[-1] = {**requests[-1], "status": 200}
    requests += [
        {"at": T0 + timedelta(minutes=200 * i, seconds=7), "latency_ms": 1.0, "route": "/health"}
        for i in range(200)
    ]
    return requests


def served_503(bad: int) -> int:
    """Chat requests of `month_of_requests` answered 503 (all the bad but the stream)."""
    return max(bad - 1, 0)


def report(tmp_path: Path, *args: str | Path) -> tuple[int, dict[str, Any], str]:
    result = run_alice("slo", "report", *map(str, args), "--json", env={}, cwd=tmp_path)
    data = json.loads(result.stdout) if result.returncode in (0, 1) else {}
    return result.returncode, data, result.stderr


def check(slo: dict[str, Any], objective: float, total: int, bad: int) -> None:
    """One SLO's numbers against the definitions, from the counts the test made."""
    allowed = (1 - objective) * total
    assert slo["objective"] == objective
    assert slo["total"] == total
    assert slo["bad"] == bad
    assert slo["attainment"] == pytest.approx(1 - bad / total)
    assert slo["allowed_bad"] == pytest.approx(allowed)
    assert slo["budget_consumed"] == pytest.approx(bad / allowed)
    assert slo["budget_remaining"] == pytest.approx(1 - bad / allowed)
    assert slo["burn_rate"] == pytest.approx((bad / total) / (1 - objective))
    assert slo["verdict"] == ("met" if bad <= allowed + 1e-9 else "breached")


def test_all_slos_met_exit_0(tmp_path: Path) -> None:
    # Budgets: 0.5 % of the 1000 chat requests (health checks are not traffic) = 5; 5 %
    # and 1 % of the chat requests that did not fail on the server.
    bad, slow_2s, slow_3s = 4, 40, 8
    log = write_log(tmp_path / "alice.log", month_of_requests(bad, slow_2s, slow_3s))
    code, data, stderr = report(tmp_path, "--logs", log)
    assert code == 0, stderr
    assert data["source"] == "logs"
    assert data["met"] is True
    slos = data["slos"]
    answered = 1000 - served_503(bad)
    check(slos["availability"], 0.995, 1000, bad)
    check(slos["latency-p95"], 0.95, answered, slow_2s)
    check(slos["latency-p99"], 0.99, answered, slow_3s)
    assert [s["verdict"] for s in slos.values()] == ["met", "met", "met"]
    assert slos["latency-p95"]["threshold_s"] == 2.0


def test_a_breached_slo_exits_1_and_objectives_can_be_changed(tmp_path: Path) -> None:
    bad = 8  # over the 5 that 0.5 % of 1000 allows
    answered = 1000 - served_503(bad)
    log = write_log(tmp_path / "alice.log", month_of_requests(bad, 60, 5))
    code, data, stderr = report(tmp_path, "--logs", log)
    assert code == 1, stderr
    assert data["met"] is False
    check(data["slos"]["availability"], 0.995, 1000, bad)
    check(data["slos"]["latency-p95"], 0.95, answered, 60)  # 60 slow of ~50 allowed
    check(data["slos"]["latency-p99"], 0.99, answered, 5)
    assert data["slos"]["availability"]["budget_remaining"] < 0

    code, data, stderr = report(
        tmp_path, "--logs", log, "--availability", "0.99", "--latency-p95", "2.5"
    )
    assert code == 0, stderr
    assert data["targets"]["availability"] == 0.99
    check(data["slos"]["availability"], 0.99, 1000, bad)
    # Over 2.5 s: the 5 over 3 s and those of the 2 s ones that took 2000.5 + i > 2500 ms.
    over = 5 + sum(1 for i in range(5, 60) if 2000.5 + i > 2500)
    check(data["slos"]["latency-p95"], 0.95, answered, over)


def test_the_window_ends_at_the_newest_request(tmp_path: Path) -> None:
    requests = month_of_requests(0, 0, 0)
    # Ten failures early in the month: outside the last 7 days.
    requests += [
        {"at": T0 + timedelta(hours=1, seconds=i), "latency_ms": 5.0, "status": 500}
        for i in range(10)
    ]
    log = write_log(tmp_path / "alice.log", requests)
    code, data, stderr = report(tmp_path, "--logs", log)
    assert code == 1, stderr
    traffic = [r for r in requests if r.get("route") != "/health"]
    check(data["slos"]["availability"], 0.995, len(traffic), 10)

    code, data, stderr = report(tmp_path, "--logs", log, "--window", "7d")
    assert code == 0, stderr
    newest = max(r["at"] for r in requests)
    recent = [r for r in traffic if r["at"] > newest - timedelta(days=7)]
    chat = [r for r in recent if r.get("route", "/api/chat") == "/api/chat"]
    check(data["slos"]["availability"], 0.995, len(recent), 0)
    check(data["slos"]["latency-p95"], 0.95, len(chat), 0)
    assert data["window_s"] == 7 * 86400
    assert data["end"] == newest.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_no_chat_requests_is_no_data_not_a_breach(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "alice.log",
        [
            {"at": T0 + timedelta(seconds=i), "latency_ms": 9000.0, "route": "/api/conversations"}
            for i in range(5)
        ],
    )
    code, data, stderr = report(tmp_path, "--logs", log)
    assert code == 0, stderr
    assert data["slos"]["latency-p95"]["verdict"] == "no-data"
    assert data["slos"]["latency-p95"]["total"] == 0
    check(data["slos"]["availability"], 0.995, 5, 0)


def test_table_output(tmp_path: Path) -> None:
    log = write_log(tmp_path / "alice.log", month_of_requests(8, 40, 8))
    result = run_alice("slo", "report", "--logs", str(log), env={}, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    rows = {row.split()[1]: row for row in result.stdout.splitlines() if row.startswith("│")}
    assert "breached" in rows["availability"]
    assert "met" in rows["latency-p95"] and "breached" not in rows["latency-p95"]


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    log = write_log(tmp_path / "alice.log", month_of_requests(0, 0, 0))
    (tmp_path / "other.log").write_text('{"event": "chat.turn"}\n')
    closed = f"http://127.0.0.1:{free_port()}"
    cases = [
        ((), "give log files"),
        (("--logs", log, "--prometheus", closed), "give log files"),
        (("--logs", tmp_path / "missing.log"), "no such file"),
        (("--logs", tmp_path / "other.log"), "no request lines found"),
        (("--logs", log, "--availability", "1.5"), "availability 1.5 is not between 0 and 1"),
        (("--logs", log, "--window", "soon"), "'soon' is not a duration"),
        (("--prometheus", closed, "--window", "5m"), f"cannot reach Prometheus at {closed}"),
    ]
    for args, message in cases:
        result = run_alice("slo", "report", *map(str, args), env={}, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_result_arithmetic_and_target_validation() -> None:
    result = SloResult.compute("availability", 0.995, total=2000.0, bad=4.0, threshold_s=None)
    assert result.allowed_bad == pytest.approx(10.0)
    assert result.budget_remaining == pytest.approx(0.6)
    assert result.burn_rate == pytest.approx(0.4)
    assert result.verdict is Verdict.MET
    assert SloResult.compute("x", 0.995, total=1000.0, bad=5.0, threshold_s=None).verdict is (
        Verdict.MET  # exactly the budget: 0.5 % of 1000 is 5.000000000000004 in floats
    )
    assert SloResult.compute("x", 0.995, total=1000.0, bad=6.0, threshold_s=None).verdict is (
        Verdict.BREACHED
    )
    assert SloResult.compute("x", 0.95, total=0.0, bad=0.0, threshold_s=2.0).verdict is (
        Verdict.NO_DATA
    )
    for bad_targets in ({"availability": 1.0}, {"availability": 0.0}, {"latency_p95_s": -1.0}):
        with pytest.raises(BadInputError):
            SloTargets(**bad_targets)


# --- Prometheus: a real one scraping a real Alice --------------------------------------


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    # Short answers: the test is about counting requests, not about the model.
    return make_settings(default_max_tokens=4)


def _instant(prometheus: str, query: str) -> float | None:
    body = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=10).json()
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _wait_for(
    prometheus: str, query: str, want: float, *, at_least: bool = False, timeout_s: float = 90
) -> None:
    """Until Prometheus's answer to ``query`` is ``want`` (or more); it scrapes every 1 s."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = _instant(prometheus, query)
        if got is not None and (got >= want if at_least else got == want):
            return
        assert time.monotonic() < deadline, f"{query} is {got}, want {want}"
        time.sleep(0.2)


def _served(alice_url: str) -> float:
    """Requests Alice has counted, scrapes of /metrics left out, by its own /metrics."""
    text = httpx.get(f"{alice_url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "alice_http_requests_total" and sample.labels["route"] != "/metrics"
    )


SERVED = 'sum(alice_http_requests_total{route!="/metrics"})'


def test_report_from_prometheus(tmp_path: Path, alice_url: str) -> None:
    chat_requests, health_checks, not_found = 3, 20, 4
    with prometheus_server([alice_url.removeprefix("http://")], [], tmp_path / "prom") as prom:
        client = httpx.Client(base_url=alice_url, timeout=120)
        # A first request of each kind, scraped before the counted ones: increase() counts
        # from a series' first sample, so a series born with its requests loses them.
        ask = {"text": "Hej!", "temperature": 0}
        assert client.post("/api/chat", json=ask).status_code == 200
        assert client.get("/health").status_code == 200
        assert client.get("/api/conversations/none").status_code == 404
        _wait_for(prom, SERVED, _served(alice_url))

        for _ in range(chat_requests):
            assert client.post("/api/chat", json=ask).status_code == 200
        for _ in range(health_checks):
            assert client.get("/health").status_code == 200
        for _ in range(not_found):
            assert client.get("/api/conversations/none").status_code == 404
        client.close()
        # Health checks are not traffic for the SLOs (nor are the scrapes).
        sent = chat_requests + not_found
        _wait_for(prom, SERVED, _served(alice_url))
        # increase() extrapolates a series' change by up to ~1.5 scrape intervals; over
        # 15 samples that is about a tenth, so the bounds below cannot be met by chance.
        samples = 'min(count_over_time(alice_http_requests_total{route!="/metrics"}[5m]))'
        _wait_for(prom, samples, 15, at_least=True)

        code, data, stderr = report(tmp_path, "--prometheus", prom, "--window", "5m")
        everything = _instant(
            prom, 'sum(alice_http_requests_total{route!~"/health|/ready|/metrics"})'
        )
        chat_total = _instant(prom, 'sum(alice_http_requests_total{route="/api/chat"})')

    assert code == 0, stderr
    assert data["source"] == "prometheus"
    assert data["window_s"] == 300
    availability = data["slos"]["availability"]
    # No 5xx was served: nothing bad, whatever the extrapolation.
    assert availability["bad"] == 0
    assert availability["attainment"] == 1.0
    assert availability["verdict"] == "met"
    # Every counted request but probes and scrapes: at least what was sent after the
    # first samples; extrapolation to the window's edges adds a little, never a quarter.
    assert everything is not None
    assert sent <= availability["total"] <= 1.25 * everything
    for name in ("latency-p95", "latency-p99"):
        latency = data["slos"][name]
        assert chat_total is not None
        assert chat_requests <= latency["total"] <= 1.25 * chat_total
        assert 0 <= latency["attainment"] <= 1
        assert latency["bad"] <= latency["total"]
