"""Vehicles carry their OMVIC history disclosures (daily rental, accident damage, branding …).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

A JSON list of ``{"kind": …, "detail": …}``; existing cars get an empty list.

Written by hand, for both SQLite and PostgreSQL; never import adapters.sql.tables here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add ``vehicles.disclosures``.

    A plain ``ALTER TABLE … ADD COLUMN`` on both databases (a string default, not a SQL
    expression, and no batch mode): on SQLite a batch would rebuild ``vehicles`` — copy, drop,
    rename — and the drop fails on the foreign keys of reservations and orders."""
    op.add_column("vehicles", sa.Column("disclosures", JSON_DOC, nullable=False, server_default="[]"))


def downgrade() -> None:
    """Drop it (``ALTER TABLE … DROP COLUMN``: SQLite 3.35 or later)."""
    op.drop_column("vehicles", "disclosures")
