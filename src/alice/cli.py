"""``alice`` commands: serve, chat, migrate, models, tenants, keys, gdpr, audit, db, logs, slo.

Every command validates settings first; a wrong value ends the command with one line
on stderr naming the setting and what it accepts, and exit code 2.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from alice.errors import AliceError, ConfigurationError
from alice.settings import Settings, load_settings
from readiness.cli import audit as readiness_audit

if TYPE_CHECKING:
    from alice.store.tenants import IssuedKey, KeyStore

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="alice",
    help="Alice: self-hosted AI assistant server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(make())
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except AliceError as exc:
        err.print(f"[red]error ({exc.code}):[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (ALICE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (ALICE_PORT).")] = None,
) -> None:
    """Run the HTTP server (UI and API)."""
    import uvicorn

    from alice.app import create_app
    from alice.observability import configure_logging

    settings = _settings(host=host, port=port)
    configure_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        log_file=settings.log_file,
        max_bytes=settings.log_max_bytes,
        backups=settings.log_backups,
        max_age_s=settings.log_max_age_s,
    )
    err.print(f"Alice on http://{settings.host}:{settings.port}  (Ctrl+C stops)", highlight=False)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        # The client IP (per-IP rate limits) from X-Forwarded-For of these proxies only.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from alice.app import database_config
    from alice.store import Database
    from alice.store import migrate as run_migrations

    settings = _settings()

    async def go() -> str:
        database = Database(database_config(settings))
        try:
            return await run_migrations(database)
        finally:
            await database.aclose()

    revision = _run(go)
    typer.echo(f"database at revision {revision}")


tenants_app = typer.Typer(help="Manage tenants (in the configured database).", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (in the configured database).", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")


def _cli_logging(settings: Settings) -> None:
    """Log lines on stderr (and ALICE_LOG_FILE); stdout keeps only the command's output."""
    from alice.observability import configure_logging

    configure_logging(
        level="info",
        fmt="console",
        log_file=settings.log_file,
        max_bytes=settings.log_max_bytes,
        backups=settings.log_backups,
        max_age_s=settings.log_max_age_s,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _with_keys(use: Callable[[KeyStore], Coroutine[Any, Any, T]]) -> T:
    """Run ``use`` against the configured database (migrated first)."""
    from alice.app import database_config
    from alice.store import Database
    from alice.store import migrate as run_migrations
    from alice.store.tenants import KeyStore

    settings = _settings()
    # Changes are logged (ids only) on stderr and to ALICE_LOG_FILE, like the server's;
    # stdout keeps only the command's output (a new key alone on its line).
    _cli_logging(settings)

    async def go() -> T:
        database = Database(database_config(settings))
        try:
            await run_migrations(database)
            return await use(KeyStore(database))
        finally:
            await database.aclose()

    return _run(go)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def _print_new_key(issued: IssuedKey) -> None:
    # The key alone on stdout (so `KEY=$(alice keys create ...)` works); the rest on stderr.
    typer.echo(issued.key)
    record = issued.record
    err.print(
        f"[dim]key {record.id} for tenant {record.tenant_id}, scope {' '.join(record.scopes)}"
        " — shown this once, store it now[/dim]",
        highlight=False,
    )


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="Tenant name (a-z, 0-9, -, _).")],
) -> None:
    """Create a tenant."""
    record = _with_keys(lambda keys: keys.create_tenant(name))
    typer.echo(f"tenant {record.id} created")


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants with their number of live keys."""
    records = _with_keys(lambda keys: keys.list_tenants())
    table = Table("tenant", "live keys", "created", "PII masking", "retention")
    for record in records:
        masking = "default" if record.pii_masking is None else _on_off(record.pii_masking)
        retention = "default" if record.retention_days is None else f"{record.retention_days} d"
        table.add_row(
            record.id, str(record.key_count), _when(record.created_at), masking, retention
        )
    Console().print(table)


def _on_off(value: bool) -> str:
    return "on" if value else "off"


@tenants_app.command("set")
def tenants_set(
    name: Annotated[str, typer.Argument(help="The tenant.")],
    pii_masking: Annotated[
        str | None,
        typer.Option(help="on, off, or default (ALICE_PII_MASKING)."),
    ] = None,
    retention_days: Annotated[
        str | None,
        typer.Option(help="Days a conversation is kept after its last message, or default."),
    ] = None,
) -> None:
    """Set a tenant's privacy policy (running servers follow within ALICE_AUTH_CACHE_TTL_S)."""
    from alice.store.tenants import UNSET

    changes: dict[str, Any] = {}
    if pii_masking is not None:
        choices = {"on": True, "off": False, "default": None}
        if pii_masking not in choices:
            err.print("[red]error:[/red] --pii-masking is on, off or default")
            raise typer.Exit(2)
        changes["pii_masking"] = choices[pii_masking]
    if retention_days is not None:
        if retention_days != "default" and not retention_days.isdigit():
            err.print("[red]error:[/red] --retention-days is a number of days or default")
            raise typer.Exit(2)
        changes["retention_days"] = None if retention_days == "default" else int(retention_days)
    record = _with_keys(
        lambda keys: keys.update_tenant(
            name,
            pii_masking=changes.get("pii_masking", UNSET),
            retention_days=changes.get("retention_days", UNSET),
        )
    )
    masking = "default" if record.pii_masking is None else _on_off(record.pii_masking)
    retention = "default" if record.retention_days is None else f"{record.retention_days} days"
    typer.echo(f"tenant {record.id}: PII masking {masking}, retention {retention}")


@tenants_app.command("delete")
def tenants_delete(
    name: Annotated[str, typer.Argument(help="Tenant to delete.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a tenant with all its keys, conversations and messages."""
    if not yes:
        typer.confirm(f"Delete tenant {name!r} and all its data?", abort=True)
    _with_keys(lambda keys: keys.delete_tenant(name))
    typer.echo(f"tenant {name} deleted")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant the key belongs to.")] = "default",
    scope: Annotated[str, typer.Option(help="chat or admin.")] = "chat",
    name: Annotated[str, typer.Option(help="A label for listings.")] = "",
    rate_requests: Annotated[
        int | None, typer.Option(min=1, help="Own rate limit: requests per window.")
    ] = None,
    rate_burst: Annotated[int | None, typer.Option(min=1, help="Own bucket size.")] = None,
    rate_window_s: Annotated[float | None, typer.Option(min=0.001, help="Own window.")] = None,
) -> None:
    """Issue an API key; the key is printed once, on its own line."""
    from alice.security.keys import SCOPES, RateOverride

    if scope not in SCOPES:
        err.print(f"[red]error:[/red] --scope must be one of {', '.join(SCOPES)}")
        raise typer.Exit(2)
    rate = RateOverride(rate_requests, rate_burst, rate_window_s)
    issued = _with_keys(lambda keys: keys.create_key(tenant, (scope,), name=name, rate=rate))
    _print_new_key(issued)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
) -> None:
    """List keys (never the keys themselves: their id and first characters)."""
    records = _with_keys(lambda keys: keys.list_keys(tenant))
    table = Table("id", "tenant", "prefix", "scopes", "name", "created", "last used", "state")
    for r in records:
        state = f"revoked {_when(r.revoked_at)}" if r.revoked_at else "live"
        table.add_row(
            r.id,
            r.tenant_id,
            r.prefix + "…",
            " ".join(r.scopes),
            r.name,
            _when(r.created_at),
            _when(r.last_used_at),
            state,
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (alice keys list).")],
) -> None:
    """Revoke a key (running servers stop accepting it within ALICE_AUTH_CACHE_TTL_S)."""
    record = _with_keys(lambda keys: keys.revoke_key(None, key_id))
    typer.echo(f"key {record.id} revoked")


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="The key's id (alice keys list).")],
) -> None:
    """Replace a key with a new one (same tenant, scope, limits); the old one is revoked."""
    _print_new_key(_with_keys(lambda keys: keys.rotate_key(None, key_id)))


@keys_app.command("generate-encryption-key")
def keys_generate_encryption_key() -> None:
    """Print a new encryption key, for ALICE_ENCRYPTION_KEYS (nothing is stored)."""
    from alice.privacy.encryption import generate_key, key_id

    key = generate_key()
    typer.echo(key)
    err.print(f"[dim]encryption key {key_id(key)} — store it as a secret now[/dim]")


@keys_app.command("rotate-encryption")
def keys_rotate_encryption(
    new_key: Annotated[
        bool | None,
        typer.Option(
            "--new-key/--no-new-key",
            help="Add a new key first in the key file (the default with a key file). "
            "With ALICE_ENCRYPTION_KEYS, put the new key first there yourself, roll it "
            "out, then run this (it re-encrypts onto the first key).",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per batch.")] = 500,
) -> None:
    """Re-encrypt stored messages and titles under the newest key, while Alice serves."""
    from alice.app import database_config
    from alice.privacy import Keyring
    from alice.privacy.encryption import add_key_to_file
    from alice.privacy.rotation import key_usage, reencrypt
    from alice.store import Database
    from alice.store import migrate as run_migrations

    settings = _settings()
    if settings.encryption != "on":
        err.print("[red]error:[/red] ALICE_ENCRYPTION is off: there is nothing to rotate to.")
        raise typer.Exit(2)
    from_env = settings.encryption_keys is not None
    if new_key and from_env:
        err.print(
            "[red]error:[/red] the keys come from ALICE_ENCRYPTION_KEYS: add the new key "
            "first there (alice keys generate-encryption-key) on every replica, then run "
            "this with --no-new-key."
        )
        raise typer.Exit(2)
    if new_key is None:
        new_key = not from_env

    async def go() -> None:
        config = database_config(settings)
        if new_key:
            added = add_key_to_file(settings.resolved_key_file)
            err.print(f"new key {added} first in {settings.resolved_key_file}", highlight=False)
            config = database_config(settings)  # now with the new key
        keyring = config.cipher
        assert isinstance(keyring, Keyring)  # noqa: S101 - encryption is on
        database = Database(config)
        try:
            await run_migrations(database)
            report = await reencrypt(
                database,
                keyring,
                batch_size=batch_size,
                on_batch=lambda label, done: err.print(f"  {label}: {done}", highlight=False),
            )
            usage = await key_usage(database)
        finally:
            await database.aclose()
        typer.echo(
            f"re-encrypted {report.total} values onto key {report.primary} "
            f"in {report.batches} batches ({report.skipped} changed meanwhile, left as they are)"
        )
        still = {
            k for counts in usage.values() for k, n in counts.items() if n and k != report.primary
        }
        retired = [k for k in keyring.ids[1:] if k not in still]
        if still:
            typer.echo(f"rows still on other keys: {sorted(map(str, still))}; run again")
        if retired:
            typer.echo(
                f"keys no row uses any more: {', '.join(retired)} (keep them while backups "
                "made before this rotation may be restored)"
            )

    _run(go)


@keys_app.command("encryption-status")
def keys_encryption_status() -> None:
    """The encryption keys (ids, never the keys) and how many stored values each holds."""
    from alice.app import database_config
    from alice.privacy.rotation import key_usage
    from alice.store import Database
    from alice.store import migrate as run_migrations

    settings = _settings()
    config = database_config(settings)

    async def go() -> dict[str, dict[str | None, int]]:
        database = Database(config)
        try:
            await run_migrations(database)
            return await key_usage(database)
        finally:
            await database.aclose()

    usage = _run(go)
    ids: tuple[str, ...] = getattr(config.cipher, "ids", ())
    table = Table("column", "key", "values", "")
    for label, counts in usage.items():
        for key, count in sorted(counts.items(), key=lambda kv: str(kv[0])):
            note = "newest" if ids and key == ids[0] else ("configured" if key in ids else "")
            if key is None:
                note = "plaintext"
            elif not note:
                note = "MISSING: cannot be read"
            table.add_row(label, key or "-", str(count), note)
    Console().print(table)
    source = (
        "ALICE_ENCRYPTION_KEYS" if settings.encryption_keys else str(settings.resolved_key_file)
    )
    typer.echo(f"encryption {settings.encryption}; keys from {source}: {', '.join(ids) or 'none'}")


gdpr_app = typer.Typer(
    help="GDPR: export and erase a person's data, run retention (configured database).",
    no_args_is_help=True,
)


class _AuditGroup(TyperGroup):
    """``alice audit``: the readiness audit of a repository, and the audit log.

    ``alice audit PATH`` (or ``alice audit readiness PATH``) runs the ``readiness`` command;
    ``alice audit list`` reads the audit log. Anything that is not a subcommand's name goes
    to the readiness audit.
    """

    # ctx is typer's vendored click Context (not public API, hence Any).
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [_READINESS_COMMAND, *args]
        return super().parse_args(ctx, args)


_READINESS_COMMAND = "readiness"
audit_app = typer.Typer(
    cls=_AuditGroup,
    help="Audit a repository for production readiness (alice audit PATH), or read the "
    "audit log (alice audit list).",
    no_args_is_help=True,
)
audit_app.command(_READINESS_COMMAND)(readiness_audit)
app.add_typer(gdpr_app, name="gdpr")
app.add_typer(audit_app, name="audit")


def _with_privacy(use: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Run ``use(Gdpr)`` against the configured database (migrated first) and cache."""
    from alice.app import build_cache, database_config
    from alice.cache import RedisCache
    from alice.privacy import subject_index_from_settings
    from alice.privacy.gdpr import Gdpr
    from alice.store import Database
    from alice.store import migrate as run_migrations
    from alice.store.tenants import KeyStore

    settings = _settings()
    _cli_logging(settings)

    async def go() -> T:
        database = Database(database_config(settings))
        cache = build_cache(settings) if settings.cache == "redis" else None
        try:
            await run_migrations(database)
            gdpr = Gdpr(
                database,
                subjects=subject_index_from_settings(settings),
                keys=KeyStore(database),
                cache=cache,
            )
            return await use(gdpr)
        finally:
            if isinstance(cache, RedisCache):
                await cache.aclose()
            await database.aclose()

    return _run(go)


@gdpr_app.command("export")
def gdpr_export(
    tenant: Annotated[str, typer.Option(help="The tenant.")] = "default",
    user: Annotated[
        str | None, typer.Option(help="The end user (the chat requests' user); omit: tenant.")
    ] = None,
    out: Annotated[
        str | None, typer.Option(help="Write the JSON here (0600) instead of stdout.")
    ] = None,
) -> None:
    """Everything stored about a user (or a whole tenant), as JSON."""
    import os

    document = _with_privacy(lambda gdpr: gdpr.export(tenant, user=user, actor="cli"))
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    if out is None:
        sys.stdout.buffer.write(data + b"\n")
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data + b"\n")
    err.print(f"{len(document['conversations'])} conversations written to {out}", highlight=False)


@gdpr_app.command("forget")
def gdpr_forget(
    user: Annotated[str, typer.Option(help="The end user (the chat requests' user).")],
    tenant: Annotated[str, typer.Option(help="The tenant.")] = "default",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a user: conversations, messages and (Redis) cached answers, for good."""
    if not yes:
        typer.confirm(f"Erase everything stored about this user in {tenant!r}?", abort=True)
    settings = _settings()
    report = _with_privacy(lambda gdpr: gdpr.forget(tenant, user=user, actor="cli"))
    typer.echo(
        f"erased {report.conversations} conversations, {report.messages} messages, "
        f"{report.cached_answers} cached answers (subject {report.subject})"
    )
    if settings.cache == "memory":
        err.print(
            "[yellow]note:[/yellow] running servers keep in-memory cached answers for up to "
            f"ALICE_CACHE_TTL_S ({settings.cache_ttl_s:.0f} s); POST /api/gdpr/forget on a "
            "server purges its cache at once."
        )


@gdpr_app.command("retention")
def gdpr_retention() -> None:
    """Run one retention pass now (the server runs it every ALICE_RETENTION_INTERVAL_S)."""
    from alice.privacy.retention import apply_retention

    settings = _settings()

    async def run(gdpr: Any) -> dict[str, int]:
        return await apply_retention(gdpr.database, gdpr.keys, default_days=settings.retention_days)

    deleted = _with_privacy(run)
    for tenant, count in deleted.items():
        typer.echo(f"{tenant}: {count} conversations deleted")
    if not deleted:
        typer.echo("no tenant has a retention limit (ALICE_RETENTION_DAYS, tenants set)")


@audit_app.command("list")
def audit_list(
    tenant: Annotated[str, typer.Option(help="The tenant.")] = "default",
    after: Annotated[int, typer.Option(help="Entries after this seq.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
) -> None:
    """A tenant's audit log, oldest first."""
    from alice.privacy.audit import AuditLog

    entries = _with_privacy(
        lambda gdpr: AuditLog(gdpr.database).entries(tenant, after=after, limit=limit)
    )
    table = Table("seq", "at", "actor", "action", "subject", "target", "detail")
    for e in entries:
        table.add_row(
            str(e.seq),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.subject or "-",
            e.target or "-",
            orjson.dumps(dict(e.detail)).decode(),
        )
    Console(width=200).print(table)


backup_app = typer.Typer(help="SQLite backups (online).", no_args_is_help=True)
db_app = typer.Typer(help="The database: copy it elsewhere.", no_args_is_help=True)
app.add_typer(backup_app, name="backup")
app.add_typer(db_app, name="db")


def _sqlite_file(settings: Settings) -> Any:
    from alice.app import database_config

    path = database_config(settings).sqlite_path
    if path is None:
        err.print(
            "[red]error:[/red] ALICE_DATABASE_URL is PostgreSQL: back it up with base backups "
            "and WAL archiving (point-in-time recovery, docs/operations.md)."
        )
        raise typer.Exit(2)
    return path


@backup_app.command("create")
def backup_create(
    to: Annotated[
        str | None,
        typer.Option(help="Backup file (default: <data_dir>/backups/alice-<UTC time>.db)."),
    ] = None,
) -> None:
    """Snapshot the SQLite database while Alice keeps serving."""
    from pathlib import Path

    from alice.store.backup import backup_sqlite
    from alice.store.models import utcnow

    settings = _settings()
    _cli_logging(settings)
    source = _sqlite_file(settings)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    destination = Path(to) if to else settings.resolved_data_dir / "backups" / f"alice-{stamp}.db"
    try:
        info = backup_sqlite(source, destination)
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    typer.echo(str(info.path))
    err.print(
        f"[dim]{info.bytes} bytes, schema {info.revision}, "
        f"{info.rows.get('conversations', 0)} conversations, "
        f"{info.rows.get('messages', 0)} messages. The encryption and subject keys are "
        "not in it: back them up apart.[/dim]",
        highlight=False,
    )


@backup_app.command("restore")
def backup_restore(
    path: Annotated[str, typer.Argument(help="A file made by alice backup create.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the SQLite database with a backup (stop Alice first)."""
    from pathlib import Path

    from alice.store.backup import restore_sqlite

    settings = _settings()
    _cli_logging(settings)
    target = _sqlite_file(settings)
    if not yes:
        typer.confirm(f"Replace {target} with {path}? Everything written since is lost", abort=True)
    try:
        info = restore_sqlite(Path(path), target)
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    typer.echo(
        f"restored {path}: schema {info.revision}, "
        f"{info.rows.get('conversations', 0)} conversations, "
        f"{info.rows.get('messages', 0)} messages"
    )


@db_app.command("copy")
def db_copy(
    to: Annotated[str, typer.Option(help="Target URL, e.g. postgresql://user@host/alice.")],
) -> None:
    """Copy the configured database (e.g. SQLite) into an empty one (e.g. PostgreSQL)."""
    from alice.app import database_config
    from alice.store import Database
    from alice.store.backup import copy_database

    settings = _settings()
    _cli_logging(settings)
    try:
        target_settings = load_settings(database_url=to)
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}".replace("ALICE_DATABASE_URL", "--to"), highlight=False)
        raise typer.Exit(2) from exc

    async def go() -> dict[str, int]:
        source = Database(database_config(settings))
        target = Database(database_config(target_settings))
        try:
            report = await copy_database(
                source,
                target,
                on_table=lambda name, rows: err.print(f"  {name}: {rows}", highlight=False),
            )
        finally:
            await target.aclose()
            await source.aclose()
        return report.rows

    rows = _run(go)
    typer.echo(
        f"copied {sum(rows.values())} rows in {len(rows)} tables; counts match. Point "
        "ALICE_DATABASE_URL at the target and give it the same encryption and subject keys."
    )


@db_app.command("pitr-drill")
def db_pitr_drill(
    rows: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per phase.")] = 20,
) -> None:
    """Prove point-in-time recovery on throwaway PostgreSQL clusters.

    Base backup, WAL archive, restore to a time; touches no configured database.
    """
    from alice.store.pitr import run_pitr_drill

    report = _run(lambda: run_pitr_drill(rows=rows))
    for step in report.steps:
        typer.echo(f"  {step}")
    expected = report.written_before_backup + report.written_after_backup
    typer.echo(
        f"recovered {report.recovered} of {expected} rows written before the target time, "
        f"{report.recovered_after_target} of {report.written_after_target} written after it"
    )
    if not report.passed:
        err.print("[red]drill FAILED[/red]")
        raise typer.Exit(1)
    typer.echo("drill passed")


logs_app = typer.Typer(help="Analyse request logs (NDJSON, plain or gzip).", no_args_is_help=True)
slo_app = typer.Typer(
    help="Service level objectives: attainment and error budget.", no_args_is_help=True
)
app.add_typer(logs_app, name="logs")
app.add_typer(slo_app, name="slo")


def _bad_input(exc: Exception) -> NoReturn:
    err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(2) from exc


def _wide_console() -> Console:
    # Piped into a file or a pager, rich assumes 80 columns and wraps every number.
    return Console(width=None if sys.stdout.isatty() else 160)


def _print_json(data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


@logs_app.command("analyze")
def logs_analyze(
    files: Annotated[
        list[Path], typer.Argument(help="Log files, rotated and .gz ones too, in any order.")
    ],
    window: Annotated[str, typer.Option(help="Window length: 30s, 1m, 5m, 1h, ...")] = "1m",
    route: Annotated[
        list[str] | None,
        typer.Option(help="Only this route template; repeatable; 'chat' = the chat routes."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="From this time (ISO 8601; UTC unless it says).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Up to this time (ISO 8601).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write PNG plots into this folder.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON, not tables.")] = False,
) -> None:
    """Latency percentiles, errors and Guardian modes per time window; plots with --out."""
    from alice.observability import analytics
    from alice.observability.summary import analysis_tables

    try:
        window_s = analytics.parse_duration(window)
        routes = None
        if route:
            routes = {
                r for name in route for r in (analytics.CHAT_ROUTES if name == "chat" else (name,))
            }
        log = analytics.read_requests(
            files,
            routes=routes,
            since=None if since is None else analytics.parse_time(since),
            until=None if until is None else analytics.parse_time(until),
        )
        analysis = analytics.analyze(log, window_s=window_s)
    except analytics.BadInputError as exc:
        _bad_input(exc)
    plots: list[Path] = []
    if out is not None:
        from alice.observability.plots import write_plots

        try:
            plots = write_plots(analysis, out)
        except OSError as exc:
            _bad_input(exc)
    if json_output:
        _print_json({**analysis.as_dict(), "plots": [str(p) for p in plots]})
        return
    console = _wide_console()
    for table in analysis_tables(analysis):
        console.print(table)
    for path in plots:
        console.print(f"plot: {path}", highlight=False)


@slo_app.command("report")
def slo_report(
    logs: Annotated[
        list[Path] | None,
        typer.Option(help="Read these log files (repeatable; further FILE arguments too)."),
    ] = None,
    files: Annotated[
        list[Path] | None, typer.Argument(help="More log files, so --logs alice.log* works.")
    ] = None,
    prometheus: Annotated[
        str | None, typer.Option(help="Ask this Prometheus server (http://host:9090).")
    ] = None,
    window: Annotated[
        str | None, typer.Option(help="How far back to look: 30d, 7d, 1h, 5m (default: --period).")
    ] = None,
    period: Annotated[str, typer.Option(help="The SLO period.")] = "30d",
    availability: Annotated[float, typer.Option(help="Availability objective.")] = 0.995,
    latency_p95: Annotated[
        float, typer.Option(help="Seconds that 95 % of chat requests must meet.")
    ] = 2.0,
    latency_p99: Annotated[
        float, typer.Option(help="Seconds that 99 % of chat requests must meet.")
    ] = 3.0,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
) -> None:
    """Availability and chat latency SLOs, error budget left, from logs or Prometheus.

    Exit status: 0 every SLO met (or without data), 1 one is breached, 2 bad input.
    """
    from alice.observability import analytics
    from alice.observability.slo import (
        SloTargets,
        report_from_prometheus,
        report_from_records,
    )
    from alice.observability.summary import slo_table

    paths = [*(logs or []), *(files or [])]
    try:
        if bool(paths) == bool(prometheus):
            raise analytics.BadInputError("give log files (--logs FILE) or --prometheus URL")
        targets = SloTargets(
            availability=availability,
            latency_p95_s=latency_p95,
            latency_p99_s=latency_p99,
            period_s=analytics.parse_duration(period),
        )
        window_s = None if window is None else analytics.parse_duration(window)
        if prometheus is not None:
            report = report_from_prometheus(prometheus, targets, window_s=window_s)
        else:
            report = report_from_records(analytics.read_requests(paths), targets, window_s=window_s)
    except analytics.BadInputError as exc:
        _bad_input(exc)
    if json_output:
        _print_json(report.as_dict())
    else:
        _wide_console().print(slo_table(report))
    raise typer.Exit(report.exit_code)


@app.command()
def models() -> None:
    """List the configured provider's models."""
    from alice.llm.backends import default_backends, tier_routes
    from alice.llm.providers.llamacpp import BUNDLED_MODEL_FILE

    settings = _settings()
    try:
        backends = default_backends(settings)
        tiers = tier_routes(backends, settings.tiers)
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    table = Table("backend", "provider", "model", "where", "status")
    for spec in backends:
        if spec.provider == "llamacpp":
            path = spec.model_path or settings.resolved_data_dir / "models" / BUNDLED_MODEL_FILE
            where = str(path)
            status = "present" if path.is_file() else "assembled on first start"
        else:
            where = spec.base_url or ""
            status = "remote"
        for index, name in enumerate(spec.models):
            label = name + (" (default)" if index == 0 else "")
            table.add_row(spec.id, spec.provider, label, where, status)
    console = Console()
    console.print(table)
    for tier, routes in tiers.items():
        chain = " → ".join(f"{r.backend}:{r.model}" for r in routes)
        offline = " → offline answer" if settings.offline_answers else ""
        console.print(f"tier {tier}: {chain}{offline}", highlight=False)


@app.command()
def chat(
    text: Annotated[str, typer.Argument(help="Your message.")],
    conversation: Annotated[
        str | None, typer.Option("--conversation", "-c", help="Continue this conversation.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Talk to a running Alice at this URL instead of in-process."),
    ] = None,
    temperature: Annotated[float | None, typer.Option(min=0.0, max=2.0)] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1)] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="ALICE_API_KEY", help="Key for --url (default: $ALICE_API_KEY)."),
    ] = None,
) -> None:
    """Send a message and stream the answer into the terminal."""
    if url is not None:
        conversation_id = _chat_remote(url, text, conversation, temperature, max_tokens, api_key)
    else:
        conversation_id = _chat_local(text, conversation, temperature, max_tokens)
    err.print(f"[dim]conversation {conversation_id}[/dim]", highlight=False)


def _chat_local(
    text: str, conversation: str | None, temperature: float | None, max_tokens: int | None
) -> str:
    from alice.app import chat_config, database_config
    from alice.chat import ChatService, TurnDelta, TurnFinished, TurnRequest
    from alice.llm.backends import build_router
    from alice.observability import configure_logging
    from alice.store import Database
    from alice.store import migrate as run_migrations

    settings = _settings()
    # The answer goes to stdout; only warnings and errors go to stderr.
    configure_logging(level="warning", fmt="console")

    async def go() -> str:
        database = Database(database_config(settings))
        router = build_router(settings)
        try:
            await run_migrations(database)
            await router.start()
            service = ChatService(router=router, database=database, config=chat_config(settings))
            request = TurnRequest(
                text=text,
                conversation_id=conversation,
                temperature=temperature,
                max_tokens=max_tokens,
            )
            conversation_id = ""
            async for event in service.stream(request):
                if isinstance(event, TurnDelta):
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                elif isinstance(event, TurnFinished):
                    conversation_id = event.conversation_id
            sys.stdout.write("\n")
            sys.stdout.flush()
            return conversation_id
        finally:
            await router.aclose()
            await database.aclose()

    return _run(go)


@app.command()
def voice(
    recording: Annotated[Path, typer.Argument(help="The user's speech (WAV, FLAC, MP3...).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the spoken answer here (WAV).")
    ] = None,
    conversation: Annotated[
        str | None, typer.Option("--conversation", "-c", help="Continue this conversation.")
    ] = None,
) -> None:
    """Speak to Alice: one voice turn on a recording (Swedish in, English out)."""
    from alice.observability import configure_logging
    from alice.voice.cli import voice_turn

    settings = _settings()
    configure_logging(level="warning", fmt="console")

    def show(label: str, text: str) -> None:
        if label == "answer":
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        else:
            err.print(f"[dim]{label}:[/dim] {text}", highlight=False)

    conversation_id = _run(
        lambda: voice_turn(settings, recording, output, conversation=conversation, show=show)
    )
    if conversation_id:
        err.print(f"[dim]conversation {conversation_id}[/dim]", highlight=False)
    if output is not None:
        err.print(f"[dim]wrote {output}[/dim]", highlight=False)


@app.command()
def say(
    text: Annotated[str, typer.Argument(help="What to say.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The WAV file to write.")],
    language: Annotated[
        str | None,
        typer.Option(help="Language of the text (default: ALICE_VOICE_OUTPUT_LANGUAGE)."),
    ] = None,
) -> None:
    """Speak a text into a WAV file with Alice's voice engines."""
    from alice.observability import configure_logging
    from alice.voice.cli import say as speak

    settings = _settings()
    configure_logging(level="warning", fmt="console")
    seconds = _run(lambda: speak(settings, text, output, language=language))
    err.print(f"[dim]wrote {output} ({seconds:.1f} s)[/dim]", highlight=False)


def _chat_remote(
    url: str,
    text: str,
    conversation: str | None,
    temperature: float | None,
    max_tokens: int | None,
    api_key: str | None,
) -> str:
    body: dict[str, Any] = {"text": text, "stream": True}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if conversation:
        body["conversation_id"] = conversation
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    conversation_id = ""
    event = ""
    try:
        with (
            httpx.Client(
                base_url=url.rstrip("/"), timeout=httpx.Timeout(10, read=300), headers=headers
            ) as client,
            client.stream("POST", "/api/chat", json=body) as response,
        ):
            if response.status_code >= 400:
                response.read()
                error = response.json().get("error", {})
                err.print(
                    f"[red]error ({error.get('code')}):[/red] {error.get('message')}",
                    highlight=False,
                )
                raise typer.Exit(1)
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = orjson.loads(line[5:])
                    if event == "delta":
                        sys.stdout.write(data["text"])
                        sys.stdout.flush()
                    elif event == "start":
                        conversation_id = data["conversation_id"]
                    elif event == "error":
                        sys.stdout.write("\n")
                        err.print(f"[red]error:[/red] {data['error']['message']}")
                        raise typer.Exit(1)
    except httpx.HTTPError as exc:
        err.print(f"[red]error:[/red] cannot reach Alice at {url}: {type(exc).__name__}")
        raise typer.Exit(1) from exc
    sys.stdout.write("\n")
    sys.stdout.flush()
    return conversation_id


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
