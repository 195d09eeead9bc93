"""Terminal tables for ``alice logs analyze`` and ``alice slo report`` (rich)."""

from __future__ import annotations

from rich.table import Table

from alice.observability.analytics import PERCENTILES, Analysis, iso
from alice.observability.slo import SloReport, SloResult, Verdict

__all__ = ["analysis_tables", "slo_table"]

# More windows than this are summarised by their slowest ones: a month of 1 m windows
# is 43,200 rows, which nobody reads in a terminal (--json and --out have them all).
_MAX_WINDOW_ROWS = 48


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f} %"


def _latency_columns(table: Table) -> None:
    for label, _ in PERCENTILES:
        table.add_column(f"{label} ms", justify="right")


def analysis_tables(analysis: Analysis) -> list[Table]:
    """The overview, routes, windows, error classes and Guardian modes, as tables."""
    scan = analysis.scan
    overview = Table(title="Requests", show_header=False)
    overview.add_column()
    overview.add_column(justify="right")
    overview.add_row("from", iso(analysis.first))
    overview.add_row("to", iso(analysis.last))
    overview.add_row("requests", f"{analysis.count:,}")
    overview.add_row(
        "errors (4xx/5xx)", f"{analysis.errors:,} ({_pct(analysis.errors / analysis.count)})"
    )
    overview.add_row("server faults", f"{analysis.bad:,} ({_pct(analysis.bad / analysis.count)})")
    for label, _ in PERCENTILES:
        overview.add_row(f"latency {label}", f"{_ms(analysis.latency_ms[label])} ms")
    overview.add_row(
        "lines read",
        f"{scan.lines:,} ({scan.other_events:,} other events, {scan.invalid:,} not requests "
        f"or not JSON, {scan.filtered_out:,} filtered out)",
    )

    routes = Table(title="Routes")
    routes.add_column("route")
    routes.add_column("requests", justify="right")
    routes.add_column("errors", justify="right")
    _latency_columns(routes)
    for route, stats in analysis.by_route.items():
        latency = stats["latency_ms"]
        routes.add_row(
            route,
            f"{stats['count']:,}",
            f"{stats['errors']:,}",
            *(_ms(latency[label]) for label, _ in PERCENTILES),
        )

    shown = analysis.windows
    title = f"Windows of {analysis.window_s:g} s"
    if len(shown) > _MAX_WINDOW_ROWS:
        slowest = sorted(shown, key=lambda w: w.latency_ms["p95"] or 0.0)[-_MAX_WINDOW_ROWS:]
        shown = tuple(sorted(slowest, key=lambda w: w.start))
        title += f": the {_MAX_WINDOW_ROWS} with the highest p95 of {len(analysis.windows):,}"
    windows = Table(title=title)
    windows.add_column("start (UTC)")
    windows.add_column("req/s", justify="right")
    windows.add_column("errors", justify="right")
    _latency_columns(windows)
    windows.add_column("modes")
    for w in shown:
        windows.add_row(
            iso(w.start),
            f"{w.rps:.2f}",
            f"{w.errors} ({_pct(w.error_ratio, 1)})",
            *(_ms(w.latency_ms[label]) for label, _ in PERCENTILES),
            " ".join(f"{mode}:{n}" for mode, n in w.modes.items()),
        )

    classes = Table(title="Error classes")
    classes.add_column("class")
    classes.add_column("requests", justify="right")
    for name, count in sorted(analysis.error_classes.items(), key=lambda kv: -kv[1]):
        classes.add_row(name, f"{count:,}")

    rho = analysis.mode_latency_spearman
    modes = Table(
        title="Guardian modes (Spearman rank correlation of severity with latency: "
        f"{'-' if rho is None else f'{rho:+.3f}'})"
    )
    for column in ("mode", "requests", "share", "time", "time share", "p50 ms", "p95 ms"):
        modes.add_column(column, justify="left" if column == "mode" else "right")
    for m in analysis.modes:
        modes.add_row(
            m.mode,
            f"{m.requests:,}",
            _pct(m.share, 1),
            f"{m.time_s:,.0f} s",
            _pct(m.time_share, 1),
            _ms(m.latency_ms["p50"]),
            _ms(m.latency_ms["p95"]),
        )
    return [overview, routes, windows, classes, modes]


def _slo_row(result: SloResult) -> tuple[str, ...]:
    if result.threshold_s is None:
        objective = _pct(result.objective)
    else:
        objective = f"{_pct(result.objective, 0)} <= {result.threshold_s:g} s"
    colour = {Verdict.MET: "green", Verdict.BREACHED: "red", Verdict.NO_DATA: "yellow"}
    burn = "-" if result.burn_rate is None else f"{result.burn_rate:.2f}"
    return (
        result.name,
        objective,
        _pct(result.attainment, 3),
        f"{result.total:,.0f}",
        f"{result.bad:,.0f} of {result.allowed_bad:,.1f}",
        _pct(result.budget_remaining, 1),
        burn,
        f"[{colour[result.verdict]}]{result.verdict}[/]",
    )


def slo_table(report: SloReport) -> Table:
    """One row per SLO: objective, attainment, budget and verdict."""
    span = (
        f"{report.window_s / 86400:g} d" if report.window_s >= 86400 else f"{report.window_s:g} s"
    )
    title = f"SLOs over {span} from {report.source}"
    if report.start is not None and report.end is not None:
        title += f" ({iso(report.start)} to {iso(report.end)})"
    table = Table(title=title)
    for column in ("SLO", "objective", "attained", "events", "bad / allowed", "budget left",
                   "burn rate", "verdict"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("SLO", "verdict") else "right")
    for result in report.results:
        table.add_row(*_slo_row(result))
    return table
