"""``alice``: the command line (serve, chat, migrate, models).

Every command validates settings first; a wrong value ends the command with one line
on stderr naming the setting and what it accepts, and exit code 2.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from alice.errors import AliceError, ConfigurationError
from alice.settings import Settings, load_settings

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
    )
    err.print(f"Alice on http://{settings.host}:{settings.port}  (Ctrl+C stops)", highlight=False)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
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
) -> None:
    """Send a message and stream the answer into the terminal."""
    if url is not None:
        conversation_id = _chat_remote(url, text, conversation, temperature, max_tokens)
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


def _chat_remote(
    url: str,
    text: str,
    conversation: str | None,
    temperature: float | None,
    max_tokens: int | None,
) -> str:
    body: dict[str, Any] = {"text": text, "stream": True}
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
            httpx.Client(base_url=url.rstrip("/"), timeout=httpx.Timeout(10, read=300)) as client,
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
