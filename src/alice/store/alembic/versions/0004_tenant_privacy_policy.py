"""Per-tenant privacy policy: PII masking on/off, retention in days.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

NULL means "the server's default" (``ALICE_PII_MASKING``, ``ALICE_RETENTION_DAYS``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("pii_masking", sa.Boolean(), nullable=True))
    op.add_column("tenants", sa.Column("retention_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("tenants", "retention_days")
    op.drop_column("tenants", "pii_masking")
