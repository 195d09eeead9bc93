"""Encryption at rest: key ids beside sealed columns; titles long enough to seal.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Existing rows keep NULL key ids, which means plaintext; ``alice keys
rotate-encryption`` seals them in batches while Alice serves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    # Plain ADD COLUMNs: on SQLite a batch "recreate" would drop the conversations
    # table, and with foreign keys on that cascades into the messages.
    op.add_column("conversations", sa.Column("title_key", sa.String(16), nullable=True))
    op.add_column("messages", sa.Column("content_key", sa.String(16), nullable=True))
    if not _sqlite():  # SQLite does not enforce VARCHAR lengths
        # A sealed 80-character title is longer than the old 200-character column.
        op.alter_column("conversations", "title", type_=sa.Text(), existing_type=sa.String(200))


def downgrade() -> None:
    if not _sqlite():
        op.alter_column("conversations", "title", type_=sa.String(200), existing_type=sa.Text())
    op.drop_column("messages", "content_key")
    op.drop_column("conversations", "title_key")
