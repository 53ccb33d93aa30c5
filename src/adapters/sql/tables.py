"""The schema as SQLAlchemy Core tables (the migrations in ``migrations/versions`` create it).

Conventions: money is BIGINT cents plus one ``currency`` column per row; times are stored
timezone-aware (``timestamptz`` on PostgreSQL, fixed-width UTC text on SQLite, see
:class:`UtcDateTime`); nested value objects are JSON documents written and read by
:mod:`adapters.sql.mapping`. A test compares this metadata with the migrated database, so the
two cannot drift apart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from checkout_core.model.order import OPEN_STATUSES
from checkout_core.model.reservation import ACTIVE_STATUSES


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime that always comes back as aware UTC.

    Naive datetimes are refused on the way in (a naive time is a bug: whose local time?).
    SQLite has no time zone type, so values are normalised to UTC before SQLAlchemy writes its
    fixed-width text form; that keeps text comparison in SQL equal to time comparison."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware → UTC (naive UTC for SQLite's text storage)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store a naive datetime: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Whatever the driver returns → aware UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON documents: JSONB on PostgreSQL (compact, indexable), JSON text elsewhere.
Document = JSON().with_variant(JSONB(), "postgresql")

#: 64-bit integer primary keys that autoincrement on both backends (SQLite only makes a
#: column an alias of its rowid when it is declared exactly INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer(), "sqlite")

Money = BigInteger

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


def _in_list(column: str, values: frozenset[Any]) -> str:
    """``column IN ('a', 'b')`` from enum constants, for index predicates.

    Index predicates must be literal SQL (PostgreSQL can only match an ``ON CONFLICT`` target
    to a partial index whose predicate it can prove, which bound parameters defeat). The values
    are the core's own enum constants, never input."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in sorted(values))})"


#: The predicate of the one-active-reservation-per-car index (also the ON CONFLICT target).
ACTIVE_RESERVATION = text(_in_list("status", ACTIVE_STATUSES))
#: Orders that are still being worked on (advisor load).
OPEN_ORDER = text(_in_list("status", OPEN_STATUSES))

#: A car's warranty when nothing was stated: none.
WARRANTY_NONE = '{"kind": "none", "detail": ""}'

vehicles = Table(
    "vehicles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("vin", String(17), nullable=False),
    Column("year", Integer, nullable=False),
    Column("make", String(100), nullable=False),
    Column("model", String(100), nullable=False),
    Column("trim", String(100), nullable=False),
    Column("colour", String(100), nullable=False),
    Column("body_type", String(100), nullable=False),
    Column("odometer_km", Integer, nullable=False),
    Column("price_cents", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    # OMVIC history disclosures: [{"kind": "...", "detail": "..."}] (migration 0004).
    Column("disclosures", Document, nullable=False, server_default="[]"),
    # What the agreement states about the car (migration 0009): the dealer's stock number, the
    # Safety Standards Certificate ('' = sold as is) and the warranty {"kind": …, "detail": …}.
    Column("stock_number", String(40), nullable=False, server_default=""),
    Column("safety_certificate", String(60), nullable=False, server_default=""),
    Column("warranty", Document, nullable=False, server_default=WARRANTY_NONE),
    Index(None, "status", "id"),
)

customers = Table(
    "customers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("contact", Document, nullable=False),
)

advisors = Table(
    "advisors",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("phone", String(40), nullable=False),
    Column("active", Boolean, nullable=False),
)

trade_in_offers = Table(
    "trade_in_offers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("credit_cents", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("description", Text, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Index(None, "customer_id"),
)

financing_applications = Table(
    "financing_applications",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    # A Decimal as its exact text ("5.217"): no float, no NUMERIC scale to pad or round it.
    Column("apr_percent", String(40), nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("lender", String(200), nullable=False),
    Column("max_amount_cents", Money, nullable=True),
    Column("currency", String(3), nullable=False),
    Index(None, "customer_id"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("vehicle_id", String(64), ForeignKey("vehicles.id"), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("deposit_cents", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("hold_hours", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("charge_id", String(255), nullable=True),
    Column("order_id", String(64), nullable=True),
    Column("updated_at", UtcDateTime, nullable=True),
    # At most one pending or confirmed reservation per car: the database's half of the
    # atomic claim (the other half is the conditional UPDATE of vehicles.status).
    Index(
        "uq_reservations_active_vehicle",
        "vehicle_id",
        unique=True,
        sqlite_where=ACTIVE_RESERVATION,
        postgresql_where=ACTIVE_RESERVATION,
    ),
    Index(None, "vehicle_id"),
    Index(None, "customer_id", "status"),
    Index(None, "customer_id", "created_at"),
    Index(None, "status", "created_at"),
    # id too: the sweep claims ORDER BY expires_at, id LIMIT n, which this index serves in order
    # (without it PostgreSQL sorted every due hold on every claim: quadratic over a backlog).
    Index(None, "status", "expires_at", "id"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("number", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("vehicle_id", String(64), ForeignKey("vehicles.id"), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("reservation_id", String(64), ForeignKey("reservations.id"), nullable=False),
    Column("advisor_id", String(64), ForeignKey("advisors.id"), nullable=False),
    Column("contact", Document, nullable=False),
    Column("pricing", Document, nullable=False),
    Column("payment_plan", Document, nullable=False),
    Column("trade_in", Document, nullable=True),
    Column("delivery", Document, nullable=False),
    Column("documents", Document, nullable=False),
    Column("insurance", Document, nullable=True),
    Column("envelope", Document, nullable=True),
    Column("paid_cents", Money, nullable=False),
    Column("refunded_cents", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("completed_at", UtcDateTime, nullable=True),
    Column("closed_reason", String(200), nullable=True),
    Column("version", Integer, nullable=False),
    # Derived from status and documents on every write (Order.awaits_agreement), so that the
    # document workers find the agreements still to render through a small partial index
    # instead of reading JSON (migration 0006).
    Column("awaits_agreement", Boolean, nullable=False, server_default=false()),
    Index(None, "number", unique=True),
    # One order per reservation: two concurrent checkouts of one hold cannot both succeed.
    Index(None, "reservation_id", unique=True),
    Index(None, "customer_id", "created_at"),
    Index(None, "advisor_id", "status"),
    Index(None, "status", "delivered_at"),
    Index(None, "vehicle_id"),
    Index(None, "created_at"),
    Index(
        "ix_orders_awaiting_agreement",
        "created_at",
        sqlite_where=text("awaits_agreement"),
        postgresql_where=text("awaits_agreement"),
    ),
)

order_numbers = Table(
    "order_numbers",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last_value", BigInteger, nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("method", String(32), nullable=False),
    Column("amount_cents", Money, nullable=False),
    Column("refunded_cents", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    Column("reservation_id", String(64), ForeignKey("reservations.id"), nullable=True),
    # Deferred: placing an order links the deposit to the order before the order row exists.
    Column(
        "order_id",
        String(64),
        ForeignKey("orders.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
    Column("gateway_ref", String(255), nullable=True),
    Column("failure_code", String(100), nullable=True),
    Column("card_brand", String(32), nullable=True),
    Column("card_last4", String(4), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "idempotency_key", unique=True),
    Index(None, "order_id", "created_at"),
    Index(None, "reservation_id", "created_at"),
    Index(None, "gateway_ref"),
    Index(None, "status", "created_at"),
    Index(None, "created_at"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("payment_id", String(64), ForeignKey("payments.id"), nullable=False),
    Column("amount_cents", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("gateway_ref", String(255), nullable=True),
    Column("failure_code", String(100), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "idempotency_key", unique=True),
    Index(None, "payment_id", "created_at"),
    Index(None, "gateway_ref"),
    Index(None, "status", "created_at"),
    Index(None, "created_at"),
)

disputes = Table(
    "disputes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("payment_id", String(64), ForeignKey("payments.id"), nullable=False),
    Column("gateway_ref", String(255), nullable=False),
    Column("amount_cents", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(100), nullable=False),
    Column("status", String(32), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    Index(None, "gateway_ref", unique=True),
    Index(None, "status", "opened_at"),
)

outbox = Table(
    "outbox",
    metadata,
    # Insertion order: events of one commit get increasing values in the order they happened.
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("payload", Document, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
    Index(None, "id", unique=True),
    Index(None, "aggregate_id", "seq"),
    # Only the (few) unpublished events are indexed for the relay.
    Index(
        "ix_outbox_unpublished",
        "seq",
        sqlite_where=text("published_at IS NULL"),
        postgresql_where=text("published_at IS NULL"),
    ),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("body", LargeBinary, nullable=False),
    Column("content_type", String(200), nullable=False),
)

signing_audit = Table(
    "signing_audit",
    metadata,
    Column("order_id", String(64), ForeignKey("orders.id"), primary_key=True),
    Column("sequence", Integer, primary_key=True, autoincrement=False),
    Column("action", String(32), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("envelope_id", String(255), nullable=False),
    Column("signer_name", String(200), nullable=False),
    Column("signer_email", String(254), nullable=False),
    Column("ip_address", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Column("document_sha256", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
)

processed_gateway_events = Table(
    "processed_gateway_events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("outcome", String(64), nullable=True),
    Column("completed_at", UtcDateTime, nullable=True),
)
