"""The HTTP API: routes, schemas, and errors as JSON."""

from alice.api.errors import install_error_handlers
from alice.api.middleware import BodyLimitMiddleware

__all__ = ["BodyLimitMiddleware", "install_error_handlers"]
