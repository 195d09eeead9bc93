"""Dependencies shared by the routes, as ``Annotated`` aliases.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its thread
pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Header, Request

from alice.chat import ChatService
from alice.errors import ForbiddenError, UnauthenticatedError
from alice.llm.router.admission import Priority
from alice.privacy.audit import AuditLog
from alice.privacy.gdpr import Gdpr
from alice.privacy.policy import TenantPolicies
from alice.security.auth import Authenticator
from alice.security.keys import Principal
from alice.settings import Settings
from alice.store.database import Database
from alice.store.tenants import KeyStore

__all__ = [
    "AdminDep",
    "AuditDep",
    "AuthenticatorDep",
    "CallerDep",
    "ChatServiceDep",
    "DatabaseDep",
    "GdprDep",
    "KeyStoreDep",
    "OperatorDep",
    "PoliciesDep",
    "PriorityDep",
    "SettingsDep",
    "TenantDep",
    "actor",
    "operator",
    "require_chat",
]


async def _chat_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.chat
    return service


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _principal(request: Request) -> Principal:
    # Set by SecurityMiddleware for every non-public path; a route reached without one
    # is a public path by mistake, and answers 401 rather than serve the default tenant.
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:
        raise UnauthenticatedError()
    return principal


async def require_chat(request: Request) -> Principal:
    """The caller, who must hold the ``chat`` scope (every key does)."""
    principal = _principal(request)
    if not principal.allows("chat"):
        raise ForbiddenError("This API key has no 'chat' scope.")
    return principal


async def _admin(request: Request) -> Principal:
    principal = _principal(request)
    if not principal.allows("admin"):
        raise ForbiddenError("This needs an API key with the 'admin' scope.")
    return principal


async def operator(request: Request) -> Principal:
    """The caller, who must hold an admin key of the default (operator) tenant."""
    principal = await _admin(request)
    if not principal.is_operator:
        raise ForbiddenError("This needs an admin key of the default (operator) tenant.")
    return principal


async def _tenant(request: Request) -> str:
    return (await require_chat(request)).tenant_id


async def _keys(request: Request) -> KeyStore:
    keys: KeyStore = request.app.state.keys
    return keys


async def _authenticator(request: Request) -> Authenticator | None:
    authenticator: Authenticator | None = request.app.state.authenticator
    return authenticator


async def _policies(request: Request) -> TenantPolicies:
    policies: TenantPolicies = request.app.state.policies
    return policies


async def _audit(request: Request) -> AuditLog:
    audit: AuditLog = request.app.state.audit
    return audit


async def _gdpr(request: Request) -> Gdpr:
    gdpr: Gdpr = request.app.state.gdpr
    return gdpr


def actor(principal: Principal) -> str:
    """Who did it, for the audit log: the key id (``dev`` when auth is off)."""
    return principal.key_id or "dev"


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
AdminDep = Annotated[Principal, Depends(_admin)]
OperatorDep = Annotated[Principal, Depends(operator)]
KeyStoreDep = Annotated[KeyStore, Depends(_keys)]
AuthenticatorDep = Annotated[Authenticator | None, Depends(_authenticator)]
PoliciesDep = Annotated[TenantPolicies, Depends(_policies)]
AuditDep = Annotated[AuditLog, Depends(_audit)]
GdprDep = Annotated[Gdpr, Depends(_gdpr)]
CallerDep = Annotated[Principal, Depends(require_chat)]
