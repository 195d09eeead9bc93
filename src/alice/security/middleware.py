"""Authentication, rate limiting and the request timeout, as pure ASGI middleware.

`SecurityMiddleware` runs before routing, for every HTTP request and WebSocket handshake
except on the public paths (``/health``, ``/ready``, ``/metrics`` and the API docs when
configured):

1. the key (``Authorization: Bearer alice_...`` or ``X-API-Key``) is looked up (cached);
2. a request with a valid key takes a token from that key's bucket; one without takes
   it from its client IP's bucket, and is then refused with 401 (so guessing keys is
   rate limited too);
3. the caller's `Principal` goes into ``scope["state"]`` for the routes, and every
   answer carries ``RateLimit-*`` headers.

Scopes (``chat``, ``admin``) are checked by the routes (`alice.api.deps`), which know
what each operation needs.
"""

from __future__ import annotations

from collections.abc import Collection

import anyio
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alice.api.middleware import send_error
from alice.errors import AliceError, RateLimitedError, RequestTimeoutError, UnauthenticatedError
from alice.observability.context import child_span, note
from alice.security.auth import Authenticator
from alice.security.keys import Principal
from alice.security.ratelimit import BucketSpec, RateDecision, RateLimiter

__all__ = ["DEVELOPMENT_PRINCIPAL", "RequestTimeoutMiddleware", "SecurityMiddleware"]

log = structlog.get_logger("alice.security")

# The caller when auth is off (ALICE_AUTH=off): the operator of the default tenant.
DEVELOPMENT_PRINCIPAL = Principal(
    tenant_id="default", key_id=None, scopes=frozenset({"chat", "admin"})
)


def _key_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
        elif name == b"x-api-key":
            return value.decode("latin-1").strip()
    return None


def _websocket_refusals(scope: Scope, send: Send) -> Send:
    """``send`` for a WebSocket scope that turns `send_error`'s HTTP answer into a refusal."""
    denial = "websocket.http.response" in scope.get("extensions", {})

    async def refusing(message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if denial:
                await send({**message, "type": "websocket.http.response.start"})
            else:
                await send({"type": "websocket.close", "code": 1008})
        elif kind == "http.response.body":
            if denial:
                await send({**message, "type": "websocket.http.response.body"})
        else:
            await send(message)

    return refusing


class SecurityMiddleware:
    """Authenticate and rate limit every non-public request (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator | None,
        limiter: RateLimiter | None,
        key_bucket: BucketSpec,
        ip_bucket: BucketSpec,
        public_paths: Collection[str],
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter
        self.key_bucket = key_bucket
        self.ip_bucket = ip_bucket
        self.public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the request through with its principal, or refuse it (401/429)."""
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # A WebSocket handshake is refused before it is accepted; its "response" is
            # an HTTP answer where the server supports that (uvicorn does), else a close.
            send = _websocket_refusals(scope, send)
        try:
            with child_span("auth") as span:
                principal, decision, spec = await self._check(scope)
                if principal is not None:
                    span.set_attribute("alice.tenant", principal.tenant_id)
        except AliceError as exc:
            # The key store or the limiter is unreachable (a database restart): this runs
            # before the app's error handlers, so answer here, as they would (503).
            await send_error(send, exc)
            return
        limit_headers = decision.headers(spec) if decision is not None else []
        if decision is not None and not decision.allowed:
            note(rate_limit_bucket="ip" if principal is None or principal.key_id is None else "key")
            await send_error(
                send, RateLimitedError(retry_after=decision.retry_after_s), limit_headers
            )
            return
        if principal is None:
            await send_error(
                send,
                UnauthenticatedError(),
                [*limit_headers, (b"www-authenticate", b'Bearer realm="alice"')],
            )
            return
        scope.setdefault("state", {})["principal"] = principal
        if not limit_headers or scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *limit_headers]}
            await send(message)

        await self.app(scope, receive, stamped)

    async def _check(
        self, scope: Scope
    ) -> tuple[Principal | None, RateDecision | None, BucketSpec]:
        """The caller (None: no valid key) and the rate limiter's decision."""
        principal: Principal | None = DEVELOPMENT_PRINCIPAL
        if self.authenticator is not None:
            key = _key_of(scope["headers"])
            principal = await self.authenticator.authenticate(key) if key else None
        decision: RateDecision | None = None
        spec = self.ip_bucket
        if self.limiter is not None:
            if principal is None or principal.key_id is None:
                client = scope.get("client")
                bucket = f"ip:{client[0] if client else 'unknown'}"
            else:
                bucket = f"key:{principal.key_id}"
                spec = self._key_spec(principal)
            decision = await self.limiter.hit(bucket, spec)
        return principal, decision, spec

    def _key_spec(self, principal: Principal) -> BucketSpec:
        rate = principal.rate
        if rate.requests is None and rate.burst is None and rate.window_s is None:
            return self.key_bucket
        requests = rate.requests or self.key_bucket.requests
        return BucketSpec(
            requests=requests,
            window_s=rate.window_s or self.key_bucket.window_s,
            burst=rate.burst or (requests if rate.requests else self.key_bucket.burst),
        )


class RequestTimeoutMiddleware:
    """Stop a request whose answer has not started after ``timeout_s``: 504.

    Once a response has started (a stream), it is left to its own limits (max_tokens,
    the stall timeout); cutting it would lose the answer being stored.
    """

    def __init__(
        self, app: ASGIApp, *, timeout_s: float, exempt_paths: Collection[str] = ()
    ) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request under a deadline that ends when its response starts."""
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                deadline.deadline = float("inf")
            await send(message)

        with anyio.CancelScope() as deadline:
            deadline.deadline = anyio.current_time() + self.timeout_s
            await self.app(scope, receive, watched)
        if deadline.cancelled_caught and not started:
            log.warning("request.timeout", route=scope["path"], timeout_s=self.timeout_s)
            await send_error(send, RequestTimeoutError())
