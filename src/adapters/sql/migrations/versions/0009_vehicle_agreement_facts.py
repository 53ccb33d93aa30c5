"""Vehicles carry what the agreement states about them: stock number, safety certificate, warranty.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

``stock_number`` (the dealer's, printed instead of our id), ``safety_certificate`` (the Safety
Standards Certificate number; empty: the car is sold "as is") and ``warranty`` (a JSON
``{"kind": "none" | "manufacturer" | "extended", "detail": …}``). Existing cars get an empty
stock number, no certificate and no warranty — what the agreement then says, until the dealer
states otherwise. The disclosure checklist needs no column: its answers come from the existing
``disclosures`` list (whose new kinds are plain strings in it).

Written by hand, for both SQLite and PostgreSQL; never import adapters.sql.tables here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WARRANTY_NONE = '{"kind": "none", "detail": ""}'


def upgrade() -> None:
    """Add the three columns (plain ``ADD COLUMN`` with string defaults, no batch mode: see 0004)."""
    op.add_column("vehicles", sa.Column("stock_number", sa.String(40), nullable=False, server_default=""))
    op.add_column("vehicles", sa.Column("safety_certificate", sa.String(60), nullable=False, server_default=""))
    op.add_column("vehicles", sa.Column("warranty", JSON_DOC, nullable=False, server_default=WARRANTY_NONE))


def downgrade() -> None:
    """Drop them."""
    op.drop_column("vehicles", "warranty")
    op.drop_column("vehicles", "safety_certificate")
    op.drop_column("vehicles", "stock_number")
