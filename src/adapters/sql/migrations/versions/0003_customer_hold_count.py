"""A PostgreSQL function that counts a customer's active holds under a per-customer lock.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

The cap on active reservations per customer is checked by counting them before claiming a car.
Under READ COMMITTED two reservations of one customer (for two different cars) could both count
before either committed and both pass. ``checkout_count_active_holds`` first takes a
transaction-scoped advisory lock on the customer, then counts in a fresh snapshot (a VOLATILE
function's queries each take one), so the second reservation waits for the first to commit and
counts it. One statement from the application, as the unlocked count was. SQLite needs nothing:
its transactions begin with the database's write lock (BEGIN IMMEDIATE).

Written by hand, for both SQLite and PostgreSQL; never import adapters.sql.tables here.
"""

from __future__ import annotations

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# The same rule as SqlReservations.count_active_for_customer on SQLite: pending deposits, plus
# confirmed holds not yet overdue at p_now. The lock key space is shared with nothing else.
_FUNCTION = """
CREATE OR REPLACE FUNCTION checkout_count_active_holds(p_customer text, p_now timestamptz)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('checkout.customer.' || p_customer, 0));
    RETURN (
        SELECT count(*) FROM reservations
        WHERE customer_id = p_customer
          AND (status = 'pending_deposit'
               OR (status = 'confirmed' AND (expires_at IS NULL OR expires_at > p_now)))
    );
END;
$$
"""


def upgrade() -> None:
    """Create the function (PostgreSQL only)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)


def downgrade() -> None:
    """Drop it."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS checkout_count_active_holds(text, timestamptz)")
