"""``alice logs analyze`` on request logs written here, with values known in advance.

The logs are made in the test: a window of 1000 chat requests taking 1..1000 ms, a
window with errors of two classes (and a route to filter out), a brownout window that
is slower, rotated files one of which is gzip-compressed, other events and garbage.
Every expected number is computed below from the requests written, never read back
from the code under test.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alice.observability.analytics import (
    Skip,
    average_ranks,
    parse_duration,
    parse_line,
    spearman,
)
from tests.support.cli import run_alice

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # on the minute: windows start at T0 + k min
QUANTILES = {"p50": Fraction(1, 2), "p95": Fraction(95, 100), "p99": Fraction(99, 100),
             "p99.9": Fraction(999, 1000)}  # fmt: skip
SEVERITY = {"ok": 0, "brownout": 1, "emergency": 2}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Req:
    at: datetime
    latency_ms: float
    route: str = "/api/chat"
    status: int = 200
    mode: str = "ok"
    error_class: str | None = None

    def line(self) -> str:
        return json.dumps(
            {
                "timestamp": self.at.isoformat().replace("+00:00", "Z"),
                "level": "info",
                "event": "http.request",
                "logger": "alice.http",
                "request_id": "r",
                "trace_id": "0" * 32,
                "method": "GET" if self.route == "/health" else "POST",
                "route": self.route,
                "status": self.status,
                "latency_ms": self.latency_ms,
                "tenant": "default",
                "guardian_mode": self.mode,
                "model": "gemma-3-270m",
                "prompt_tokens": 5,
                "completion_tokens": 7,
                "first_token_ms": 12.5,
                "cached": False,
                "stream": False,
                "error_class": self.error_class,
            }
        )


def nearest_rank(values: list[float], q: Fraction) -> float:
    """The smallest value with at least q of all values at or below it."""
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered)) - 1]


def expected_percentiles(reqs: list[Req]) -> dict[str, float]:
    return {k: nearest_rank([r.latency_ms for r in reqs], q) for k, q in QUANTILES.items()}


def ranks(values: list[float]) -> list[float]:
    """Average 1-based ranks, the textbook way."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def pearson(x: list[float], y: list[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    vx = sum((a - mx) ** 2 for a in x)
    vy = sum((b - my) ** 2 for b in y)
    return cov / math.sqrt(vx * vy)


def make_requests() -> dict[str, list[Req]]:
    """Three one-minute windows: A plain, B with errors, C in brownout and slower."""
    rng = random.Random(6)
    latencies = list(range(1, 1001))
    rng.shuffle(latencies)  # arrival order is not latency order
    a = [Req(T0 + timedelta(seconds=i * 0.05), float(ms)) for i, ms in enumerate(latencies)]
    b = []
    for i in range(200):
        at = T0 + timedelta(minutes=1, seconds=i * 0.25)
        if i % 10 == 0:
            b.append(
                Req(at, 40.0 + i, "/v1/chat/completions", 503, error_class="model-unavailable")
            )
        elif i % 10 in (1, 2):
            b.append(Req(at, 2.0 + i % 7, "/v1/chat/completions", 429, error_class="rate-limited"))
        elif i % 20 == 3:
            b.append(Req(at, 1.5, "/health"))
        else:
            b.append(Req(at, 150.0 + (i * 37) % 400, "/v1/chat/completions"))
    c = [
        Req(T0 + timedelta(minutes=2, seconds=i * 0.5), 2500.0 + (i * 53) % 900, mode="brownout")
        for i in range(100)
    ]
    return {"A": a, "B": b, "C": c}


@pytest.fixture(scope="module")
def windows() -> dict[str, list[Req]]:
    return make_requests()


@pytest.fixture
def log_files(tmp_path: Path, windows: dict[str, list[Req]]) -> list[Path]:
    """alice.log.2 (window B, with other events), alice.log.1.gz (A), alice.log (C + junk)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    other = json.dumps({"timestamp": T0.isoformat(), "level": "info", "event": "chat.turn"})
    older = logs / "alice.log.2"
    older.write_text("".join(f"{r.line()}\n{other}\n" for r in windows["B"]))
    rotated = logs / "alice.log.1.gz"
    with gzip.open(rotated, "wt") as file:
        file.writelines(f"{r.line()}\n" for r in windows["A"])
    live = logs / "alice.log"
    junk = ["not json at all", "", "[1, 2]", '{"event": "http.request", "status": 200}']
    live.write_text("\n".join([*junk, *(r.line() for r in windows["C"])]) + "\n")
    return [live, rotated, older]  # newest first, as `ls` lists them


def analyze(tmp_path: Path, *args: str | Path) -> tuple[int, dict[str, Any], str]:
    result = run_alice("logs", "analyze", *map(str, args), "--json", env={}, cwd=tmp_path)
    data = json.loads(result.stdout) if result.returncode == 0 else {}
    return result.returncode, data, result.stderr


def test_windows_percentiles_errors_and_line_counts(
    tmp_path: Path, log_files: list[Path], windows: dict[str, list[Req]]
) -> None:
    code, data, stderr = analyze(tmp_path, *log_files, "--window", "1m")
    assert code == 0, stderr

    everything = [r for reqs in windows.values() for r in reqs]
    assert data["count"] == len(everything)
    assert data["lines"] == {
        "lines": len(everything) + len(windows["B"]) + 4,
        "requests": len(everything),
        "other_events": len(windows["B"]),
        "invalid": 4,  # not JSON, blank, not an object, a request line without fields
        "filtered_out": 0,
    }
    assert data["latency_ms"] == expected_percentiles(everything)
    assert data["errors"] == sum(r.status >= 400 for r in everything)
    assert data["bad"] == sum(r.status >= 500 for r in everything)
    assert data["error_classes"] == dict(
        Counter(r.error_class for r in everything if r.error_class)
    )

    assert [w["start"] for w in data["windows"]] == [
        (T0 + timedelta(minutes=m)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for m in range(3)
    ]
    for got, name in zip(data["windows"], "ABC", strict=True):
        reqs = windows[name]
        errors = [r for r in reqs if r.status >= 400]
        assert got["count"] == len(reqs)
        assert got["rps"] == pytest.approx(len(reqs) / 60)
        assert got["errors"] == len(errors)
        assert got["error_ratio"] == pytest.approx(len(errors) / len(reqs))
        assert got["latency_ms"] == expected_percentiles(reqs)
        assert got["error_classes"] == dict(Counter(r.error_class for r in errors))
        assert got["modes"] == dict(Counter(r.mode for r in reqs))
    # Window A is 1..1000 ms: nearest-rank percentiles are the values themselves.
    assert data["windows"][0]["latency_ms"] == {"p50": 500, "p95": 950, "p99": 990, "p99.9": 999}

    by_route: dict[str, list[Req]] = {}
    for r in everything:
        by_route.setdefault(r.route, []).append(r)
    assert set(data["by_route"]) == set(by_route)
    for route, reqs in by_route.items():
        assert data["by_route"][route]["count"] == len(reqs)
        assert data["by_route"][route]["latency_ms"] == expected_percentiles(reqs)


def test_guardian_modes_and_their_correlation_with_latency(
    tmp_path: Path, log_files: list[Path], windows: dict[str, list[Req]]
) -> None:
    code, data, stderr = analyze(tmp_path, *log_files)
    assert code == 0, stderr
    everything = sorted((r for reqs in windows.values() for r in reqs), key=lambda r: r.at)
    modes = data["guardian"]["modes"]

    # Time in a mode: each request's mode holds until the next request.
    held: Counter[str] = Counter()
    for r, following in itertools.pairwise(everything):
        held[r.mode] += (following.at - r.at).total_seconds()
    span = (everything[-1].at - everything[0].at).total_seconds()
    for mode in ("ok", "brownout"):
        reqs = [r for r in everything if r.mode == mode]
        assert modes[mode]["requests"] == len(reqs)
        assert modes[mode]["share"] == pytest.approx(len(reqs) / len(everything))
        assert modes[mode]["time_s"] == pytest.approx(held[mode])
        assert modes[mode]["time_share"] == pytest.approx(held[mode] / span)
        percentiles = expected_percentiles(reqs)
        assert modes[mode]["latency_ms"] == {"p50": percentiles["p50"], "p95": percentiles["p95"]}
    assert modes["emergency"]["requests"] == 0

    rho = pearson(
        ranks([SEVERITY[r.mode] for r in everything]), ranks([r.latency_ms for r in everything])
    )
    assert rho > 0  # the brownout window is the slow one
    assert data["guardian"]["mode_latency_spearman"] == pytest.approx(rho, abs=1e-12)


def test_route_and_time_filters(
    tmp_path: Path, log_files: list[Path], windows: dict[str, list[Req]]
) -> None:
    everything = [r for reqs in windows.values() for r in reqs]

    code, data, stderr = analyze(tmp_path, *log_files, "--route", "/v1/chat/completions")
    assert code == 0, stderr
    openai = [r for r in everything if r.route == "/v1/chat/completions"]
    assert data["count"] == len(openai)
    assert data["lines"]["filtered_out"] == len(everything) - len(openai)
    assert data["latency_ms"] == expected_percentiles(openai)
    assert set(data["by_route"]) == {"/v1/chat/completions"}

    code, data, stderr = analyze(tmp_path, *log_files, "--route", "chat")
    assert code == 0, stderr
    chat = [r for r in everything if r.route != "/health"]
    assert data["count"] == len(chat)
    assert data["latency_ms"] == expected_percentiles(chat)

    since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    code, data, stderr = analyze(
        tmp_path, *log_files, "--since", since.isoformat(), "--until", "2025-03-01T12:02:00"
    )
    assert code == 0, stderr
    middle = [r for r in everything if since <= r.at < until]
    assert data["count"] == len(middle) == len(windows["B"])
    assert len(data["windows"]) == 1
    assert data["windows"][0]["error_classes"] == dict(
        Counter(r.error_class for r in middle if r.error_class)
    )


def test_windows_of_thirty_seconds(
    tmp_path: Path, log_files: list[Path], windows: dict[str, list[Req]]
) -> None:
    code, data, stderr = analyze(tmp_path, *log_files, "--window", "30s")
    assert code == 0, stderr
    everything = [r for reqs in windows.values() for r in reqs]
    slots: dict[int, list[Req]] = {}
    for r in everything:
        slots.setdefault(int((r.at - T0).total_seconds() // 30), []).append(r)
    assert [w["count"] for w in data["windows"]] == [len(slots[k]) for k in sorted(slots)]
    assert [w["latency_ms"] for w in data["windows"]] == [
        expected_percentiles(slots[k]) for k in sorted(slots)
    ]
    assert all(w["rps"] == pytest.approx(w["count"] / 30) for w in data["windows"])


def test_plots_are_png_files(tmp_path: Path, log_files: list[Path]) -> None:
    from matplotlib.image import imread

    out = tmp_path / "plots"
    code, data, stderr = analyze(tmp_path, *log_files, "--out", out)
    assert code == 0, stderr
    names = {
        "latency-percentiles.png",
        "traffic.png",
        "error-classes.png",
        "guardian-timeline.png",
        "latency-by-mode.png",
    }
    assert {Path(p).name for p in data["plots"]} == names
    assert {p.name for p in out.iterdir()} == names
    for name in names:
        png = out / name
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        pixels = imread(png)
        assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
        # Something was drawn: not a single flat colour.
        assert float(pixels.std()) > 0


def test_the_table_output_names_windows_and_modes(tmp_path: Path, log_files: list[Path]) -> None:
    result = run_alice("logs", "analyze", *map(str, log_files), env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for text in ("Requests", "Routes", "/v1/chat/completions", "model-unavailable", "brownout",
                 "2025-03-01T12:02:00.000Z"):  # fmt: skip
        assert text in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.log"], "missing.log: no such file"),
        (["garbage.log"], "no request lines found (3 lines read)"),
        (["alice.log", "--window", "fortnight"], "'fortnight' is not a duration"),
        (["alice.log", "--since", "yesterday"], "'yesterday' is not an ISO 8601 time"),
        (["alice.log", "--route", "/nowhere"], "no request lines found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "garbage.log").write_text("garbage\n{]\n" + json.dumps({"event": "x"}) + "\n")
    (tmp_path / "alice.log").write_text(Req(T0, 5.0).line() + "\n")
    result = run_alice("logs", "analyze", *args, env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_parse_line_keeps_requests_and_says_why_not() -> None:
    req = Req(T0, 12.5, status=503, mode="brownout", error_class="model-unavailable")
    record = parse_line(req.line())
    assert not isinstance(record, Skip)
    assert record.timestamp == T0.timestamp()
    assert (record.route, record.status, record.latency_ms) == ("/api/chat", 503, 12.5)
    assert (record.guardian_mode, record.error_class) == ("brownout", "model-unavailable")

    line = json.loads(req.line())
    assert parse_line(json.dumps({**line, "event": "chat.turn"})) is Skip.OTHER_EVENT
    for broken in (
        {**line, "status": True},
        {**line, "status": "200"},
        {**line, "latency_ms": None},
        {**line, "latency_ms": -1},
        {**line, "timestamp": "noon"},
        {k: v for k, v in line.items() if k != "route"},
    ):
        assert parse_line(json.dumps(broken)) is Skip.INVALID
    assert parse_line("{not json") is Skip.INVALID
    assert parse_line('"a string"') is Skip.INVALID


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m", 60), ("5m", 300), ("1h", 3600), ("30d", 2_592_000), ("250ms", 0.25)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_spearman_with_ties_matches_the_textbook() -> None:
    rng = random.Random(3)
    x = [rng.choice([0, 1, 2]) for _ in range(300)]
    y = [float(rng.randint(1, 40) + 10 * v) for v in x]  # many ties on both sides
    assert list(average_ranks(np.array(x))) == ranks(x)
    assert spearman(np.array(x), np.array(y)) == pytest.approx(pearson(ranks(x), ranks(y)))
    # Without ties it is 1 - 6 sum(d^2) / (n (n^2 - 1)): here d = (0, 1, -1, 0), so 0.8.
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 30, 20, 40])) == pytest.approx(0.8)
    assert spearman(np.array([1, 1, 1]), np.array([1, 2, 3])) is None  # constant: undefined
