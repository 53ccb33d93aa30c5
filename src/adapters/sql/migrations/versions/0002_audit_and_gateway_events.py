"""The signing audit trail and the record of handled gateway (webhook) events.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-24

Written by hand, for both SQLite and PostgreSQL; never import adapters.sql.tables here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "signing_audit",
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("envelope_id", sa.String(255), nullable=False),
        sa.Column("signer_name", sa.String(200), nullable=False),
        sa.Column("signer_email", sa.String(254), nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=False),
        sa.Column("document_sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_signing_audit_order_id_orders"),
        sa.PrimaryKeyConstraint("order_id", "sequence", name="pk_signing_audit"),
    )
    op.create_table(
        "processed_gateway_events",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("claimed_at", TS, nullable=False),
        sa.Column("outcome", sa.String(64), nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_processed_gateway_events"),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("processed_gateway_events")
    op.drop_table("signing_audit")
