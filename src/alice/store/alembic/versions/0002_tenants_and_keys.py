"""Tenants and API keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Every tenant that already owns conversations (before keys, only ``default``) gets a
``tenants`` row, so existing data keeps its owner.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from alice.store.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(64),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("rate_requests", sa.Integer(), nullable=True),
        sa.Column("rate_burst", sa.Integer(), nullable=True),
        sa.Column("rate_window_s", sa.Float(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant_id"])
    op.create_table(
        "alice_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO tenants (id, created_at) "
        "SELECT DISTINCT tenant_id, CURRENT_TIMESTAMP FROM conversations"
    )
    op.execute(
        "INSERT INTO tenants (id, created_at) SELECT 'default', CURRENT_TIMESTAMP "
        "WHERE NOT EXISTS (SELECT 1 FROM tenants WHERE id = 'default')"
    )


def downgrade() -> None:
    op.drop_table("alice_meta")
    op.drop_index("ix_api_keys_tenant", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
