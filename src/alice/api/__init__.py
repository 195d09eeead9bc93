"""The HTTP API: routes, schemas, and errors as JSON."""

from alice.api.errors import install_error_handlers
from alice.api.middleware import BodyLimitMiddleware, GuardianHeaderMiddleware

__all__ = ["BodyLimitMiddleware", "GuardianHeaderMiddleware", "install_error_handlers"]
