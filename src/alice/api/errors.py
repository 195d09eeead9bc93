"""Every failure becomes ``{"error": {"code", "message"}}`` with the right status.

No traceback or exception text of an unexpected error ever reaches a client; it is
logged here instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from alice.errors import AliceError

__all__ = ["alice_error_response", "error_response", "install_error_handlers"]

log = structlog.get_logger("alice.api")

_HTTP_CODES: Mapping[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON error answer."""
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def alice_error_response(exc: AliceError) -> JSONResponse:
    """The JSON answer for one of Alice's own errors."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return error_response(exc.status, exc.code, exc.message, field=exc.field, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "The request is invalid.", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or None
    kind = str(first.get("type", ""))
    if kind == "json_invalid":
        return "The request body is not valid JSON.", None
    if kind == "missing":
        return f"The field '{field}' is required.", field
    msg = str(first.get("msg", "invalid value"))
    return (f"Invalid '{field}': {msg}." if field else f"Invalid request: {msg}."), field


async def _on_alice_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AliceError)  # noqa: S101 - registered for this type only
    if exc.status >= 500:
        log.warning("request.failed", error_class=exc.code, status=exc.status)
    return alice_error_response(exc)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    message, field = _validation_message(exc)
    return error_response(422, "invalid-request", message, field=field)


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    if exc.status_code == 400:
        # Starlette's "error parsing the body" (bytes that are not JSON text): the same
        # answer as any other malformed JSON.
        return error_response(422, "invalid-request", "The request body is not valid JSON.")
    code = _HTTP_CODES.get(exc.status_code, "http-error")
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404 and message == "Not Found":
        message = "No such route."
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "request.crashed",
        error_class=type(exc).__name__,
        route=request.url.path,
        exc_info=exc,
    )
    return error_response(500, "internal-error", "Internal server error.")


def install_error_handlers(app: FastAPI) -> None:
    """Register Alice's JSON error handlers on ``app``."""
    app.add_exception_handler(AliceError, _on_alice_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
