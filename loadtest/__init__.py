"""Load, soak and chaos drills against a real ``alice serve``, with pass/fail reports.

Run ``python -m loadtest <scenario>`` (see `loadtest.cli`); the targets are in
``loadtest/thresholds.toml`` and the scenarios in `loadtest.plan`. docs/loadtest.md
explains every check and how to read a report.
"""

__all__: list[str] = []
