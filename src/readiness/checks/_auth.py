"""Which HTTP routes sit behind authentication, from the Python facts.

A route is protected when, on its own or through what it is mounted on, something
authenticates the caller:

- a FastAPI dependency (``Depends``/``Security``) on the route, on its handler's
  parameters (directly or through an ``Annotated`` alias such as ``CurrentUser``), on its
  router (``APIRouter(dependencies=...)``) or on the ``include_router`` that mounts it,
  followed up the chain of routers;
- a decorator on the handler (``login_required``, ``jwt_required``, ``requires_auth``);
- an authentication middleware added to the application (``add_middleware``, Starlette
  ``Middleware(...)``, ``@app.middleware("http")``, Flask ``before_request``).

A dependency, decorator or middleware authenticates when its name says so *and* it is
not a stub, or when its body does (calls to ``authenticate``, ``verify_token``,
``compare_digest``, raises ``Unauthorized``, answers 401), followed through the helpers it
calls. A
``verify_key`` whose body is ``pass`` protects nothing.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from readiness.checks._code import is_auxiliary, production
from readiness.context import AuditContext
from readiness.model import Evidence
from readiness.pyindex import Def, ModuleFacts, Mount, Route

__all__ = ["AuthMap", "RouteAuth", "auth_map", "is_public_path"]

_AUTH_NAME = re.compile(
    r"auth|api_?key|apikey|token|jwt|bearer|oauth|login|current_user|principal|credential|"
    r"permission|scopes?\b|admin|require_|requires_|verify|signed_in|logged_in|protected",
    re.IGNORECASE,
)
_AUTH_CALL = re.compile(
    r"authenticat|authori[sz]|unauthori[sz]ed|unauthenticated|"
    r"verify_(api_)?(key|token|password|signature|jwt)|check_(api_)?(key|token|auth|password)|"
    r"jwt|decode_token|compare_digest|checkpw|verify_password|HTTPBearer|APIKeyHeader|"
    r"OAuth2|get_current_user|require_(auth|user|login|scope|key|role)|login_required",
    re.IGNORECASE,
)
#: Auth middleware shipped by libraries (used as given: nothing to look inside).
_LIBRARY_AUTH = frozenset(
    {"AuthenticationMiddleware", "AuthMiddleware", "JWTAuthMiddleware", "BasicAuthMiddleware"}
)
#: Paths that are public by design: probes, scraping, API docs, signing in.
_PUBLIC_SEGMENTS = frozenset(
    {
        "health",
        "healthz",
        "livez",
        "live",
        "liveness",
        "ready",
        "readyz",
        "readiness",
        "ping",
        "metrics",
        "docs",
        "redoc",
        "openapi.json",
        "openapi.yaml",
        "favicon.ico",
        "robots.txt",
        ".well-known",
        "static",
        "login",
        "logout",
        "signin",
        "signup",
        "register",
        "token",
        "oauth",
        "callback",
    }
)
_ROUTE_DECORATOR = re.compile(r"\.(get|post|put|patch|delete|head|options|route|api_route)$")
_DEPTH = 3

_Key = tuple[str, str]  # (module path, router or app variable)
_Lookup = Callable[[_Key, frozenset[_Key]], Evidence | None]


def is_public_path(path: str) -> bool:
    """A probe, metrics, docs or sign-in path (public by design), or the root page."""
    segments = [s for s in path.strip("/").split("/") if s]
    return not segments or any(s.lower() in _PUBLIC_SEGMENTS for s in segments)


@dataclass(frozen=True, slots=True)
class RouteAuth:
    """One route and what protects it (``guard`` None: nothing found)."""

    module: ModuleFacts
    route: Route
    guard: Evidence | None


@dataclass(frozen=True, slots=True)
class AuthMap:
    """Every production route with its protection, and app-wide auth middleware."""

    routes: tuple[RouteAuth, ...]
    middleware: tuple[Evidence, ...]


_MAPS: weakref.WeakKeyDictionary[AuditContext, AuthMap] = weakref.WeakKeyDictionary()


def auth_map(ctx: AuditContext) -> AuthMap:
    """The routes' protection (computed once per audit)."""
    cached = _MAPS.get(ctx)
    if cached is None:
        cached = _Resolver(ctx).build()
        _MAPS[ctx] = cached
    return cached


class _Resolver:
    def __init__(self, ctx: AuditContext) -> None:
        self.ctx = ctx
        self.modules = production(ctx).modules
        self.defs: dict[str, list[tuple[ModuleFacts, Def]]] = {}
        self.aliases: dict[str, list[tuple[ModuleFacts, Mount]]] = {}
        for module in self.modules:
            for item in module.defs:
                self.defs.setdefault(item.name, []).append((module, item))
            for mount in module.mounts:
                if mount.kind == "alias":
                    self.aliases.setdefault(mount.target, []).append((module, mount))
        self._verdicts: dict[str, bool] = {}

    # --- is this callable an authentication step? -------------------------------------
    def authenticates(self, name: str, depth: int = 0) -> bool:
        tail = name.removesuffix("()").rsplit(".", 1)[-1]
        if not tail:
            return False
        key = f"{tail}@{depth}"
        if key not in self._verdicts:
            self._verdicts[key] = False  # a recursive helper is not proof of itself
            self._verdicts[key] = self._authenticates(tail, depth)
        return self._verdicts[key]

    def _authenticates(self, tail: str, depth: int) -> bool:
        defined = self.defs.get(tail, [])
        real = [(m, d) for m, d in defined if not d.stub]
        if defined and not real:
            return False  # only stubs of that name: it checks nothing
        if _AUTH_NAME.search(tail) or _AUTH_CALL.search(tail) or tail in _LIBRARY_AUTH:
            return True
        if depth >= _DEPTH:
            return False
        for module, item in real:
            for call in self.ctx.py.calls_in(module, item):
                if call.status == 401 or _AUTH_CALL.search(call.tail):
                    return True  # answers 401 Unauthorized, or calls an auth primitive
                if self._helper(module, call.name) and self.authenticates(call.tail, depth + 1):
                    return True
        return False

    def _helper(self, module: ModuleFacts, name: str) -> bool:
        """Whether ``name`` (called in ``module``) is this code's own function or class.

        Own means defined in the same module (``self._check``, ``_principal``) or imported
        from a source module by name. Method names alone (``get``, ``send``) are not
        followed: any class may have one.
        """
        tail = name.rsplit(".", 1)[-1]
        defined = self.defs.get(tail, [])
        if any(m.path == module.path for m, _ in defined):
            return name == tail or name.startswith(("self.", "cls."))
        qualified = self.ctx.py.qualify(module, name)
        if qualified == name:
            return False
        owner = qualified.rpartition(".")[0].replace(".", "/")
        return any(m.path.removesuffix(".py").endswith(owner) for m, _ in defined)

    # --- mounting ---------------------------------------------------------------------
    def _resolve(self, module: ModuleFacts, target: str) -> tuple[str, str]:
        """``chat.router`` (as written in ``module``) -> (module path, variable)."""
        if "." not in target:
            qualified = self.ctx.py.qualify(module, target)
            if qualified == target:
                return module.path, target
        else:
            qualified = self.ctx.py.qualify(module, target)
        owner, _, var = qualified.rpartition(".")
        suffix = owner.replace(".", "/")
        stem = owner.rsplit(".", 1)[-1]
        candidates = [
            m.path
            for m in self.modules
            if m.path.removesuffix(".py").endswith(suffix)
            or m.path.removesuffix("/__init__.py").endswith(suffix)
        ]
        if not candidates:
            candidates = [m.path for m in self.modules if PurePosixPath(m.path).stem == stem]
        return (candidates[0] if len(candidates) == 1 else f"?{owner}"), var

    def build(self) -> AuthMap:
        guards: dict[_Key, Evidence] = {}
        edges: list[tuple[_Key, _Key, Evidence | None]] = []
        middleware: list[Evidence] = []
        for module in self.modules:
            for mount in module.mounts:
                if mount.kind == "router":
                    auth = [d for d in mount.deps if self.authenticates(d)]
                    if auth:
                        guards[(module.path, mount.target)] = Evidence(
                            module.path,
                            mount.line,
                            "wired",
                            f"{mount.target} is made with dependencies=[{auth[0]}] (authenticates)",
                        )
                elif mount.kind == "include":
                    child = self._resolve(module, mount.target)
                    auth = [d for d in mount.deps if self.authenticates(d)]
                    guard = (
                        Evidence(
                            module.path,
                            mount.line,
                            "wired",
                            f"{mount.target} is included with dependencies=[{auth[0]}]",
                        )
                        if auth
                        else None
                    )
                    edges.append(((module.path, mount.owner), child, guard))
                elif mount.kind == "middleware" and self.authenticates(mount.target):
                    middleware.append(
                        Evidence(
                            module.path,
                            mount.line,
                            "wired",
                            f"authentication middleware {mount.target} runs before every route",
                        )
                    )

        def protected(key: _Key, seen: frozenset[_Key]) -> Evidence | None:
            if key in guards:
                return guards[key]
            for parent, child, guard in edges:
                if child != key or parent in seen:
                    continue
                if guard is not None:
                    return guard
                found = protected(parent, seen | {key})
                if found is not None:
                    return found
            return None

        routes = []
        for module, route in self.ctx.py.routes():
            if is_auxiliary(module.path):
                continue
            routes.append(RouteAuth(module, route, self._route_guard(module, route, protected)))
        return AuthMap(tuple(routes), tuple(middleware))

    def _route_guard(
        self,
        module: ModuleFacts,
        route: Route,
        protected: _Lookup,
    ) -> Evidence | None:
        for dep in route.deps:
            if self.authenticates(dep):
                return Evidence(module.path, route.line, "wired", f"depends on {dep}")
        for hint in route.hints:
            for _, alias in self.aliases.get(hint.rsplit(".", 1)[-1], []):
                auth = [d for d in alias.deps if self.authenticates(d)]
                if auth:
                    note = f"parameter {hint} = Annotated[..., Depends({auth[0]})]"
                    return Evidence(module.path, route.line, "wired", note)
        handler = next(
            (d for d in module.defs if d.name == route.handler and d.line >= route.line), None
        )
        for decorator in handler.decorators if handler else ():
            tail = decorator.removesuffix("()")
            if not _ROUTE_DECORATOR.search(tail) and self.authenticates(tail):
                return Evidence(module.path, route.line, "wired", f"decorated with @{tail}")
        return protected((module.path, route.owner), frozenset())
