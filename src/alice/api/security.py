"""The OpenAPI document tells clients (and schemathesis) what this server accepts.

Every operation except the public paths gets the two key schemes (``Authorization:
Bearer`` and ``X-API-Key``) and the errors middleware can answer with before any route
runs (401, 429, 504, and 507 for uploads on low disk); every 422 is Alice's error body,
not FastAPI's default validation schema; and the request limits that are settings (message length,
messages per request, the max_tokens ceiling) are written into the request schemas.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from alice.settings import Settings

__all__ = ["install_openapi"]

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_MIDDLEWARE_ERRORS = {
    "401": "No valid API key.",
    "429": "Rate limited (see Retry-After and the RateLimit-* headers).",
    "504": "The request took longer than ALICE_REQUEST_TIMEOUT_S.",
}
_LOW_DISK = "Free disk is low: uploads (multipart or binary bodies) are refused."
_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer alice_...",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _limit(schemas: dict[str, Any], model: str, field: str, **keywords: int) -> None:
    """Add ``keywords`` to the non-null branch(es) of ``model.field``."""
    prop = schemas[model]["properties"][field]
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") in ("integer", "string", "array"):
            branch.update(keywords)


def _document_limits(schema: dict[str, Any], settings: Settings) -> None:
    schemas = schema["components"]["schemas"]
    tokens = settings.max_tokens_limit
    _limit(schemas, "ChatCreate", "text", maxLength=settings.max_message_chars)
    _limit(schemas, "ChatCreate", "max_tokens", maximum=tokens)
    _limit(schemas, "ChatCompletionCreate", "max_tokens", maximum=tokens)
    _limit(schemas, "ChatCompletionCreate", "max_completion_tokens", maximum=tokens)
    _limit(schemas, "ChatCompletionCreate", "messages", maxItems=settings.max_messages_per_request)
    _limit(schemas, "InputMessage", "content", maxLength=settings.max_message_chars)


def install_openapi(app: FastAPI, settings: Settings, public_paths: Collection[str]) -> None:
    """Make ``app.openapi()`` describe authentication, the middleware's errors, limits."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(_SCHEMES)
        _document_limits(schema, settings)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = _error("Invalid request.")
                if path in public_paths:
                    continue
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
                for status, description in _MIDDLEWARE_ERRORS.items():
                    responses.setdefault(status, _error(description))
                if method in ("post", "put", "patch"):
                    responses.setdefault("507", _error(_LOW_DISK))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
