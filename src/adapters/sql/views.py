"""Read models: the queries that join several tables, shared by the repositories that serve them.

In the spirit of cosmicpython's ``views.py``: a use case that needs an aggregate together with
what it points at (the order view's car and advisor, the checkout's reservation and car) or a
report across tables (the payments still owed) reads it with one SELECT built here, instead of one
repository call per table. Statements are built once per shape (:mod:`adapters.sql.statements`);
:func:`joined` turns the prefixed columns of an outer join back into a domain object."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    Subquery,
    Table,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
)

from adapters.sql import mapping, tables
from adapters.sql.statements import for_update
from checkout_core.model.order import OPEN_STATUSES, OrderStatus
from checkout_core.model.payments import PaymentPurpose, PaymentStatus, RefundStatus
from checkout_core.model.reservation import DEPOSIT_KEY_SUFFIX, ReservationStatus
from checkout_core.ports.repositories import StoredEvent

T = TypeVar("T")


def labelled(table: Table | Subquery, prefix: str) -> list[ColumnElement[Any]]:
    """Every column of ``table`` as ``<prefix><column>`` (no joined column starts with one)."""
    return [column.label(prefix + column.name) for column in table.c]


def joined(row: mapping.Row, prefix: str, cl: type[T]) -> T | None:
    """The outer-joined record ``row`` holds as ``<prefix><column>``, or None (its id is NULL)."""
    if row[prefix + "id"] is None:
        return None
    return mapping.from_row({short: row[key] for key, short in _prefixed(prefix, tuple(row))}, cl)


@functools.lru_cache(maxsize=64)
def _prefixed(prefix: str, keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(column, name without ``prefix``) for the columns of ``keys`` that start with it: the same
    few statements' rows, so worked out once each (scanning every column of a 90-column join on
    every row cost ~15 µs a record)."""
    return tuple((key, key.removeprefix(prefix)) for key in keys if key.startswith(prefix))


#: The column of :func:`orders_with_parties` that holds the order's events (the order view).
EVENTS = "events__"


def _events_of_order(dialect_name: str) -> ColumnElement[Any]:
    """The order's outbox events as one JSON array (a correlated subquery: the timeline comes
    with the order in the same statement), each element an event row with its ``seq``."""
    e, o = tables.outbox, tables.orders
    # The keys are our column names, as SQL literals (a bound key has no type PostgreSQL can infer).
    keys: dict[str, ColumnElement[Any]] = {c.name: literal_column(f"'{c.name}'") for c in e.c}
    if dialect_name == "postgresql":
        element = func.json_build_object(*(x for c in e.c for x in (keys[c.name], c)))
        events = select(func.json_agg(element)).where(e.c.aggregate_id == o.c.id)
    else:
        # SQLite: the payload is JSON text (json() embeds it as JSON, not as a string).
        parts = [x for c in e.c for x in (keys[c.name], func.json(c) if c.name == "payload" else c)]
        events = select(func.json_group_array(func.json_object(*parts))).where(e.c.aggregate_id == o.c.id)
    return type_coerce(events.scalar_subquery(), JSON).label(EVENTS)


def _utc(value: object) -> datetime | None:
    """A timestamp of an event element: PostgreSQL's JSON gives ISO 8601 with an offset, SQLite
    the naive UTC text SQLAlchemy stored."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise mapping.CorruptRecord(f"outbox timestamp: expected text, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def stored_events(value: object) -> tuple[StoredEvent, ...]:
    """The events of :data:`EVENTS`, in the order they happened (``seq``; none: NULL or ``[]``)."""
    if not value:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise mapping.CorruptRecord("outbox events: expected an array of objects")
    rows = sorted(value, key=lambda item: int(item["seq"]))
    times = ("occurred_at", "published_at")
    return tuple(mapping.from_row({**row, **{k: _utc(row.get(k)) for k in times}}, StoredEvent) for row in rows)


@functools.cache
def orders_with_parties(dialect_name: str, claim: bool) -> Select[Any]:
    """Orders with their car and advisor: one by ``:id`` with its events as :data:`EVENTS`
    (the order view), or (``claim``) those awaiting an agreement, oldest first, ``FOR UPDATE OF
    orders SKIP LOCKED`` (the agreement worker)."""
    o, v, a = tables.orders, tables.vehicles, tables.advisors
    joins = o.outerjoin(v, v.c.id == o.c.vehicle_id).outerjoin(a, a.c.id == o.c.advisor_id)
    statement = select(o, *labelled(v, "vehicle__"), *labelled(a, "advisor__"))
    if not claim:
        return statement.add_columns(_events_of_order(dialect_name)).select_from(joins).where(o.c.id == bindparam("id"))
    statement = statement.select_from(joins)
    statement = statement.where(o.c.awaits_agreement, o.c.id.not_in(bindparam("skip", expanding=True)))
    statement = statement.order_by(o.c.created_at, o.c.id).limit(bindparam("limit"))
    return for_update(statement, dialect_name, skip_locked=True, of=o)


@functools.cache
def reservation_for_checkout(dialect_name: str) -> Select[Any]:
    """The reservation ``:id`` (``FOR UPDATE OF reservations``) outer-joined with its car, its
    deposit (by its idempotency key: the unique index), the trade-in offer ``:trade_in_id``, the
    financing application ``:financing_id`` (NULL matches none) and the least-loaded advisor:
    active ones ordered by a correlated count of their open orders (an index range of
    ``ix_orders_advisor_id_status`` each), then id."""
    r, v, t, f = tables.reservations, tables.vehicles, tables.trade_in_offers, tables.financing_applications
    a, o, p = tables.advisors, tables.orders, tables.payments
    load = select(func.count()).select_from(o).where(o.c.advisor_id == a.c.id, o.c.status.in_(_open_statuses()))
    least = select(a).where(a.c.active == true()).order_by(load.scalar_subquery(), a.c.id).limit(1).subquery()
    joins = r.outerjoin(v, v.c.id == r.c.vehicle_id).outerjoin(least, true())
    joins = joins.outerjoin(p, p.c.idempotency_key == r.c.id + DEPOSIT_KEY_SUFFIX)
    joins = joins.outerjoin(t, t.c.id == bindparam("trade_in_id", type_=t.c.id.type))
    joins = joins.outerjoin(f, f.c.id == bindparam("financing_id", type_=f.c.id.type))
    parts = [
        *labelled(v, "vehicle__"),
        *labelled(p, "deposit__"),
        *labelled(t, "trade_in__"),
        *labelled(f, "financing__"),
    ]
    statement = select(r, *parts, *labelled(least, "advisor__")).select_from(joins)
    return for_update(statement.where(r.c.id == bindparam("id")), dialect_name, of=r)


def _open_statuses() -> list[ColumnElement[Any]]:
    """The open order statuses as SQL literals (our enum's values): a list of values would be an
    "expanding" parameter, whose SQL is rendered anew on every call (and read the SQLAlchemy
    way, not :mod:`adapters.sql.direct`'s)."""
    return [literal_column(f"'{status}'") for status in sorted(s.value for s in OPEN_STATUSES)]


def owed_payments(
    reservation_statuses: Sequence[ReservationStatus],
    order_statuses: Sequence[OrderStatus],
    purposes: Sequence[PaymentPurpose],
) -> list[ColumnElement[bool]]:
    """The conditions on ``payments`` of :meth:`PaymentLedger.owed_payments`, over each payment's
    order, reservation and refunds (the statuses that mean "gone" are the core's)."""
    p, o, r, f = tables.payments.c, tables.orders.c, tables.reservations.c, tables.refunds.c
    owner_gone = or_(
        p.purpose.in_([x.value for x in purposes]),
        p.order_id.in_(select(o.id).where(o.status.in_([x.value for x in order_statuses]))),
        and_(
            p.order_id.is_(None),
            p.reservation_id.in_(select(r.id).where(r.status.in_([x.value for x in reservation_statuses]))),
        ),
    )
    no_failed_refund = ~p.id.in_(select(f.payment_id).where(f.status == RefundStatus.FAILED.value))
    return [p.status == PaymentStatus.SUCCEEDED.value, p.amount_cents > p.refunded_cents, owner_gone, no_failed_refund]
