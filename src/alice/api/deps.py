"""Dependencies shared by the routes, as ``Annotated`` aliases.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its thread
pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Header, Request

from alice.chat import ChatService
from alice.llm.router.admission import Priority
from alice.settings import Settings
from alice.store.database import Database

__all__ = ["ChatServiceDep", "DatabaseDep", "PriorityDep", "SettingsDep", "TenantDep"]


async def _chat_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.chat
    return service


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _tenant(_request: Request) -> str:
    # Every caller is the default tenant until API keys map callers to tenants.
    return "default"


async def _priority(
    priority: Annotated[
        Literal["interactive", "background"],
        Header(alias="X-Alice-Priority", description="background work is shed first"),
    ] = "interactive",
) -> int:
    return Priority.BACKGROUND if priority == "background" else Priority.INTERACTIVE


ChatServiceDep = Annotated[ChatService, Depends(_chat_service)]
PriorityDep = Annotated[int, Depends(_priority)]
SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
TenantDep = Annotated[str, Depends(_tenant)]
