"""Python source, analysed with the AST once, kept as compact facts.

Each module is parsed once and reduced to `ModuleFacts` (imports, definitions with a
stub flag, calls with their keyword names, leading string arguments and async scope,
HTTP routes, identifiers used, secret-like literals, environment variables read, test
names, protocol strings such as header names and URLs, loops that catch errors); the
tree itself is dropped at once, so auditing a 250,000-line repository holds a few tens
of MB of facts rather than gigabytes of AST nodes. Large repositories are parsed in a
process pool (the parse is CPU-bound and the GIL would serialise it in threads).

Checks ask `PyIndex` questions such as "is a class named like a circuit breaker defined
with a real body, and used from code that is not a test?" (`PyIndex.is_wired`).
"""

from __future__ import annotations

import ast
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from readiness.repo import MAX_FILE_BYTES, is_test_path

__all__ = [
    "Call",
    "Def",
    "Import",
    "Loop",
    "ModuleFacts",
    "Mount",
    "PyIndex",
    "Route",
    "SecretLiteral",
    "analyse_source",
    "build_index",
]

_HTTP_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "route", "api_route", "websocket"}
)
_SECRET_NAME = re.compile(
    r"(api[_-]?key|secret|passw(or)?d|passwd|token|private[_-]?key|access[_-]?key|"
    r"auth[_-]?key|credential|client[_-]?secret|dsn)",
    re.IGNORECASE,
)
_PARALLEL_FROM_FILES = 200
#: Calls that make an application or a router (their ``dependencies=`` guard every route).
_APP_MAKERS = frozenset(
    {"APIRouter", "FastAPI", "Flask", "Blueprint", "Starlette", "Router", "Quart", "Sanic"}
)
#: Decorators that run a function before every request of an app (auth hooks).
_HOOKS = frozenset({"middleware", "before_request", "before_app_request"})
#: Protocol-level string constants worth keeping (header names, media types, service
#: names such as ``bedrock-runtime``, URLs): short, no spaces.
_TOKEN = re.compile(r"[A-Za-z][\w.+]*(?:[-/:][\w.+]+)+|https?://[^\s\"'<>]+")
#: Calls whose first argument, when iterated over, hides the real iterable's name.
_ITER_WRAPPERS = frozenset({"enumerate", "zip", "list", "tuple", "reversed", "sorted", "iter"})


@dataclass(frozen=True, slots=True)
class Import:
    """``import a.b`` or ``from a.b import c`` (recorded as ``a.b`` and ``a.b.c``).

    ``bound``: the local name the statement binds to ``module`` (``a`` for ``import a.b``,
    ``x`` for ``import a.b as x``, ``c`` for ``from a.b import c``; empty for the bare
    ``a.b`` record of a ``from`` import).
    """

    module: str
    line: int
    bound: str = ""


@dataclass(frozen=True, slots=True)
class Def:
    """A function, method or class definition.

    ``stub``: the body does nothing (``pass``, ``...``, ``raise NotImplementedError``,
    a bare ``return``), after an optional docstring; for a class, no method besides
    ``__init__`` has a real body.
    """

    name: str
    kind: str  # "function" | "method" | "class"
    line: int
    end_line: int
    stub: bool
    parent: str | None = None
    decorators: tuple[str, ...] = ()
    bases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Call:
    """A call: dotted callee text (``httpx.AsyncClient``, ``client.post``)."""

    name: str
    line: int
    kwargs: tuple[str, ...] = ()
    #: The first two positional arguments when they are string literals, else None.
    args: tuple[str | None, ...] = ()
    #: Lexically inside an ``async def`` (not in a nested ``def`` or ``lambda``).
    in_async: bool = False
    #: Keywords given as the literal ``None``, ``False`` or ``0`` (``timeout=None``,
    #: ``max_retries=0`` turn a safeguard off).
    off: tuple[str, ...] = ()
    #: Called with ``**mapping``: keywords not seen here may be passed.
    splat: bool = False
    #: Keywords given as the literal ``True`` (``shell=True``, ``debug=True``).
    on: tuple[str, ...] = ()
    #: The first positional argument's dotted text when it is a name or attribute
    #: (``add_middleware(AuthMiddleware)``, ``eval(expr)``), else empty.
    ref: str = ""
    #: An HTTP error status given as a literal (``status_code=401``, ``abort(401)``,
    #: ``HTTPException(403)``): 400-599, else 0.
    status: int = 0

    @property
    def tail(self) -> str:
        """The last component of the callee (``post`` for ``client.post``)."""
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class Loop:
    """A ``for``/``while`` loop whose body catches exceptions (``try``/``except``).

    Such loops are how code retries (``for attempt in range(3)``, ``while True``) or
    falls back (``for provider in providers``). ``iter`` is the iterable's dotted text
    (``self.chain()``, ``range()``; the first argument of ``enumerate``/``zip``/... as
    ``enumerate(providers)``); for ``while``, the names its condition reads, space
    separated. ``target``: the loop variable(s), comma separated. ``counters``: names
    the body increments (``attempt += 1``). ``handled``: some handler does not end by
    re-raising, so the loop goes on after an error. ``sleeps``: it calls ``*.sleep``;
    ``backoff``: a sleep's delay is computed and the loop multiplies or calls something
    to compute it (not a fixed pause).
    """

    kind: str  # "for" | "while"
    line: int
    end_line: int
    iter: str
    target: str
    handled: bool
    sleeps: bool
    backoff: bool
    counters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTP route registered by a decorator or an ``add_*route`` call.

    ``owner``: the decorator's object (``router`` for ``@router.get``). ``deps``: the
    callables of FastAPI ``Depends(...)``/``Security(...)`` in the decorator's
    ``dependencies=`` and in the handler's parameter defaults or ``Annotated`` hints.
    ``hints``: the handler parameters' plain annotation names (``caller: AdminDep``), which
    may be ``Annotated`` aliases carrying a dependency (see `Mount`, kind ``alias``).
    """

    method: str
    path: str
    line: int
    handler: str
    owner: str = ""
    deps: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Mount:
    """How an application is put together (for route-level questions such as auth).

    ``kind``: ``router`` (``target = APIRouter(dependencies=...)``, also apps and
    blueprints), ``include`` (``owner.include_router(target, dependencies=...)``,
    ``register_blueprint``), ``middleware`` (``owner.add_middleware(target)``,
    ``Middleware(target)``, ``@owner.middleware("http")`` / ``before_request`` on the
    function ``target``) or ``alias`` (``target = Annotated[T, Depends(dep)]``).
    ``deps``: the dependency callables it adds.
    """

    kind: str
    target: str
    owner: str
    deps: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class SecretLiteral:
    """A string literal assigned to a secret-like name (the value is masked on output)."""

    name: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class ModuleFacts:
    """What the auditor keeps of one Python file."""

    path: str
    test: bool
    lines: int
    error: str | None = None
    imports: tuple[Import, ...] = ()
    defs: tuple[Def, ...] = ()
    calls: tuple[Call, ...] = ()
    routes: tuple[Route, ...] = ()
    names: frozenset[str] = frozenset()
    secrets: tuple[SecretLiteral, ...] = ()
    env: tuple[tuple[str, int], ...] = ()
    tests: tuple[tuple[str, int], ...] = ()
    strings: tuple[tuple[str, int], ...] = field(default=())
    #: Protocol-level string constants (``Retry-After``, ``text/event-stream``, URLs).
    tokens: tuple[tuple[str, int], ...] = ()
    loops: tuple[Loop, ...] = ()
    #: In tests: ``(status, line)`` for comparisons of a ``*status*``/``*code`` value with
    #: an HTTP error status literal (``assert r.status_code == 503``).
    statuses: tuple[tuple[int, int], ...] = ()
    mounts: tuple[Mount, ...] = ()
    #: Environment variables a pydantic ``BaseSettings`` class reads (prefix applied).
    settings: tuple[tuple[str, int], ...] = ()


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    if isinstance(node, ast.Call):
        return _dotted(node.func) + "()"
    return ""


def _is_stub_body(body: list[ast.stmt]) -> bool:
    statements = body
    if (
        statements
        and isinstance(statements[0], ast.Expr)
        and isinstance(statements[0].value, ast.Constant)
        and isinstance(statements[0].value.value, str)
    ):
        statements = statements[1:]
    if not statements:
        return True
    for statement in statements:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # ``...`` or a stray string
        if isinstance(statement, ast.Raise):
            exc = statement.exc
            target = exc.func if isinstance(exc, ast.Call) else exc
            if target is not None and _dotted(target) in ("NotImplementedError", "NotImplemented"):
                continue
            return False
        if isinstance(statement, ast.Return) and (
            statement.value is None
            or (isinstance(statement.value, ast.Constant) and statement.value.value is None)
        ):
            continue
        return False
    return True


class _Visitor(ast.NodeVisitor):
    def __init__(self, test: bool) -> None:
        self.test = test
        self.imports: list[Import] = []
        self.defs: list[Def] = []
        self.calls: list[Call] = []
        self.routes: list[Route] = []
        self.names: set[str] = set()
        self.secrets: list[SecretLiteral] = []
        self.env: list[tuple[str, int]] = []
        self.tests: list[tuple[str, int]] = []
        self.strings: list[tuple[str, int]] = []
        self.tokens: list[tuple[str, int]] = []
        self.statuses: list[tuple[int, int]] = []
        self.loops: list[Loop] = []
        self.mounts: list[Mount] = []
        self.settings: list[tuple[str, int]] = []
        #: Loop variables bound to a literal tuple of names (``for m in (a, b):``).
        self._unrolled: dict[str, list[str]] = {}
        #: Module-level string constants (a settings class's ``env_prefix=_PREFIX``).
        self._constants: dict[str, str] = {}
        self._class: list[str] = []
        #: Whether each enclosing function scope is ``async def`` (lambdas and classes
        #: are synchronous scopes).
        self._async: list[bool] = []
        #: Names of the enclosing definitions: a name used inside its own definition
        #: (recursion, a type hint in its own methods) is not a use.
        self._inside: list[str] = []

    # --- imports ----------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            bound = alias.asname or alias.name.split(".", 1)[0]
            self.imports.append(Import(alias.name, node.lineno, bound))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level == 0 and base:
            self.imports.append(Import(base, node.lineno))
            for alias in node.names:
                bound = alias.asname or alias.name
                self.imports.append(Import(f"{base}.{alias.name}", node.lineno, bound))

    # --- definitions ------------------------------------------------------------------
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        parent = self._class[-1] if self._class else None
        decorators = tuple(_dotted(d) for d in node.decorator_list)
        self.defs.append(
            Def(
                node.name,
                "method" if parent else "function",
                node.lineno,
                node.end_lineno or node.lineno,
                _is_stub_body(node.body),
                parent,
                decorators,
            )
        )
        if self.test and node.name.startswith("test"):
            self.tests.append(
                (node.name if parent is None else f"{parent}.{node.name}", node.lineno)
            )
        for decorator in node.decorator_list:
            self._route_decorator(decorator, node)
        self._inside.append(node.name)
        # Decorators, defaults and annotations run in the enclosing scope; only the body
        # runs in this function's (a)synchronous scope.
        for child in (*node.decorator_list, node.args, node.returns):
            if child is not None:
                self.visit(child)
        self._async.append(isinstance(node, ast.AsyncFunctionDef))
        for statement in node.body:
            self.visit(statement)
        self._async.pop()
        self._inside.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        real = [
            m
            for m in methods
            if m.name not in ("__init__", "__repr__") and not _is_stub_body(m.body)
        ]
        body_stub = _is_stub_body([n for n in node.body if not isinstance(n, ast.Assign)])
        stub = not real and (bool(methods) or body_stub)
        self.defs.append(
            Def(
                node.name,
                "class",
                node.lineno,
                node.end_lineno or node.lineno,
                stub,
                self._class[-1] if self._class else None,
                tuple(_dotted(d) for d in node.decorator_list),
                tuple(_dotted(b) for b in node.bases),
            )
        )
        if any(_dotted(b).rsplit(".", 1)[-1] == "BaseSettings" for b in node.bases):
            self.settings.extend(_settings_env(node, self._constants))
        self._class.append(node.name)
        self._inside.append(node.name)
        self._async.append(False)
        self.generic_visit(node)
        self._async.pop()
        self._inside.pop()
        self._class.pop()

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._async.append(False)
        self.generic_visit(node)
        self._async.pop()

    # --- loops that catch errors (retries, fallbacks) ---------------------------------
    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        fact = _guarded_loop(node)
        if fact is not None:
            self.loops.append(fact)
        unrolled = _literal_names(node)
        if unrolled is not None:
            self._unrolled[unrolled[0]] = unrolled[1]
        self.generic_visit(node)
        if unrolled is not None:
            self._unrolled.pop(unrolled[0], None)

    visit_For = _loop
    visit_AsyncFor = _loop
    visit_While = _loop

    def _route_decorator(
        self, decorator: ast.expr, node: ast.FunctionDef | ast.AsyncFunctionDef
    ) -> None:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr in _HOOKS:
            owner = _dotted(target.value)
            self.mounts.append(Mount("middleware", node.name, owner, (), decorator.lineno))
            return
        if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
            return
        method = decorator.func.attr
        if method not in _HTTP_METHODS or not decorator.args:
            return
        first = decorator.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            deps, hints = _handler_deps(node)
            self.routes.append(
                Route(
                    method.upper(),
                    first.value,
                    decorator.lineno,
                    node.name,
                    _dotted(decorator.func.value),
                    tuple(dict.fromkeys([*_keyword_deps(decorator), *deps])),
                    hints,
                )
            )

    def _mount(self, node: ast.Call, tail: str) -> None:
        """`Mount` facts of include / middleware calls (apps and routers: `visit_Assign`)."""
        owner = _dotted(node.func.value) if isinstance(node.func, ast.Attribute) else ""
        if tail in ("include_router", "register_blueprint"):
            first = node.args[0] if node.args else None
            if first is None:
                first = next(
                    (k.value for k in node.keywords if k.arg in ("router", "blueprint")), None
                )
            target = _dotted(first) if first is not None else ""
            head, _, rest = target.partition(".")
            deps = _keyword_deps(node)
            for name in self._unrolled.get(head, [head]) if target else []:
                full = f"{name}.{rest}" if rest else name
                self.mounts.append(Mount("include", full, owner, deps, node.lineno))
        elif tail in ("add_middleware", "Middleware") and node.args:
            target = _dotted(node.args[0])
            if target:
                self.mounts.append(Mount("middleware", target, owner, (), node.lineno))

    # --- uses -------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        if name:
            args = tuple(
                a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
                for a in node.args[:2]
            )
            kwargs = tuple(k.arg for k in node.keywords if k.arg)
            off = tuple(
                k.arg
                for k in node.keywords
                if k.arg
                and isinstance(k.value, ast.Constant)
                and (k.value.value is None or k.value.value is False or k.value.value == 0)
            )
            self.calls.append(
                Call(
                    name,
                    node.lineno,
                    kwargs,
                    args,
                    in_async=bool(self._async and self._async[-1]),
                    off=off,
                    splat=any(k.arg is None for k in node.keywords),
                    on=tuple(
                        k.arg
                        for k in node.keywords
                        if k.arg and isinstance(k.value, ast.Constant) and k.value.value is True
                    ),
                    ref=_dotted(node.args[0]) if node.args else "",
                    status=_status_literal(node),
                )
            )
            tail = name.rsplit(".", 1)[-1]
            if tail in ("include_router", "register_blueprint", "add_middleware", "Middleware"):
                self._mount(node, tail)
            if tail in ("add_api_route", "add_route", "add_url_rule", "add_websocket_route"):
                path = args[0] if args else None
                if path:
                    self.routes.append(Route("ANY", path, node.lineno, ""))
            reads_env = tail in ("getenv", "get", "pop") and ("environ" in name or tail == "getenv")
            if reads_env and args and args[0]:
                self.env.append((args[0], node.lineno))
            for keyword in node.keywords:
                self._secret(keyword.arg or "", keyword.value, node.lineno)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if (
            _dotted(node.value).endswith("environ")
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            self.env.append((node.slice.value, node.lineno))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and node.id not in self._inside:
            self.names.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load) and node.attr not in self._inside:
            self.names.add(node.attr)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._secret(_dotted(target), node.value, node.lineno)
        if len(node.targets) == 1:
            name = _dotted(node.targets[0])
            value = node.value
            if (
                not self._inside
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                self._constants[name] = value.value
            if (
                name
                and isinstance(value, ast.Call)
                and _dotted(value.func).rsplit(".", 1)[-1] in _APP_MAKERS
            ):
                self.mounts.append(Mount("router", name, "", _keyword_deps(value), node.lineno))
            elif name and isinstance(value, ast.Subscript):
                deps = _annotated_deps(value)
                if deps:
                    self.mounts.append(Mount("alias", name, "", deps, node.lineno))
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._secret(_dotted(node.target), node.value, node.lineno)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                self._secret(key.value, value, value.lineno)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if self.test:
            sides = [node.left, *node.comparators]
            named = any(_dotted(n).rsplit(".", 1)[-1].endswith(("status", "code")) for n in sides)
            for side in sides:
                value = side.value if isinstance(side, ast.Constant) else None
                if named and isinstance(value, int) and 400 <= value <= 599:
                    self.statuses.append((value, node.lineno))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        # Route-like strings ("/health", "/metrics") anywhere: probes in tests or clients.
        value = node.value
        if isinstance(value, str) and 1 < len(value) < 80 and value.startswith("/"):
            self.strings.append((value, node.lineno))
        elif isinstance(value, str) and 2 < len(value) <= 200 and _TOKEN.fullmatch(value):
            self.tokens.append((value, node.lineno))

    def _secret(self, name: str, value: ast.expr, line: int) -> None:
        if (
            name
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
            and len(value.value) >= 8
            and _SECRET_NAME.search(name.rsplit(".", 1)[-1])
        ):
            self.secrets.append(SecretLiteral(name, value.value, line))


def _depends(node: ast.expr | None) -> list[str]:
    """Callables of ``Depends(f)`` / ``Security(f)`` in ``node`` (a call or a list of them)."""
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [name for item in node.elts for name in _depends(item)]
    if not isinstance(node, ast.Call):
        return []
    if _dotted(node.func).rsplit(".", 1)[-1] not in ("Depends", "Security"):
        return []
    target = node.args[0] if node.args else None
    if target is None:
        target = next((k.value for k in node.keywords if k.arg == "dependency"), None)
    name = _dotted(target) if target is not None else ""
    return [name] if name else []


def _keyword_deps(node: ast.Call) -> tuple[str, ...]:
    """The dependency callables of a call's ``dependencies=[...]`` keyword."""
    for keyword in node.keywords:
        if keyword.arg == "dependencies":
            return tuple(_depends(keyword.value))
    return ()


def _annotated_deps(node: ast.expr) -> tuple[str, ...]:
    """``Annotated[T, Depends(f), ...]`` -> ``("f",)``."""
    if not (
        isinstance(node, ast.Subscript)
        and _dotted(node.value).rsplit(".", 1)[-1] == "Annotated"
        and isinstance(node.slice, ast.Tuple)
    ):
        return ()
    return tuple(name for item in node.slice.elts[1:] for name in _depends(item))


def _handler_deps(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
) -> tuple[list[str], tuple[str, ...]]:
    """A route handler's dependency callables and its parameters' plain annotation names."""
    arguments = node.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    defaults += arguments.defaults
    pairs = [*zip(positional, defaults, strict=True)]
    pairs += zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
    deps: list[str] = []
    hints: list[str] = []
    for arg, default in pairs:
        deps += _depends(default)
        annotation = arg.annotation
        deps += _annotated_deps(annotation) if annotation is not None else ()
        if isinstance(annotation, ast.Name | ast.Attribute):
            hints.append(_dotted(annotation))
    return deps, tuple(dict.fromkeys(hints))


def _literal_names(node: ast.For | ast.AsyncFor | ast.While) -> tuple[str, list[str]] | None:
    """``for m in (a, b):`` -> ``("m", ["a", "b"])``; None for any other loop."""
    if not isinstance(node, ast.For | ast.AsyncFor) or not isinstance(node.target, ast.Name):
        return None
    if not isinstance(node.iter, ast.Tuple | ast.List) or not node.iter.elts:
        return None
    names = [_dotted(e) for e in node.iter.elts]
    return (node.target.id, names) if all(names) else None


def _settings_env(node: ast.ClassDef, constants: dict[str, str]) -> list[tuple[str, int]]:
    """Environment variables a pydantic-settings class reads: prefix + field (or alias).

    ``env_prefix`` may name a module-level string constant; any other expression leaves
    the names unknown (nothing is recorded rather than wrong names).
    """
    prefix: str | None = ""
    for item in node.body:
        value: ast.expr | None = None
        if isinstance(item, ast.Assign) and _dotted(item.targets[0]) == "model_config":
            value = item.value
        if isinstance(value, ast.Call):
            for keyword in value.keywords:
                if keyword.arg == "env_prefix":
                    prefix = _constant(keyword.value, constants)
        if isinstance(item, ast.ClassDef) and item.name == "Config":
            for inner in item.body:
                if isinstance(inner, ast.Assign) and _dotted(inner.targets[0]) == "env_prefix":
                    prefix = _constant(inner.value, constants)
    if prefix is None:
        return []
    out = []
    for item in node.body:
        if not isinstance(item, ast.AnnAssign) or not isinstance(item.target, ast.Name):
            continue
        name = item.target.id
        if name == "model_config" or "ClassVar" in _dotted(
            item.annotation.value if isinstance(item.annotation, ast.Subscript) else item.annotation
        ):
            continue
        env = f"{prefix}{name}".upper()
        if isinstance(item.value, ast.Call):
            for keyword in item.value.keywords:
                if (
                    keyword.arg in ("alias", "validation_alias")
                    and isinstance(keyword.value, ast.Constant)
                    and isinstance(keyword.value.value, str)
                ):
                    env = keyword.value.value.upper()
        out.append((env, item.lineno))
    return out


def _status_literal(node: ast.Call) -> int:
    """An HTTP error status literal among a call's first argument and status keywords."""
    values = [node.args[0]] if node.args else []
    values += [k.value for k in node.keywords if k.arg in ("status_code", "status", "code")]
    for value in values:
        number = value.value if isinstance(value, ast.Constant) else None
        if type(number) is int and 400 <= number <= 599:
            return number
    return 0


def _constant(node: ast.expr, constants: dict[str, str]) -> str | None:
    """A string literal's value, or a module constant's; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _loop_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of a loop's body, not descending into nested definitions."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _iter_text(node: ast.expr) -> str:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _ITER_WRAPPERS
        and node.args
    ):
        return f"{node.func.id}({_dotted(node.args[0])})"
    return _dotted(node)


def _guarded_loop(node: ast.For | ast.AsyncFor | ast.While) -> Loop | None:
    """The loop's `Loop` fact, or None when its body catches nothing."""
    tries = False
    handled = False
    sleeps = False
    computed_sleep = False
    scales = False
    counters: list[str] = []
    for child in _loop_nodes(node.body):
        if isinstance(child, ast.Try | ast.TryStar) and child.handlers:
            tries = True
            handled = handled or any(
                not (h.body and isinstance(h.body[-1], ast.Raise)) for h in child.handlers
            )
        elif isinstance(child, ast.Call) and _dotted(child.func).rsplit(".", 1)[-1] == "sleep":
            sleeps = True
            delay = child.args[0] if child.args else None
            computed_sleep = computed_sleep or (
                delay is not None and not isinstance(delay, ast.Constant)
            )
            if delay is not None:
                scales = scales or any(isinstance(n, ast.Call) for n in ast.walk(delay))
        elif isinstance(child, ast.BinOp | ast.AugAssign) and isinstance(
            child.op, ast.Mult | ast.Pow | ast.LShift
        ):
            scales = True
        if isinstance(child, ast.AugAssign) and isinstance(child.op, ast.Add):
            name = _dotted(child.target).rsplit(".", 1)[-1]
            if name and name not in counters:
                counters.append(name)
    if not tries:
        return None
    if isinstance(node, ast.While):
        read = [
            n.id if isinstance(n, ast.Name) else n.attr
            for n in ast.walk(node.test)
            if isinstance(n, ast.Name | ast.Attribute)
        ]
        kind, iterable, target = "while", " ".join(dict.fromkeys(read)), ""
    else:
        kind, iterable = "for", _iter_text(node.iter)
        names = [n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)]
        target = ",".join(names)
    return Loop(
        kind,
        node.lineno,
        node.end_lineno or node.lineno,
        iterable,
        target,
        handled,
        sleeps,
        computed_sleep and scales,
        tuple(counters),
    )


def analyse_source(path: str, source: str) -> ModuleFacts:
    """Facts of one module's ``source`` (``path`` is repository-relative)."""
    test = is_test_path(path)
    lines = source.count("\n") + (0 if source.endswith("\n") or not source else 1)
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as exc:
        return ModuleFacts(path, test, lines, error=f"{type(exc).__name__}: {exc}")
    visitor = _Visitor(test)
    visitor.visit(tree)
    del tree
    return ModuleFacts(
        path=path,
        test=test,
        lines=lines,
        imports=tuple(visitor.imports),
        defs=tuple(visitor.defs),
        calls=tuple(visitor.calls),
        routes=tuple(visitor.routes),
        names=frozenset(visitor.names),
        secrets=tuple(visitor.secrets),
        env=tuple(visitor.env),
        tests=tuple(visitor.tests),
        strings=tuple(visitor.strings),
        tokens=tuple(visitor.tokens),
        loops=tuple(visitor.loops),
        statuses=tuple(visitor.statuses),
        mounts=tuple(visitor.mounts),
        settings=tuple(visitor.settings),
    )


def _analyse_files(root: str, paths: list[str]) -> list[ModuleFacts]:
    out = []
    for path in paths:
        full = Path(root) / path
        try:
            if full.stat().st_size > MAX_FILE_BYTES:
                continue
            source = full.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        out.append(analyse_source(path, source))
    return out


def build_index(root: Path, paths: list[str], *, workers: int | None = None) -> PyIndex:
    """Parse ``paths`` under ``root``; in a process pool when there are many."""
    workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    if workers <= 1 or len(paths) < _PARALLEL_FROM_FILES:
        return PyIndex(_analyse_files(str(root), paths))
    # Chunks of ~50 files: small enough to balance, big enough to amortise pickling.
    chunks = [paths[i : i + 50] for i in range(0, len(paths), 50)]
    modules: list[ModuleFacts] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(_analyse_files, [str(root)] * len(chunks), chunks):
            modules.extend(part)
    return PyIndex(modules)


class PyIndex:
    """Queries over every module's facts."""

    def __init__(self, modules: Iterable[ModuleFacts]) -> None:
        self.modules: tuple[ModuleFacts, ...] = tuple(sorted(modules, key=lambda m: m.path))
        self.source = tuple(m for m in self.modules if not m.test)
        self.tests = tuple(m for m in self.modules if m.test)
        used: dict[str, set[str]] = defaultdict(set)
        for module in self.source:
            for name in module.names:
                used[name].add(module.path)
        self._used_in_source = used
        self._bound: dict[str, dict[str, str]] = {}

    @property
    def lines(self) -> int:
        """Total lines of Python."""
        return sum(m.lines for m in self.modules)

    @property
    def test_count(self) -> int:
        """Number of test functions."""
        return sum(len(m.tests) for m in self.tests)

    def imports(self, *prefixes: str, tests: bool = False) -> Iterator[tuple[ModuleFacts, Import]]:
        """Imports of any of ``prefixes`` (a module or a submodule of it)."""
        for module in self.tests if tests else self.source:
            for item in module.imports:
                if any(item.module == p or item.module.startswith(p + ".") for p in prefixes):
                    yield module, item

    def calls(
        self, match: Callable[[Call], bool], *, tests: bool = False
    ) -> Iterator[tuple[ModuleFacts, Call]]:
        """Calls for which ``match`` holds."""
        for module in self.tests if tests else self.source:
            for call in module.calls:
                if match(call):
                    yield module, call

    def defs(
        self, pattern: re.Pattern[str], *, kinds: tuple[str, ...] = ("function", "method", "class")
    ) -> Iterator[tuple[ModuleFacts, Def]]:
        """Source definitions whose name matches ``pattern``."""
        for module in self.source:
            for item in module.defs:
                if item.kind in kinds and pattern.search(item.name):
                    yield module, item

    def used_in_source(self, name: str) -> frozenset[str]:
        """Paths of non-test modules that use the identifier ``name``."""
        return frozenset(self._used_in_source.get(name, ()))

    def is_wired(self, module: ModuleFacts, item: Def) -> bool:
        """A real (non-stub) definition used by non-test code.

        A method counts as used through its name (``breaker.call(...)``); a function or
        class through its name anywhere in source, its own module included (the
        definition's own name is not a use).
        """
        if item.stub:
            return False
        return bool(self.used_in_source(item.name))

    def qualify(self, module: ModuleFacts, name: str) -> str:
        """``name`` (dotted callee text) resolved through the module's imports.

        ``AsyncClient`` -> ``httpx.AsyncClient`` after ``from httpx import AsyncClient``;
        ``hx.get`` -> ``httpx.get`` after ``import httpx as hx``. Names not bound by an
        import come back unchanged.
        """
        bound = self._bound.get(module.path)
        if bound is None:
            bound = {i.bound: i.module for i in module.imports if i.bound}
            for item in module.imports:
                # ``import a.b`` binds ``a`` (to ``a``); keep that mapping plain.
                if item.bound and "." in item.module and item.bound == item.module.split(".")[0]:
                    bound[item.bound] = item.bound
            self._bound[module.path] = bound  # benign race: every thread computes the same
        head, _, rest = name.partition(".")
        target = bound.get(head)
        if target is None:
            return name
        return f"{target}.{rest}" if rest else target

    @staticmethod
    def enclosing(module: ModuleFacts, line: int) -> Def | None:
        """The innermost function or method whose body spans ``line``."""
        best: Def | None = None
        for item in module.defs:
            inside = item.kind != "class" and item.line <= line <= item.end_line
            if inside and (best is None or item.line >= best.line):
                best = item
        return best

    @staticmethod
    def calls_in(module: ModuleFacts, item: Def) -> Iterator[Call]:
        """Calls made within ``item``'s lines (nested definitions included)."""
        for call in module.calls:
            if item.line <= call.line <= item.end_line:
                yield call

    def routes(self) -> Iterator[tuple[ModuleFacts, Route]]:
        """Every route registered in source."""
        for module in self.source:
            for route in module.routes:
                yield module, route
