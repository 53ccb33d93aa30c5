"""The per-customer hold count no longer states the "active hold" rule in PL/pgSQL.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

0003's ``checkout_count_active_holds`` spelled out which reservations hold a car, a second copy
of :meth:`Reservation.is_active`. ``checkout_count_under_customer_lock`` keeps what only the
database can do — a transaction-scoped advisory lock on the customer, then a count in a fresh
snapshot (a VOLATILE function's queries each take one), in one statement from the application —
and runs the count query it is given: the repository builds it from the core's constants, with
the customer as ``$1`` and the time as ``$2``. It runs with the caller's rights (SECURITY INVOKER),
so it lets a caller do nothing it could not do with a plain statement.

Written by hand, for both SQLite and PostgreSQL; never import adapters.sql.tables here.
"""

from __future__ import annotations

from alembic import context, op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_FUNCTION = """
CREATE OR REPLACE FUNCTION checkout_count_under_customer_lock(p_customer text, p_now timestamptz, p_count text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    found bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('checkout.customer.' || p_customer, 0));
    EXECUTE p_count INTO found USING p_customer, p_now;
    RETURN found;
END;
$$
"""


def upgrade() -> None:
    """Replace 0003's function (PostgreSQL only; the lock key space stays the same)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)
        op.execute("DROP FUNCTION IF EXISTS checkout_count_active_holds(text, timestamptz)")


def downgrade() -> None:
    """Back to 0003's function."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS checkout_count_under_customer_lock(text, timestamptz, text)")
        context.script.get_revision("0003").module.upgrade()
