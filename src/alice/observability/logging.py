"""structlog configuration: NDJSON lines in production, readable lines in development.

Log events carry ids, sizes and timings, never message text: conversation content is
personal data and stays out of logs. As a second line of defence every rendered line,
Alice's or a library's, traceback included, goes through `alice.privacy.pii.redact`:
a personal number, phone number, e-mail address, IBAN or card number that slipped into
a message or an exception is written as its tag (``<EMAIL>``), never as itself.
"""

from __future__ import annotations

import logging
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

import orjson
import structlog

from alice.privacy.pii import redact

__all__ = ["SizeAndAgeRotatingFileHandler", "configure_logging"]


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


def configure_logging(
    *,
    level: str = "info",
    fmt: str = "json",
    log_file: Path | None = None,
    max_bytes: int = 50 * 1024 * 1024,
    backups: int = 5,
    max_age_s: float | None = None,
) -> None:
    """Route structlog and the standard library's logging to stderr in one format.

    With ``log_file`` the same lines also go to that file, rotated at ``max_bytes`` with
    ``backups`` old copies kept (always NDJSON there), and also once it is older than
    ``max_age_s``.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if fmt == "json"
        # Plain tracebacks: rich's with local variables can take seconds to render (on
        # the request's path) and would print whatever the locals held.
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if fmt == "json" else _identity,
            _Redacting(renderer),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handlers: list[logging.Handler] = [handler]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        rotating = SizeAndAgeRotatingFileHandler(
            log_file, max_bytes=max_bytes, backups=backups, max_age_s=max_age_s
        )
        rotating.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    _Redacting(structlog.processors.JSONRenderer(serializer=_orjson_dumps)),
                ],
            )
        )
        handlers.append(rotating)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    # uvicorn's own handlers would print a second, unstructured copy.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx narrates every upstream call at info ("HTTP Request: POST ..."); the request
    # line and the model metrics already say it, with less.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
    # Alembic narrates every migration context at info ("Context impl SQLiteImpl").
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))


def _identity(_logger: Any, _name: str, event: Any) -> Any:
    return event


class _Redacting:
    """Wraps a renderer: the finished line, whatever produced it, is redacted."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer

    def __call__(self, logger: Any, name: str, event: Any) -> Any:
        line = self._renderer(logger, name, event)
        return redact(line) if isinstance(line, str) else line


class SizeAndAgeRotatingFileHandler(RotatingFileHandler):
    """Rotates when the file would pass ``max_bytes`` or is older than ``max_age_s``.

    The standard library rotates by size or by time of day, not both; log shippers and
    disk budgets want both (a quiet server's file must still roll over daily). The age
    counts from when the file was opened or last rotated.
    """

    def __init__(
        self, path: Path, *, max_bytes: int, backups: int, max_age_s: float | None = None
    ) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self.max_age_s = max_age_s
        self._opened_at = time.time()

    def shouldRollover(self, record: logging.LogRecord) -> int:
        """Roll over once the file has reached ``max_bytes``, or by age.

        The base class formats every record an extra time just to measure it (rendering
        and redacting a line is most of a log call's cost); the file's position is
        enough. A file can so pass the limit by one line.
        """
        if self.max_age_s is not None and time.time() - self._opened_at >= self.max_age_s:
            return 1
        if self.maxBytes <= 0:
            return 0
        if self.stream is None:
            self.stream = self._open()
        return 1 if self.stream.tell() >= self.maxBytes else 0

    def doRollover(self) -> None:
        """Rotate and restart the age clock."""
        super().doRollover()
        self._opened_at = time.time()
