"""Persistence: SQLAlchemy models, tenant-scoped repository, migrations."""

from alice.store.database import Database, DatabaseConfig
from alice.store.migrate import migrate
from alice.store.repository import ConversationRepository

__all__ = ["ConversationRepository", "Database", "DatabaseConfig", "migrate"]
