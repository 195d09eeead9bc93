"""Questions the LLM, resilience and performance checks ask of the Python facts.

Small helpers over `readiness.pyindex.PyIndex`: calls resolved through imports, named
definitions sorted into wired / unused / stub, loops that retry or fall back, and the
HTTP routes a service registers. Every answer carries ``file:line`` so a check can cite
it; nothing here reads or parses source again.

Only *production* modules count: source that is neither a test nor auxiliary tooling
(benchmarks, load-test drivers, examples, scripts, notebooks). A fake upstream in a
benchmark or a client in an example is not the service's integration, and a use from
there does not put a definition on the service's running path.
"""

from __future__ import annotations

import re
import weakref
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias

from readiness.context import AuditContext
from readiness.model import Evidence, Outcome, Strength
from readiness.pyindex import Call, Def, Loop, ModuleFacts

__all__ = [
    "DefState",
    "NamedDef",
    "ResolvedCall",
    "Served",
    "def_state",
    "evidence_of",
    "is_auxiliary",
    "loop_state",
    "name_words",
    "named_defs",
    "no_python",
    "production",
    "resolved_calls",
    "served_routes",
    "web_service",
]

DefState: TypeAlias = Literal["wired", "unused", "stub"]

#: Class names that describe a thing rather than do it (a breaker's config, its state
#: enum, the error it raises, a cache's key): never the mechanism itself.
_NOT_MECHANISM = re.compile(
    r"(Error|Exception|Config|Settings|State|Options|Params|Stats|Key|Entry|Result|Metrics|"
    r"Event|Info)$"
)
#: Functions that inspect, test or report on a mechanism are not the mechanism
#: (``check_circuit_breaker``, ``test_fallback``, ``find_failover``).
_INSPECTS = re.compile(
    r"^_*(check|test|detect|find|scan|audit|grade|judge|score|report|render|describe|"
    r"count|collect|lint|assert|mock|fake|stub)(_|$)",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
#: Top-level folders of tooling around a service, not the service.
_AUXILIARY = re.compile(
    r"^(bench|benchmarks?|load[_-]?tests?|perf|examples?|samples?|demos?|docs|scripts|"
    r"notebooks|playground|sandbox)/"
)
_WEB_FRAMEWORKS = (
    "fastapi",
    "starlette",
    "flask",
    "django",
    "aiohttp.web",
    "sanic",
    "litestar",
    "quart",
    "tornado.web",
    "falcon",
    "bottle",
    "connexion",
)
_AIOHTTP_ROUTE = frozenset(
    {"add_get", "add_post", "add_put", "add_patch", "add_delete", "add_head", "add_view"}
)
_ROUTE_CLASSES = ("starlette.routing.Route", "starlette.routing.Mount", "django.urls.path")


@dataclass(frozen=True, slots=True)
class ResolvedCall:
    """A call with its callee resolved through the module's imports."""

    module: ModuleFacts
    call: Call
    qualified: str


@dataclass(frozen=True, slots=True)
class NamedDef:
    """A definition found by name, with what it amounts to."""

    module: ModuleFacts
    item: Def
    state: DefState


@dataclass(frozen=True, slots=True)
class Served:
    """An HTTP route a service registers (``handler`` empty when not known)."""

    module: ModuleFacts
    method: str
    path: str
    line: int
    handler: str


def is_auxiliary(path: str) -> bool:
    """A module of tooling around the service (benchmarks, load tests, examples, scripts)."""
    return bool(_AUXILIARY.match(path))


@dataclass(frozen=True, slots=True)
class Production:
    """Production modules and the identifiers they use (name -> paths)."""

    modules: tuple[ModuleFacts, ...]
    used: dict[str, set[str]]
    #: Names production code calls, subclasses or decorates with (last component).
    instantiated: frozenset[str]


_PRODUCTION: weakref.WeakKeyDictionary[AuditContext, Production] = weakref.WeakKeyDictionary()


def production(ctx: AuditContext) -> Production:
    """The production modules (computed once per audit)."""
    cached = _PRODUCTION.get(ctx)
    if cached is None:
        modules = tuple(m for m in ctx.py.source if not is_auxiliary(m.path))
        used: dict[str, set[str]] = defaultdict(set)
        made: set[str] = set()
        for module in modules:
            for name in module.names:
                used[name].add(module.path)
            made.update(c.tail for c in module.calls)
            for item in module.defs:
                made.update(b.rsplit(".", 1)[-1] for b in item.bases)
                made.update(d.removesuffix("()").rsplit(".", 1)[-1] for d in item.decorators)
        cached = Production(modules, dict(used), frozenset(made))
        _PRODUCTION[ctx] = cached  # a race computes the same thing twice, harmlessly
    return cached


def name_words(name: str) -> list[str]:
    """An identifier's words, lower case (``LoadShedder`` -> ``load``, ``shedder``)."""
    return [w.lower() for w in _WORDS.findall(name)]


def no_python(ctx: AuditContext) -> Outcome | None:
    """An ``unknown`` outcome when there is no production Python source, else None."""
    if production(ctx).modules:
        return None
    return Outcome("unknown", 0, "no production Python source to analyse")


def resolved_calls(ctx: AuditContext, prefixes: Iterable[str]) -> Iterator[ResolvedCall]:
    """Production calls whose callee resolves to one of ``prefixes`` (name or prefix)."""
    wanted = tuple(prefixes)
    roots = {p.split(".", 1)[0] for p in wanted}
    for module in production(ctx).modules:
        # Only a module that imports one of the packages can call into it.
        if not any(i.module.split(".", 1)[0] in roots for i in module.imports):
            continue
        for call in module.calls:
            qualified = ctx.py.qualify(module, call.name)
            if any(qualified == p or qualified.startswith(p + ".") for p in wanted):
                yield ResolvedCall(module, call, qualified)


def def_state(ctx: AuditContext, module: ModuleFacts, item: Def) -> DefState:
    """``stub`` (does nothing), ``wired`` (used from production code) or ``unused``.

    A function is wired when its name is used in production code outside itself. A class
    must do more: be instantiated, subclassed or used as a decorator, and have a real
    method whose name production code uses (a class only named in a type hint protects
    nothing).
    """
    if item.stub:
        return "stub"
    # Tooling is judged by what the whole source uses (a script's helper is wired when
    # the script calls it); the service by what production code uses.
    names = production(ctx).used
    source = ctx.py

    def used(name: str) -> bool:
        if is_auxiliary(module.path):
            return bool(source.used_in_source(name))
        return name in names

    if not used(item.name):
        return "unused"
    if item.kind != "class":
        return "wired"
    if item.name not in production(ctx).instantiated:
        return "unused"
    methods = [
        d
        for d in module.defs
        if d.parent == item.name
        and d.kind == "method"
        and not d.stub
        and (not d.name.startswith("__") or d.name in ("__call__", "__enter__", "__aenter__"))
    ]
    if any(d.name.startswith("__") or used(d.name) for d in methods):
        return "wired"
    return "unused"


def named_defs(
    ctx: AuditContext,
    match: frozenset[str] | re.Pattern[str],
    *,
    kinds: tuple[str, ...] = ("class", "function"),
    mechanisms_only: bool = True,
    auxiliary: bool = False,
) -> list[NamedDef]:
    """Production definitions named like ``match``, each with its `DefState`.

    ``match`` is a set of words or a regular expression searched in the name. Names are
    split into words (``CircuitBreaker``: circuit, breaker; ``shed_load``: shed, load),
    so the word ``degraded`` does not match ``degradation_report``. Functions that
    inspect a thing (``check_*``, ``test_*``, ``find_*``) are left out; with
    ``mechanisms_only``, so are classes named like data (``*Config``, ``*Error``,
    ``*State``) and classes without a single method: they describe a mechanism, they are
    not one. ``auxiliary`` also searches tooling folders (scripts, benchmarks).
    """
    out = []
    if isinstance(match, re.Pattern):
        prefilter, words = match, None
    else:
        prefilter, words = re.compile("|".join(sorted(match)), re.IGNORECASE), match
    for module, item in ctx.py.defs(prefilter, kinds=kinds):
        if is_auxiliary(module.path) and not auxiliary:
            continue
        if words is not None and not words.intersection(name_words(item.name)):
            continue
        if item.kind != "class" and _INSPECTS.search(item.name):
            continue
        if item.kind == "class" and mechanisms_only:
            if _NOT_MECHANISM.search(item.name):
                continue
            if not any(d.parent == item.name and d.kind == "method" for d in module.defs):
                continue
        out.append(NamedDef(module, item, def_state(ctx, module, item)))
    return out


def loop_state(ctx: AuditContext, module: ModuleFacts, loop: Loop) -> DefState:
    """``wired`` when the loop runs at import or inside a wired function, else ``unused``."""
    owner = ctx.py.enclosing(module, loop.line)
    if owner is None:
        return "wired"
    return "wired" if def_state(ctx, module, owner) != "unused" else "unused"


_STATE_STRENGTH: dict[DefState, Strength] = {"wired": "wired", "unused": "code", "stub": "code"}


def evidence_of(found: NamedDef, what: str) -> Evidence:
    """Evidence for a named definition, its note saying what it amounts to."""
    item = found.item
    kind = "class" if item.kind == "class" else "function"
    if found.state == "wired":
        note = f"{what}: {kind} {item.name} is used from source"
    elif found.state == "stub":
        note = (
            f"{what}: {kind} {item.name} is a stub "
            "(its body does nothing or raises NotImplementedError)"
        )
    else:
        note = f"{what}: {kind} {item.name} is defined but never called from source"
    return Evidence(found.module.path, item.line, _STATE_STRENGTH[found.state], note)


def web_service(ctx: AuditContext) -> bool:
    """Whether production code is an HTTP service (a web framework imported or a route)."""
    for module, _ in ctx.py.imports(*_WEB_FRAMEWORKS):
        if not is_auxiliary(module.path):
            return True
    return bool(served_routes(ctx))


_ROUTES: weakref.WeakKeyDictionary[AuditContext, tuple[Served, ...]] = weakref.WeakKeyDictionary()


def served_routes(ctx: AuditContext) -> list[Served]:
    """Routes registered in production code (computed once per audit).

    Decorators and ``add_*route`` calls (pyindex), aiohttp ``router.add_get(...)``,
    Starlette ``Route(...)``/``Mount(...)``, Django ``path(...)`` and ``app.mount(...)``.
    """
    cached = _ROUTES.get(ctx)
    if cached is None:
        cached = tuple(_served_routes(ctx))
        _ROUTES[ctx] = cached  # a race computes the same thing twice, harmlessly
    return list(cached)


def _served_routes(ctx: AuditContext) -> list[Served]:
    out = [
        Served(m, r.method, r.path, r.line, r.handler)
        for m, r in ctx.py.routes()
        if not is_auxiliary(m.path)
    ]
    seen = {(s.module.path, s.line, s.path) for s in out}
    for module in production(ctx).modules:
        for call in module.calls:
            path = call.args[0] if call.args else None
            method = ""
            if call.tail in _AIOHTTP_ROUTE and path:
                method = call.tail.removeprefix("add_").upper()
            elif call.tail == "mount" and path and path.startswith("/"):
                method = "MOUNT"
            elif call.tail in ("Route", "Mount", "path", "re_path") and path is not None:
                qualified = ctx.py.qualify(module, call.name)
                if any(qualified.startswith(p.rsplit(".", 1)[0]) for p in _ROUTE_CLASSES):
                    method = "ANY"
                    path = path if path.startswith("/") else "/" + path
            if method and path and (module.path, call.line, path) not in seen:
                seen.add((module.path, call.line, path))
                out.append(Served(module, method, path, call.line, ""))
    return out
