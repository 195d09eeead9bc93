"""Request-log analytics: latency percentiles, errors and Guardian modes over time.

The input is Alice's NDJSON log (``docs/observability.md``, "The request line"): files,
rotated (``alice.log``, ``alice.log.1``, ...) and gzip-compressed or not, read line by
line so that files of gigabytes never sit in memory whole. Only ``http.request`` lines
are kept, as columns of numbers (about 30 bytes a request); every other event and every
line that is not a JSON object is skipped and counted in `ScanStats`.

`read_requests` does the reading (the only I/O here); `parse_line`, `analyze` and
`spearman` are pure. Percentiles are nearest-rank: the p-th percentile of n latencies
is the smallest one with at least p % of the requests at or below it, the
``ceil(p/100 * n)``-th smallest (numpy's ``method="inverted_cdf"``). It is always a
latency that was observed, and "p95 <= 2 s" then means exactly "at least 95 % of the
requests took 2 s or less", as the SLOs read.
"""

from __future__ import annotations

import gzip
import io
import math
import re
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
from numpy.typing import NDArray

from alice.errors import AliceError

__all__ = [
    "CHAT_ROUTES",
    "MODES",
    "PERCENTILES",
    "SERVER_FAULT_CODES",
    "Analysis",
    "BadInputError",
    "ModeStats",
    "RequestLog",
    "RequestRecord",
    "ScanStats",
    "Skip",
    "WindowStats",
    "analyze",
    "average_ranks",
    "is_bad",
    "iso",
    "parse_duration",
    "parse_line",
    "parse_time",
    "percentiles",
    "read_requests",
    "spearman",
]

#: The routes the latency SLOs are about.
CHAT_ROUTES: Final = ("/api/chat", "/v1/chat/completions")
#: Guardian modes in order of severity (their index is the severity used for Spearman).
MODES: Final = ("ok", "brownout", "emergency")
#: Reported percentiles: label and quantile.
PERCENTILES: Final = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p99.9", 0.999))


def _error_classes(cls: type[AliceError]) -> Iterator[type[AliceError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _error_classes(sub)


#: Stable error codes of server faults (their HTTP status is 5xx). A stream that ended in
#: one of these after its 200 is a bad event for availability, like a 5xx.
SERVER_FAULT_CODES: Final = frozenset(c.code for c in _error_classes(AliceError) if c.status >= 500)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_GZIP_MAGIC: Final = b"\x1f\x8b"


class BadInputError(Exception):
    """The command's input cannot be used (a missing file, a bad option, no requests).

    The message is one line for a person; the CLI prints it and exits with status 2.
    """


class Skip(StrEnum):
    """Why a log line is not a request."""

    OTHER_EVENT = "other-event"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """The fields of one ``http.request`` line that the analytics use."""

    timestamp: float
    """Seconds since the epoch (UTC)."""
    route: str
    status: int
    latency_ms: float
    guardian_mode: str | None
    error_class: str | None


@dataclass(slots=True)
class ScanStats:
    """What reading the files saw, line by line."""

    lines: int = 0
    requests: int = 0
    other_events: int = 0
    invalid: int = 0
    filtered_out: int = 0


@dataclass(frozen=True, slots=True)
class RequestLog:
    """Request lines as columns, sorted by time.

    Attributes:
        timestamp: seconds since the epoch.
        latency_ms: each request's latency.
        status: HTTP status.
        route: index into ``routes``.
        mode: Guardian severity (index into `MODES`), -1 when absent or unknown.
        error: index into ``error_labels``, -1 for a request that did not fail. A failed
            request without an ``error_class`` is labelled ``http-<status>``.
        bad: a bad event for availability (see `is_bad`).
        routes: route templates.
        error_labels: error classes.
        scan: line counts from reading.
    """

    timestamp: NDArray[np.float64]
    latency_ms: NDArray[np.float64]
    status: NDArray[np.int32]
    route: NDArray[np.int32]
    mode: NDArray[np.int8]
    error: NDArray[np.int32]
    bad: NDArray[np.bool_]
    routes: tuple[str, ...]
    error_labels: tuple[str, ...]
    scan: ScanStats = field(default_factory=ScanStats)

    def __len__(self) -> int:
        return int(self.timestamp.size)

    def select(self, keep: NDArray[np.bool_]) -> RequestLog:
        """The requests where ``keep`` is true (labels and scan counts unchanged)."""
        return RequestLog(
            timestamp=self.timestamp[keep],
            latency_ms=self.latency_ms[keep],
            status=self.status[keep],
            route=self.route[keep],
            mode=self.mode[keep],
            error=self.error[keep],
            bad=self.bad[keep],
            routes=self.routes,
            error_labels=self.error_labels,
            scan=self.scan,
        )

    def on_routes(self, routes: Iterable[str]) -> NDArray[np.bool_]:
        """A mask of the requests to any of ``routes``."""
        wanted = [i for i, r in enumerate(self.routes) if r in set(routes)]
        return np.isin(self.route, wanted)


def is_bad(status: int, error_class: str | None) -> bool:
    """A bad event for the availability SLO: a 5xx, or a stream ended by a server fault."""
    return status >= 500 or (error_class is not None and error_class in SERVER_FAULT_CODES)


def parse_duration(text: str) -> float:
    """Seconds in ``30s``, ``1m``, ``5m``, ``1h``, ``30d`` (units ms, s, m, h, d, w).

    Raises:
        BadInputError: not a positive duration.
    """
    match = _DURATION.match(text)
    seconds = float(match[1]) * _UNIT_S[match[2]] if match else 0.0
    if seconds <= 0:
        raise BadInputError(f"{text!r} is not a duration such as 30s, 5m, 1h or 30d")
    return seconds


def parse_time(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 date or time (UTC when it names no zone).

    Raises:
        BadInputError: not ISO 8601.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise BadInputError(f"{text!r} is not an ISO 8601 time such as 2025-01-31T12:00") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_line(line: bytes | str) -> RequestRecord | Skip:
    """The request in one log line, or why there is none."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Skip.INVALID
    if not isinstance(obj, dict):
        return Skip.INVALID
    if obj.get("event") != "http.request":
        return Skip.OTHER_EVENT
    return _request(obj)


def _request(obj: dict[str, Any]) -> RequestRecord | Skip:
    route, status, latency = obj.get("route"), obj.get("status"), obj.get("latency_ms")
    mode, error_class, stamp = (
        obj.get("guardian_mode"),
        obj.get("error_class"),
        obj.get("timestamp"),
    )
    # bool is an int in Python: a `true` status is as broken as a missing one.
    if (
        not isinstance(route, str)
        or not isinstance(status, int)
        or isinstance(status, bool)
        or not isinstance(latency, int | float)
        or isinstance(latency, bool)
        or not math.isfinite(latency)
        or latency < 0
        or not isinstance(stamp, str)
    ):
        return Skip.INVALID
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return Skip.INVALID
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return RequestRecord(
        timestamp=moment.timestamp(),
        route=route,
        status=status,
        latency_ms=float(latency),
        guardian_mode=mode if isinstance(mode, str) else None,
        error_class=error_class if isinstance(error_class, str) else None,
    )


def _open(path: Path) -> io.BufferedIOBase:
    # Rotated files may be compressed whatever their name says: trust the magic bytes.
    with path.open("rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == _GZIP_MAGIC else path.open("rb")


class _Columns:
    """Growing typed arrays (compact while reading) with interned labels."""

    def __init__(self) -> None:
        self.timestamp = array("d")
        self.latency = array("d")
        self.status = array("i")
        self.route = array("i")
        self.mode = array("b")
        self.error = array("i")
        self.bad = array("b")
        self.routes: dict[str, int] = {}
        self.errors: dict[str, int] = {}

    def add(self, r: RequestRecord) -> None:
        self.timestamp.append(r.timestamp)
        self.latency.append(r.latency_ms)
        self.status.append(r.status)
        self.route.append(self.routes.setdefault(r.route, len(self.routes)))
        self.mode.append(MODES.index(r.guardian_mode) if r.guardian_mode in MODES else -1)
        label = r.error_class or (f"http-{r.status}" if r.status >= 400 else None)
        self.error.append(-1 if label is None else self.errors.setdefault(label, len(self.errors)))
        self.bad.append(is_bad(r.status, r.error_class))

    def build(self, scan: ScanStats) -> RequestLog:
        timestamp = np.frombuffer(self.timestamp, dtype=np.float64)
        # Rotated files hold older lines than the live one: order by time, not by file.
        order = np.argsort(timestamp, kind="stable")
        return RequestLog(
            timestamp=timestamp[order],
            latency_ms=np.frombuffer(self.latency, dtype=np.float64)[order],
            status=np.asarray(self.status, dtype=np.int32)[order],
            route=np.asarray(self.route, dtype=np.int32)[order],
            mode=np.asarray(self.mode, dtype=np.int8)[order],
            error=np.asarray(self.error, dtype=np.int32)[order],
            bad=np.asarray(self.bad, dtype=np.bool_)[order],
            routes=tuple(self.routes),
            error_labels=tuple(self.errors),
            scan=scan,
        )


def read_requests(
    paths: Sequence[Path],
    *,
    routes: Iterable[str] | None = None,
    since: float | None = None,
    until: float | None = None,
) -> RequestLog:
    """Read the request lines of log files (plain or gzip), streaming.

    Args:
        paths: log files, in any order.
        routes: keep only these route templates (all when None).
        since: keep requests at or after this time (epoch seconds).
        until: keep requests before this time.

    Raises:
        BadInputError: a file is missing or unreadable.
    """
    wanted = None if routes is None else frozenset(routes)
    for path in paths:
        if not path.is_file():
            raise BadInputError(f"{path}: no such file")
    columns, scan = _Columns(), ScanStats()
    for path in paths:
        try:
            with _open(path) as lines:
                for line in lines:
                    scan.lines += 1
                    parsed = parse_line(line)
                    if parsed is Skip.OTHER_EVENT:
                        scan.other_events += 1
                    elif isinstance(parsed, Skip):
                        scan.invalid += 1
                    elif (
                        (wanted is not None and parsed.route not in wanted)
                        or (since is not None and parsed.timestamp < since)
                        or (until is not None and parsed.timestamp >= until)
                    ):
                        scan.filtered_out += 1
                    else:
                        scan.requests += 1
                        columns.add(parsed)
        except (OSError, EOFError) as exc:
            raise BadInputError(f"{path}: cannot be read ({exc})") from exc
    return columns.build(scan)


def percentiles(latency_ms: NDArray[np.float64]) -> dict[str, float | None]:
    """Nearest-rank p50, p95, p99 and p99.9 (None for no requests)."""
    if latency_ms.size == 0:
        return {label: None for label, _ in PERCENTILES}
    values = np.quantile(latency_ms, [q for _, q in PERCENTILES], method="inverted_cdf")
    return {label: float(v) for (label, _), v in zip(PERCENTILES, values, strict=True)}


def average_ranks(values: NDArray[Any]) -> NDArray[np.float64]:
    """1-based ranks of ``values``; tied values share the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # the rank of each distinct value's last occurrence
    return (last - (counts - 1) / 2.0)[inverse.ravel()].astype(np.float64)


def spearman(x: NDArray[Any], y: NDArray[Any]) -> float | None:
    """Spearman's rank correlation (Pearson's on average ranks); None when undefined.

    It is undefined with fewer than two pairs or when either side is constant.
    """
    if x.size < 2 or x.size != y.size:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float(np.dot(dx, dx)) * float(np.dot(dy, dy)))
    return None if denominator == 0 else float(np.dot(dx, dy)) / denominator


@dataclass(frozen=True, slots=True)
class WindowStats:
    """One time window's requests."""

    start: float
    count: int
    rps: float
    errors: int
    error_ratio: float
    bad: int
    latency_ms: dict[str, float | None]
    error_classes: dict[str, int]
    modes: dict[str, int]


@dataclass(frozen=True, slots=True)
class ModeStats:
    """Requests served while the Guardian was in one mode.

    ``time_s`` is the time spent in the mode as the log shows it: the mode a request
    ended in is taken to hold until the next request ends.
    """

    mode: str
    requests: int
    share: float
    time_s: float
    time_share: float | None
    latency_ms: dict[str, float | None]


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything `analyze` finds; ``latency_by_mode`` keeps the raw values for plots."""

    window_s: float
    first: float
    last: float
    count: int
    errors: int
    bad: int
    latency_ms: dict[str, float | None]
    by_route: dict[str, dict[str, Any]]
    error_classes: dict[str, int]
    windows: tuple[WindowStats, ...]
    modes: tuple[ModeStats, ...]
    mode_latency_spearman: float | None
    scan: ScanStats
    latency_by_mode: dict[str, NDArray[np.float64]] = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The analysis as JSON-ready data (times as ISO 8601 UTC)."""
        return {
            "lines": asdict(self.scan),
            "window_s": self.window_s,
            "first": iso(self.first),
            "last": iso(self.last),
            "count": self.count,
            "errors": self.errors,
            "error_ratio": self.errors / self.count,
            "bad": self.bad,
            "latency_ms": self.latency_ms,
            "by_route": self.by_route,
            "error_classes": self.error_classes,
            "guardian": {
                "modes": {m.mode: _without(asdict(m), "mode") for m in self.modes},
                "mode_latency_spearman": self.mode_latency_spearman,
            },
            "windows": [{**asdict(w), "start": iso(w.start)} for w in self.windows],
        }


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def iso(moment: float) -> str:
    """An epoch time as ISO 8601 UTC with milliseconds (``2025-01-31T12:00:00.000Z``)."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _counts(codes: NDArray[Any], labels: Sequence[str]) -> dict[str, int]:
    valid = codes[codes >= 0]
    counts = np.bincount(valid, minlength=len(labels))
    return {labels[i]: int(n) for i, n in enumerate(counts) if n}


def _mode_stats(log: RequestLog) -> tuple[ModeStats, ...]:
    names = (*MODES, "unknown")
    code = np.where(log.mode >= 0, log.mode, len(MODES))
    # The mode of each request holds until the next request (the log is sorted by time).
    held = np.bincount(code[:-1], weights=np.diff(log.timestamp), minlength=len(names))
    span = float(log.timestamp[-1] - log.timestamp[0])
    stats = []
    for index, name in enumerate(names):
        mask = code == index
        n = int(mask.sum())
        if n == 0 and name == "unknown":
            continue
        stats.append(
            ModeStats(
                mode=name,
                requests=n,
                share=n / len(log),
                time_s=float(held[index]),
                time_share=float(held[index]) / span if span > 0 else None,
                latency_ms={
                    k: v
                    for k, v in percentiles(log.latency_ms[mask]).items()
                    if k in ("p50", "p95")
                },
            )
        )
    return tuple(stats)


def _windows(log: RequestLog, window_s: float) -> tuple[WindowStats, ...]:
    slot = np.floor(log.timestamp / window_s).astype(np.int64)
    # The log is sorted by time, so each window is one contiguous slice.
    starts, first = np.unique(slot, return_index=True)
    bounds = [*first.tolist(), len(log)]
    windows = []
    for i, start in enumerate(starts.tolist()):
        part = slice(bounds[i], bounds[i + 1])
        count = bounds[i + 1] - bounds[i]
        errors = int((log.error[part] >= 0).sum())
        windows.append(
            WindowStats(
                start=start * window_s,
                count=count,
                rps=count / window_s,
                errors=errors,
                error_ratio=errors / count,
                bad=int(log.bad[part].sum()),
                latency_ms=percentiles(log.latency_ms[part]),
                error_classes=_counts(log.error[part], log.error_labels),
                modes=_counts(log.mode[part], MODES),
            )
        )
    return tuple(windows)


def analyze(log: RequestLog, *, window_s: float) -> Analysis:
    """Summarise requests overall, per route, per window of ``window_s`` and per mode.

    Windows are aligned to the epoch (a 1 m window starts on the minute); windows with
    no request are left out.

    Raises:
        BadInputError: the log holds no request.
    """
    if len(log) == 0:
        raise BadInputError(f"no request lines found ({log.scan.lines} lines read)")
    by_route = {}
    for index in np.unique(log.route).tolist():
        mask = log.route == index
        by_route[log.routes[index]] = {
            "count": int(mask.sum()),
            "errors": int((log.error[mask] >= 0).sum()),
            "bad": int(log.bad[mask].sum()),
            "latency_ms": percentiles(log.latency_ms[mask]),
        }
    known = log.mode >= 0
    return Analysis(
        window_s=window_s,
        first=float(log.timestamp[0]),
        last=float(log.timestamp[-1]),
        count=len(log),
        errors=int((log.error >= 0).sum()),
        bad=int(log.bad.sum()),
        latency_ms=percentiles(log.latency_ms),
        by_route=dict(sorted(by_route.items())),
        error_classes=_counts(log.error, log.error_labels),
        windows=_windows(log, window_s),
        modes=_mode_stats(log),
        mode_latency_spearman=spearman(log.mode[known], log.latency_ms[known]),
        scan=log.scan,
        latency_by_mode={m: log.latency_ms[log.mode == i] for i, m in enumerate(MODES)},
    )
