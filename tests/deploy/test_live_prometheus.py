"""A real Prometheus, with Alice's rules loaded, scraping a real Alice.

Alice (the ``alice_url`` fixture: uvicorn, the real embedded model, its own database)
answers chat requests on both chat APIs and refuses invalid ones, in two batches with a
scrape between them (a counter series that first appears with its value counts no
increase, so the second batch is what the rates see). Then:

- ``promtool check metrics`` accepts a scrape of ``/metrics``;
- Prometheus counts exactly the requests that were sent, per route and status;
- every rule group loaded and each rule evaluated without an error;
- every rule expression and every dashboard query (Grafana's variables at their
  defaults) is accepted by Prometheus, and each dashboard variable's ``label_values``
  finds the routes and the model that were used;
- the availability SLI is exactly 0 (no request failed on the server), not "no data".

The copy of the rules loaded here has the groups' own ``interval`` removed, so that they
are evaluated at the test's 1 s instead of every 1 and 5 minutes; the expressions are
the file's. The waits are bounded polls for Prometheus to scrape or evaluate, not timing
assertions.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from alice.settings import DEFAULT_LLAMACPP_MODEL
from tests.deploy.artifacts import RULES, dashboard, dashboard_queries, grafana_to_promql
from tests.support.prometheus import describe, prometheus_server, run_promtool

CHAT_ROUTES = ("/api/chat", "/v1/chat/completions")
# How long Prometheus (scraping and evaluating every second) may take to catch up.
_WAIT_S = 60.0

T = TypeVar("T")
Sent = Counter[tuple[str, str]]


def _wait_for(what: str, probe: Callable[[], T | None]) -> T:
    """Poll ``probe`` until it returns something other than None; fail after _WAIT_S."""
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.25)
    pytest.fail(f"Prometheus did not {what} within {_WAIT_S:.0f} s")


def _query(prometheus: httpx.Client, promql: str) -> dict[str, Any]:
    body: dict[str, Any] = prometheus.get("/api/v1/query", params={"query": promql}).json()
    return body


def _vector(prometheus: httpx.Client, promql: str) -> list[dict[str, Any]]:
    body = _query(prometheus, promql)
    assert body["status"] == "success", (promql, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _send_batch(client: httpx.Client, sent: Sent) -> None:
    """Two chats on the Alice API, one on the OpenAI API, one refused; count them."""
    for text in ("Hej!", "Vad heter Sveriges huvudstad?"):
        response = client.post("/api/chat", json={"text": text, "max_tokens": 8})
        assert response.status_code == 200, response.text
        sent["/api/chat", "200"] += 1
    body = {
        "model": DEFAULT_LLAMACPP_MODEL,
        "messages": [{"role": "user", "content": "Hej!"}],
        "max_tokens": 8,
    }
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    sent["/v1/chat/completions", "200"] += 1
    # max_tokens must be at least 1: refused before the model, a client error.
    response = client.post("/api/chat", json={"text": "Hej!", "max_tokens": 0})
    assert response.status_code == 422, response.text
    sent["/api/chat", "422"] += 1


def _counted(prometheus: httpx.Client) -> Sent:
    """Chat requests Prometheus has scraped, by route and status."""
    routes = "|".join(CHAT_ROUTES)
    samples = _vector(
        prometheus, f'sum by (route, status) (alice_http_requests_total{{route=~"{routes}"}})'
    )
    return Counter(
        {(s["metric"]["route"], s["metric"]["status"]): int(float(s["value"][1])) for s in samples}
    )


def _scraped(prometheus: httpx.Client, sent: Sent) -> Sent:
    """Wait until Prometheus has scraped counts equal to ``sent``; return what it has."""
    _wait_for("count the requests sent", lambda: sent if _counted(prometheus) == sent else None)
    return _counted(prometheus)


@pytest.fixture
def rules_every_second(tmp_path: Path) -> Path:
    """The rules file with the groups' own intervals removed (see the module docstring)."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group.pop("interval", None)
    path = tmp_path / RULES.name
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


@pytest.fixture
def prometheus(alice_url: str, rules_every_second: Path, tmp_path: Path) -> Iterator[httpx.Client]:
    """A real Prometheus scraping ``alice_url`` every second, with the rules loaded."""
    target = urlsplit(alice_url).netloc
    with (
        prometheus_server([target], [rules_every_second], tmp_path / "prometheus") as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def test_prometheus_scrapes_alice_and_runs_the_rules_and_dashboard(
    alice_url: str, prometheus: httpx.Client
) -> None:
    sent: Sent = Counter()
    with httpx.Client(base_url=alice_url, timeout=120) as client:
        _send_batch(client, sent)
        assert _scraped(prometheus, sent) == sent
        _send_batch(client, sent)
    assert sent == {
        ("/api/chat", "200"): 4,
        ("/v1/chat/completions", "200"): 2,
        ("/api/chat", "422"): 2,
    }
    assert _scraped(prometheus, sent) == sent

    # promtool lints the exposition format (names, types, help texts, suffixes).
    scrape = httpx.get(f"{alice_url}/metrics", timeout=30)
    assert scrape.status_code == 200
    result = run_promtool("check", "metrics", stdin=scrape.text)
    assert result.returncode == 0, describe(result)

    # Every rule loaded, and each has been evaluated without an error.
    def evaluated() -> list[dict[str, Any]] | None:
        groups: list[dict[str, Any]] = prometheus.get("/api/v1/rules").json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return groups if all(rule["health"] != "unknown" for rule in rules) else None

    groups = _wait_for("evaluate every rule", evaluated)
    expected_groups = [group["name"] for group in yaml.safe_load(RULES.read_text())["groups"]]
    assert sorted(group["name"] for group in groups) == sorted(expected_groups)
    for group in groups:
        for rule in group["rules"]:
            assert rule["health"] == "ok", (group["name"], rule["name"], rule.get("lastError"))

    # Every rule and dashboard expression is valid PromQL for this Prometheus.
    exprs = [rule["query"] for group in groups for rule in group["rules"]]
    exprs += [grafana_to_promql(query.expr) for query in dashboard_queries()]
    assert len(exprs) > 60
    for expr in exprs:
        body = _query(prometheus, expr)
        assert body["status"] == "success", (expr, body)

    # None of the requests failed on the server, so the recorded availability SLI is 0:
    # a number, even though Alice has never exported a 5xx series.
    bad = sum(count for (_, status), count in sent.items() if status.startswith("5"))
    total = sum(sent.values())
    assert bad == 0 and total > 0

    def sli() -> list[float] | None:
        samples = _vector(prometheus, 'alice:sli_errors:ratio_rate5m{job="alice"}')
        values = [float(sample["value"][1]) for sample in samples]
        return values if values and not any(math.isnan(v) for v in values) else None

    assert _wait_for("record the availability SLI", sli) == [bad / total]

    # The dashboard's variables find what was used.
    variables = {variable["name"]: variable for variable in dashboard()["templating"]["list"]}
    used = {"route": set(CHAT_ROUTES), "model": {DEFAULT_LLAMACPP_MODEL}}
    for name, values in used.items():
        query = variables[name]["query"]["query"]
        selector = query.removeprefix("label_values(").removesuffix(f", {name})")
        answer = prometheus.get(f"/api/v1/label/{name}/values", params={"match[]": selector})
        assert answer.json()["status"] == "success", answer.text
        assert values <= set(answer.json()["data"]), (name, answer.json()["data"])
