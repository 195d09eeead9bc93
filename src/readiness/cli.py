"""``readiness PATH``: audit a repository (and a running deployment) for production readiness.

Also available as ``alice audit PATH``. The report goes to stdout (or ``--out``); progress
and notes go to stderr, so ``readiness . --format json | jq`` works.

Exit codes: 0 the audit ran (and passed the gate, if one was set); 1 the gated score
(``--gate overall``: the weighted average; ``--gate weakest``: the weakest category) is
below ``--fail-under`` (or there is no score to gate on); 2 bad input (a missing folder,
a bad suppressions or weights file, an unknown format), with one line on stderr.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from readiness.model import CATEGORIES, AuditReport
from readiness.report import FORMATS, render
from readiness.report.common import BAND_TITLES

__all__ = ["GATES", "InputError", "app", "audit", "load_weights", "main", "parse_header"]

GATES = ("overall", "weakest")
#: Notes echoed on stderr after the summary line (all of them are in the report).
_NOTES_ON_STDERR = 10

app = typer.Typer(
    name="readiness",
    help="Audit a repository (and optionally a running deployment) for production readiness.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


class InputError(ValueError):
    """Bad input from the command line (exit code 2)."""


def _say(text: str) -> None:
    """A progress or summary line on stderr (stdout carries only the report)."""
    sys.stderr.write(f"readiness: {text}\n")
    sys.stderr.flush()


def _bad_input(message: str) -> NoReturn:
    _say(f"error: {message}")
    raise typer.Exit(2)


def load_weights(file: Path) -> dict[str, float]:
    """Category weights from a TOML file: ``[weights]`` with known category ids only.

    Raises:
        InputError: the file cannot be read, is not TOML, has no ``[weights]`` table,
            names an unknown category, or gives a weight that is not a number >= 0.
    """
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read weights file {file}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"weights file {file} is not valid TOML: {exc}") from exc
    table = data.get("weights")
    if not isinstance(table, dict):
        raise InputError(f"weights file {file} needs a [weights] table, e.g. 'llm = 20'")
    out: dict[str, float] = {}
    for key, value in table.items():
        if key not in CATEGORIES:
            raise InputError(
                f"weights file {file}: unknown category {key!r} (known: {', '.join(CATEGORIES)})"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InputError(f"weights file {file}: {key} must be a number >= 0, got {value!r}")
        out[key] = float(value)
    return out


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` -> ``("Name", "value")``.

    Raises:
        InputError: no colon, or an empty name.
    """
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        raise InputError(f"--header must look like 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _validate(
    path: Path,
    url: str | None,
    fmt: str,
    fail_under: float | None,
    gate: str,
    analyser_timeout: float,
    live_requests: int,
) -> Path:
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    if gate not in GATES:
        raise InputError(f"unknown gate {gate!r} (expected one of: {', '.join(GATES)})")
    if fail_under is not None and not 0 <= fail_under <= 100:
        raise InputError(f"--fail-under must be between 0 and 100, got {fail_under}")
    if analyser_timeout <= 0:
        raise InputError(f"--analyser-timeout must be positive, got {analyser_timeout}")
    if live_requests < 1:
        raise InputError(f"--live-requests must be at least 1, got {live_requests}")
    if url is not None and not url.startswith(("http://", "https://")):
        raise InputError(f"--url must be an http:// or https:// URL, got {url!r}")
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if not path.is_dir():
        raise InputError(f"{path} is not a folder")
    return path.resolve()


def _gate(score: float | None, fail_under: float, gate: str, label: str) -> None:
    if score is None:
        _say(f"gate failed: no {gate} score to compare with --fail-under {fail_under:g}")
        raise typer.Exit(1)
    if score < fail_under:
        _say(f"gate failed: {label} {score:g} is below --fail-under {fail_under:g}")
        raise typer.Exit(1)


def _run(
    root: Path,
    *,
    url: str | None,
    analysers: bool,
    analyser_timeout: float,
    live_requests: int,
    headers: tuple[tuple[str, str], ...],
    weights: Mapping[str, float] | None,
    suppressions_file: Path | None,
) -> AuditReport:
    from readiness.context import AuditOptions
    from readiness.engine import run_audit
    from readiness.registry import all_checks
    from readiness.suppressions import Suppression, SuppressionError, load_suppressions

    suppressions: tuple[Suppression, ...] = ()
    if suppressions_file is not None:
        known = {c.spec.id for c in all_checks()}
        try:
            suppressions = load_suppressions(suppressions_file, known)
        except SuppressionError as exc:
            raise InputError(str(exc)) from exc
    options = AuditOptions(
        url=url,
        analysers=analysers,
        analyser_timeout_s=analyser_timeout,
        live_requests=live_requests,
        live_headers=headers,
    )
    _say(
        f"auditing {root}"
        + (f" and {url}" if url else "")
        + ("" if analysers else " (analysers off)")
    )
    return run_audit(root, options, weights=weights, suppressions=suppressions)


@app.command()
def audit(
    path: Annotated[
        Path, typer.Argument(help="The repository (folder) to audit.", show_default=False)
    ],
    url: Annotated[
        str | None, typer.Option(help="Also probe this running deployment (its base URL).")
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="Report format: md, json or sarif.")
    ] = "md",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report here, not to stdout.")
    ] = None,
    fail_under: Annotated[
        float | None,
        typer.Option(help="Exit 1 when the gated score (see --gate) is below this (0-100)."),
    ] = None,
    gate: Annotated[
        str,
        typer.Option(
            help="What --fail-under applies to: 'overall' (weighted average) or 'weakest' "
            "(the weakest category, so one weak area cannot hide behind strong ones)."
        ),
    ] = "overall",
    suppressions: Annotated[
        Path | None,
        typer.Option(help="TOML file of accepted findings: [[suppress]] check, path, reason."),
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="TOML file of category weights: [weights] llm = 20 ...")
    ] = None,
    no_analysers: Annotated[
        bool,
        typer.Option(
            "--no-analysers",
            help="Do not run external analysers (detect-secrets, bandit, radon, hadolint, "
            "checkov); the built-in checks still run.",
        ),
    ] = False,
    analyser_timeout: Annotated[
        float, typer.Option(help="Seconds each external analyser may take.")
    ] = 45.0,
    live_requests: Annotated[
        int, typer.Option(help="Requests for the live latency probe (with --url).")
    ] = 20,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            help="Extra header for live probes, 'Name: value' (repeatable), e.g. an API key.",
        ),
    ] = None,
) -> None:
    """Audit PATH for production readiness and write the report (Markdown, JSON or SARIF)."""
    try:
        root = _validate(path, url, format, fail_under, gate, analyser_timeout, live_requests)
        headers = tuple(parse_header(h) for h in header or ())
        category_weights = load_weights(weights) if weights is not None else None
        report = _run(
            root,
            url=url,
            analysers=not no_analysers,
            analyser_timeout=analyser_timeout,
            live_requests=live_requests,
            headers=headers,
            weights=category_weights,
            suppressions_file=suppressions,
        )
    except InputError as exc:
        _bad_input(str(exc))
    text = render(report, format)
    if out is None:
        _write_stdout(text)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            _bad_input(f"cannot write {out}: {exc.strerror}")
    _summary(report, out)
    if fail_under is not None:
        if gate == "weakest":
            weakest = report.weakest
            label = f"weakest category {weakest.id}" if weakest is not None else "weakest"
            _gate(weakest.score if weakest is not None else None, fail_under, gate, label)
        else:
            _gate(report.overall, fail_under, gate, "overall score")


def _write_stdout(text: str) -> None:
    """The report on stdout; a reader that went away (``| head``) is not an error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _summary(report: AuditReport, out: Path | None) -> None:
    overall = (
        "no score"
        if report.overall is None or report.band is None
        else f"overall {report.overall:g} ({BAND_TITLES[report.band]})"
    )
    weakest = report.weakest
    weak = (
        f", weakest {weakest.id} {weakest.score:g}" if weakest and weakest.score is not None else ""
    )
    critical = sum(g.severity == "critical" for g in report.gaps)
    where = f"; report written to {out}" if out is not None else ""
    _say(f"{overall}{weak}, {len(report.gaps)} gaps ({critical} critical){where}")
    notes = sorted(set(report.notes))
    for note in notes[:_NOTES_ON_STDERR]:
        _say(f"note: {note}")
    if len(notes) > _NOTES_ON_STDERR:
        _say(f"... and {len(notes) - _NOTES_ON_STDERR} more notes in the report")


def main() -> None:
    """Console-script entry point: usage errors are one line on stderr and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        _say("aborted")
        sys.exit(130)
    except typer.TyperException as exc:  # typer's click errors: usage, bad parameter
        _say(f"error: {exc.format_message()}")
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
