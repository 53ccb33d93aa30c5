"""Orders whose purchase agreement a document worker still has to render.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

Written by hand, for both SQLite and PostgreSQL; never import adapters.sql.tables here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``orders.awaits_agreement`` and the partial index the document workers claim by.

    A plain ``ALTER TABLE … ADD COLUMN`` with a constant default on both databases (no batch
    mode: on SQLite a batch would rebuild ``orders``, and the drop fails on the foreign keys
    that point at it). Existing orders were all placed with their agreement, so false is right."""
    op.add_column("orders", sa.Column("awaits_agreement", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index(
        "ix_orders_awaiting_agreement",
        "orders",
        ["created_at"],
        sqlite_where=sa.text("awaits_agreement"),
        postgresql_where=sa.text("awaits_agreement"),
    )


def downgrade() -> None:
    """Drop them (``ALTER TABLE … DROP COLUMN``: SQLite 3.35 or later)."""
    op.drop_index("ix_orders_awaiting_agreement", table_name="orders")
    op.drop_column("orders", "awaits_agreement")
