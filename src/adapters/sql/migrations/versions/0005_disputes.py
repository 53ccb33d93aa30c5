"""Chargebacks: one row per gateway dispute, open until the card network decides.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Written by hand, for both SQLite and PostgreSQL; never import adapters.sql.tables here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``disputes``."""
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.String(64), nullable=False),
        sa.Column("gateway_ref", sa.String(255), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(100), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_disputes_payment_id_payments"),
        sa.PrimaryKeyConstraint("id", name="pk_disputes"),
    )
    op.create_index("ix_disputes_gateway_ref", "disputes", ["gateway_ref"], unique=True)
    op.create_index("ix_disputes_status_opened_at", "disputes", ["status", "opened_at"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_disputes_status_opened_at", table_name="disputes")
    op.drop_index("ix_disputes_gateway_ref", table_name="disputes")
    op.drop_table("disputes")
