"""Initial schema: catalogue, reservations, orders, ledger, reference records, outbox,
order-number counters and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2025-12-23

Written by hand, for both SQLite and PostgreSQL; never import adapters.sql.tables here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copies of the column types of this revision.
TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
MONEY = sa.BigInteger()
ID = sa.String(64)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ACTIVE_RESERVATION = sa.text("status IN ('confirmed', 'pending_deposit')")
UNPUBLISHED = sa.text("published_at IS NULL")


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "vehicles",
        sa.Column("id", ID, nullable=False),
        sa.Column("vin", sa.String(17), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("make", sa.String(100), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("trim", sa.String(100), nullable=False),
        sa.Column("colour", sa.String(100), nullable=False),
        sa.Column("body_type", sa.String(100), nullable=False),
        sa.Column("odometer_km", sa.Integer(), nullable=False),
        sa.Column("price_cents", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vehicles"),
    )
    op.create_index("ix_vehicles_status_id", "vehicles", ["status", "id"])

    op.create_table(
        "customers",
        sa.Column("id", ID, nullable=False),
        sa.Column("contact", JSON_DOC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
    )

    op.create_table(
        "advisors",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("phone", sa.String(40), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_advisors"),
    )

    op.create_table(
        "trade_in_offers",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("credit_cents", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trade_in_offers"),
    )
    op.create_index("ix_trade_in_offers_customer_id", "trade_in_offers", ["customer_id"])

    op.create_table(
        "financing_applications",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("apr_percent", sa.String(40), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("lender", sa.String(200), nullable=False),
        sa.Column("max_amount_cents", MONEY, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_financing_applications"),
    )
    op.create_index("ix_financing_applications_customer_id", "financing_applications", ["customer_id"])

    op.create_table(
        "reservations",
        sa.Column("id", ID, nullable=False),
        sa.Column("vehicle_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("deposit_cents", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("hold_hours", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("charge_id", sa.String(255), nullable=True),
        sa.Column("order_id", ID, nullable=True),
        sa.Column("updated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reservations"),
        sa.ForeignKeyConstraint(["vehicle_id"], ["vehicles.id"], name="fk_reservations_vehicle_id_vehicles"),
    )
    # One active (pending or confirmed) reservation per car.
    op.create_index(
        "uq_reservations_active_vehicle",
        "reservations",
        ["vehicle_id"],
        unique=True,
        sqlite_where=ACTIVE_RESERVATION,
        postgresql_where=ACTIVE_RESERVATION,
    )
    op.create_index("ix_reservations_vehicle_id", "reservations", ["vehicle_id"])
    op.create_index("ix_reservations_customer_id_status", "reservations", ["customer_id", "status"])
    op.create_index("ix_reservations_customer_id_created_at", "reservations", ["customer_id", "created_at"])
    op.create_index("ix_reservations_status_created_at", "reservations", ["status", "created_at"])
    op.create_index("ix_reservations_status_expires_at", "reservations", ["status", "expires_at"])

    op.create_table(
        "orders",
        sa.Column("id", ID, nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("vehicle_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("reservation_id", ID, nullable=False),
        sa.Column("advisor_id", ID, nullable=False),
        sa.Column("contact", JSON_DOC, nullable=False),
        sa.Column("pricing", JSON_DOC, nullable=False),
        sa.Column("payment_plan", JSON_DOC, nullable=False),
        sa.Column("trade_in", JSON_DOC, nullable=True),
        sa.Column("delivery", JSON_DOC, nullable=False),
        sa.Column("documents", JSON_DOC, nullable=False),
        sa.Column("insurance", JSON_DOC, nullable=True),
        sa.Column("envelope", JSON_DOC, nullable=True),
        sa.Column("paid_cents", MONEY, nullable=False),
        sa.Column("refunded_cents", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("closed_reason", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.ForeignKeyConstraint(["vehicle_id"], ["vehicles.id"], name="fk_orders_vehicle_id_vehicles"),
        sa.ForeignKeyConstraint(["reservation_id"], ["reservations.id"], name="fk_orders_reservation_id_reservations"),
        sa.ForeignKeyConstraint(["advisor_id"], ["advisors.id"], name="fk_orders_advisor_id_advisors"),
    )
    op.create_index("ix_orders_number", "orders", ["number"], unique=True)
    op.create_index("ix_orders_reservation_id", "orders", ["reservation_id"], unique=True)
    op.create_index("ix_orders_customer_id_created_at", "orders", ["customer_id", "created_at"])
    op.create_index("ix_orders_advisor_id_status", "orders", ["advisor_id", "status"])
    op.create_index("ix_orders_status_delivered_at", "orders", ["status", "delivered_at"])
    op.create_index("ix_orders_vehicle_id", "orders", ["vehicle_id"])
    op.create_index("ix_orders_created_at", "orders", ["created_at"])

    op.create_table(
        "order_numbers",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("year", name="pk_order_numbers"),
    )

    op.create_table(
        "payments",
        sa.Column("id", ID, nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("amount_cents", MONEY, nullable=False),
        sa.Column("refunded_cents", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("reservation_id", ID, nullable=True),
        sa.Column("order_id", ID, nullable=True),
        sa.Column("gateway_ref", sa.String(255), nullable=True),
        sa.Column("failure_code", sa.String(100), nullable=True),
        sa.Column("card_brand", sa.String(32), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.ForeignKeyConstraint(
            ["reservation_id"], ["reservations.id"], name="fk_payments_reservation_id_reservations"
        ),
        # Deferred to commit: placing an order links the deposit before inserting the order.
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name="fk_payments_order_id_orders",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    op.create_index("ix_payments_idempotency_key", "payments", ["idempotency_key"], unique=True)
    op.create_index("ix_payments_order_id_created_at", "payments", ["order_id", "created_at"])
    op.create_index("ix_payments_reservation_id_created_at", "payments", ["reservation_id", "created_at"])
    op.create_index("ix_payments_gateway_ref", "payments", ["gateway_ref"])
    op.create_index("ix_payments_status_created_at", "payments", ["status", "created_at"])
    op.create_index("ix_payments_created_at", "payments", ["created_at"])

    op.create_table(
        "refunds",
        sa.Column("id", ID, nullable=False),
        sa.Column("payment_id", ID, nullable=False),
        sa.Column("amount_cents", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("gateway_ref", sa.String(255), nullable=True),
        sa.Column("failure_code", sa.String(100), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_refunds_payment_id_payments"),
    )
    op.create_index("ix_refunds_idempotency_key", "refunds", ["idempotency_key"], unique=True)
    op.create_index("ix_refunds_payment_id_created_at", "refunds", ["payment_id", "created_at"])
    op.create_index("ix_refunds_gateway_ref", "refunds", ["gateway_ref"])
    op.create_index("ix_refunds_status_created_at", "refunds", ["status", "created_at"])
    op.create_index("ix_refunds_created_at", "refunds", ["created_at"])

    op.create_table(
        "outbox",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("aggregate_id", ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox"),
    )
    op.create_index("ix_outbox_id", "outbox", ["id"], unique=True)
    op.create_index("ix_outbox_aggregate_id_seq", "outbox", ["aggregate_id", "seq"])
    op.create_index("ix_outbox_unpublished", "outbox", ["seq"], sqlite_where=UNPUBLISHED, postgresql_where=UNPUBLISHED)

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    )


def downgrade() -> None:
    """Drop everything (children before parents)."""
    for table in (
        "idempotency_keys",
        "outbox",
        "refunds",
        "payments",
        "order_numbers",
        "orders",
        "reservations",
        "financing_applications",
        "trade_in_offers",
        "advisors",
        "customers",
        "vehicles",
    ):
        op.drop_table(table)
