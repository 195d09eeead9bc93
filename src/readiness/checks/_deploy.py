"""What the deployment checks ask of the parsed configuration and the Python facts.

Health probes gathered from every place one can be declared (Dockerfile HEALTHCHECK,
compose healthcheck, Kubernetes probes, Helm template lines) and matched against the
routes the application registers; the processes that make up a deployment (to judge
coverage); persistent state (is there anything to back up, can replicas share it?).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from readiness.checks._code import Served, is_auxiliary, resolved_calls
from readiness.configs import Configs
from readiness.configs.orchestration import Probe
from readiness.context import AuditContext
from readiness.model import Evidence

__all__ = [
    "HEALTH_ROUTE",
    "Unit",
    "data_stores",
    "local_state",
    "matching_route",
    "probe_units",
    "route_pattern",
    "shared_stores",
]

#: Top-level folders of tooling around a service (benchmarks, load tests, scripts): their
#: imports say nothing about how the service itself keeps state.
_TOOLING = re.compile(
    r"^(bench|benchmarks?|loadtests?|load_tests?|perf|scripts|tools|examples?|docs)/"
)
HEALTH_ROUTE = re.compile(r"health|ready|readiness|live|liveness|ping|status|alive", re.I)
_PARAM = re.compile(r"\{[^}]*\}|<[^>]*>|:\w+")

#: Modules (and the calls that connect) of stores several replicas can share.
_SHARED_STORE_CALLS = (
    "redis.Redis",
    "redis.StrictRedis",
    "redis.from_url",
    "redis.asyncio.Redis",
    "redis.asyncio.from_url",
    "redis.asyncio.StrictRedis",
    "redis.cluster.RedisCluster",
    "aioredis.from_url",
    "sqlalchemy.create_engine",
    "sqlalchemy.ext.asyncio.create_async_engine",
    "asyncpg.create_pool",
    "asyncpg.connect",
    "psycopg.connect",
    "psycopg.AsyncConnection.connect",
    "psycopg_pool.ConnectionPool",
    "psycopg_pool.AsyncConnectionPool",
    "psycopg2.connect",
    "psycopg2.pool",
    "pymongo.MongoClient",
    "motor.motor_asyncio.AsyncIOMotorClient",
    "pymemcache.client",
    "boto3.resource",
)
#: Imports that keep state on one host: a file database, a disk cache, a file lock.
_LOCAL_STATE = {
    "sqlite3": "SQLite is a file on one host",
    "aiosqlite": "SQLite is a file on one host",
    "shelve": "shelve keeps data in a local file",
    "diskcache": "diskcache keeps data on the local disk",
    "filelock": "a file lock only coordinates processes on one host",
}
#: Imports and declared packages that mean the service keeps persistent data.
_DATA_IMPORTS = (
    "sqlalchemy",
    "sqlmodel",
    "asyncpg",
    "psycopg",
    "psycopg2",
    "pymysql",
    "MySQLdb",
    "aiomysql",
    "pymongo",
    "motor",
    "django.db",
    "peewee",
    "tortoise",
    "sqlite3",
    "aiosqlite",
    "cassandra",
    "elasticsearch",
)
_DATA_IMAGES = re.compile(
    r"(^|/)(postgres|postgis|mysql|mariadb|mongo|cassandra|elasticsearch|opensearch|"
    r"clickhouse|cockroach|timescale|minio|neo4j)\b",
    re.I,
)
_DATA_TERRAFORM = re.compile(
    r"^(aws_db_instance|aws_rds_cluster|aws_dynamodb_table|aws_s3_bucket|aws_efs_file_system|"
    r"google_sql_database_instance|google_storage_bucket|azurerm_(postgresql|mysql|mssql|"
    r"cosmosdb)\w*|azurerm_storage_account|aws_docdb_cluster|google_spanner_instance)$"
)


@dataclass(frozen=True, slots=True)
class Unit:
    """A process a deployment runs, and the probes declared for it."""

    label: str
    path: str
    line: int
    probes: tuple[Probe, ...]
    #: Probe kinds it needs: {"liveness", "readiness"} on Kubernetes, any one elsewhere.
    needs: frozenset[str]

    def coverage(self) -> float:
        """1.0: every needed kind present; 0.5: some; 0.0: none."""
        kinds = {p.kind for p in self.probes}
        if not self.needs:
            return 1.0 if kinds else 0.0
        have = len(self.needs & kinds)
        return 1.0 if have == len(self.needs) else 0.5 if have or kinds else 0.0


def probe_units(configs: Configs) -> list[Unit]:
    """The processes to judge, with their probes.

    On Kubernetes each long-running container needs a liveness and a readiness probe
    (Docker's HEALTHCHECK is ignored there). Without Kubernetes, each production image
    needs a HEALTHCHECK, in its Dockerfile or in a compose service that builds it.
    """
    k8s = [(w, c) for w in configs.workloads if w.long_running for c in w.containers if c.image]
    both = frozenset({"liveness", "readiness"})
    if k8s:
        return [
            Unit(f"{w.kind} {w.name} container {c.name}", w.path, c.line, c.probes, both)
            for w, c in k8s
        ]
    units: list[Unit] = []
    for chart in configs.charts:
        hinted = tuple(
            Probe(h.path, h.line, h.key.removesuffix("Probe"), "http")
            for h in chart.hints
            if h.key in ("livenessProbe", "readinessProbe")
        )
        units.append(Unit(f"Helm chart {chart.name}", chart.path, 1, hinted, both))
    built: set[str] = set()
    for dockerfile in configs.production_dockerfiles:
        folder = dockerfile.path.rsplit("/", 1)[0] if "/" in dockerfile.path else "."
        name = dockerfile.path.rsplit("/", 1)[-1]
        probes: list[Probe] = []
        check = dockerfile.healthcheck()
        if check is not None and not check.disabled:
            probes.append(
                Probe(dockerfile.path, check.line, "healthcheck", "exec", check.path, check.command)
            )
        for service in configs.compose:
            if service.build == folder and (service.dockerfile or "Dockerfile") == name:
                built.add(f"{service.path}:{service.name}")
                if service.healthcheck is not None:
                    probes.append(service.healthcheck)
        final = dockerfile.final
        line = final.line if final else 1
        units.append(
            Unit(f"image {dockerfile.path}", dockerfile.path, line, tuple(probes), frozenset())
        )
    own = [s for s in configs.compose if s.build is not None]
    for service in own or ([] if units else configs.compose):
        if f"{service.path}:{service.name}" in built:
            continue
        probes_ = (service.healthcheck,) if service.healthcheck else ()
        units.append(
            Unit(
                f"compose service {service.name}", service.path, service.line, probes_, frozenset()
            )
        )
    return units


def route_pattern(path: str) -> str:
    """A route path as a regex (``{id}``, ``<id>``, ``:id`` match one segment)."""
    parts = _PARAM.split(path.rstrip("/") or "/")
    return "[^/]+".join(re.escape(p) for p in parts) + "/?"


def matching_route(probe_path: str, routes: list[Served]) -> tuple[Served | None, bool]:
    """The route that serves ``probe_path``, and whether it matched only under a prefix.

    A prefix match (``/api/health`` against a route ``/health``) stands for a router
    mounted under a prefix the index cannot see; it is accepted, and said so.
    """
    path = probe_path.split("?", 1)[0].split("#", 1)[0] or "/"
    for route in routes:
        if re.fullmatch(route_pattern(route.path), path):
            return route, False
        if route.method == "MOUNT" and path.startswith(route.path.rstrip("/") + "/"):
            return route, False
    for route in routes:
        if route.path.rstrip("/") and re.fullmatch(
            r"(?:/[^/]+)+" + route_pattern(route.path), path
        ):
            return route, True
    return None, False


def shared_stores(ctx: AuditContext) -> list[Evidence]:
    """Where source connects to a store several replicas can share (Redis, a database)."""
    out = []
    for found in resolved_calls(ctx, _SHARED_STORE_CALLS):
        if is_auxiliary(found.module.path):
            continue
        out.append(
            Evidence(
                found.module.path,
                found.call.line,
                "wired",
                f"state in a shared store: {found.qualified}()",
            )
        )
    return out


def local_state(ctx: AuditContext) -> list[Evidence]:
    """Imports in source of host-local state (SQLite files, disk caches, file locks)."""
    out: list[Evidence] = []
    seen: set[tuple[str, int]] = set()
    for module, item in ctx.py.imports(*_LOCAL_STATE):
        if (module.path, item.line) in seen:
            continue
        seen.add((module.path, item.line))
        if is_auxiliary(module.path):
            continue
        root = item.module.split(".", 1)[0]
        out.append(Evidence(module.path, item.line, "code", _LOCAL_STATE[root]))
    # slowapi keeps its counters in process memory unless given a storage URI: with N
    # replicas every client gets N times the limit.
    for found in resolved_calls(ctx, ("slowapi.Limiter", "slowapi.extension.Limiter")):
        if "storage_uri" not in found.call.kwargs and not found.call.splat:
            note = "rate-limit counters in process memory (slowapi Limiter without storage_uri)"
            out.append(Evidence(found.module.path, found.call.line, "code", note))
    return out


def data_stores(ctx: AuditContext, configs: Configs) -> list[Evidence]:
    """Evidence that the service keeps persistent data (so it needs backups)."""
    out: list[Evidence] = []
    seen: set[str] = set()
    for module, item in ctx.py.imports(*_DATA_IMPORTS):
        if module.path not in seen and not is_auxiliary(module.path):
            seen.add(module.path)
            out.append(Evidence(module.path, item.line, "code", f"uses {item.module}"))
    for service in configs.compose:
        if service.image and _DATA_IMAGES.search(service.image):
            out.append(Evidence(service.path, service.line, "config", f"runs {service.image}"))
    for obj in configs.kube_objects:
        if obj.kind in ("StatefulSet", "PersistentVolumeClaim"):
            out.append(Evidence(obj.path, obj.line, "config", f"Kubernetes {obj.kind} {obj.name}"))
    for block in configs.terraform:
        if block.block == "resource" and _DATA_TERRAFORM.match(block.type):
            out.append(
                Evidence(block.path, block.line, "config", f"Terraform {block.type}.{block.name}")
            )
    return out
