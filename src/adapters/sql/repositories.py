"""SQL repositories: one per port in :mod:`checkout_core.ports.repositories`.

They run inside the transaction of their :class:`~adapters.sql.unit_of_work.SqlUnitOfWork`
and never commit. Each method is one SQL statement (the outbox batches its inserts into one
per commit), so a use case's statement count is the number of repository calls it makes.

Concurrency rules (see ``docs/persistence.md``):

* the car is claimed with a conditional UPDATE (``status = 'available'``), and a unique partial
  index allows one active reservation per car; a second one is refused by
  ``INSERT … ON CONFLICT DO NOTHING`` and reported as VehicleUnavailable;
* batch claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that concurrent sweeps split the
  work; on SQLite the whole transaction already holds the write lock (``BEGIN IMMEDIATE``);
* orders carry a version checked by every UPDATE (lost updates become Conflict);
* a reservation is saved only if its status is still the one this unit of work loaded, and a
  payment only if its status and refunded amount are (two refunds cannot both reserve money).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Insert,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import exc as sa_exc

from adapters.sql import mapping, tables
from adapters.sql import statements as sql
from adapters.sql.session import SqlSession
from adapters.sql.statements import dialect_insert
from checkout_core.errors import Conflict, VehicleUnavailable
from checkout_core.model.audit import AuditAction, AuditEntry
from checkout_core.model.order import FIRST_ORDER_NUMBER, OPEN_STATUSES, Order, OrderStatus
from checkout_core.model.parties import Advisor, Customer, FinancingApplication, TradeInOffer
from checkout_core.model.payments import (
    Dispute,
    DisputeStatus,
    Payment,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from checkout_core.model.reservation import ACTIVE_STATUSES, DEPOSIT_KEY_SUFFIX, Reservation, ReservationStatus
from checkout_core.model.vehicle import Vehicle, VehicleStatus
from checkout_core.ports.repositories import StoredEvent

#: PostgreSQL SQLSTATEs that mean "a concurrent transaction got in the way; retry":
#: serialization_failure, deadlock_detected, lock_not_available.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def _is_retryable(error: sa_exc.DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    # SQLite: the busy timeout ran out (only under extreme write load; BEGIN IMMEDIATE queues).
    return isinstance(error, sa_exc.OperationalError) and "database is locked" in str(error.orig)


def is_unique_violation(error: sa_exc.IntegrityError) -> bool:
    """A UNIQUE / primary-key violation (as opposed to a foreign-key or NOT NULL one, which is
    a bug in the caller and must not be dressed up as a business conflict)."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(error.orig)


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Turn "another transaction is in the way" database errors into the core's Conflict
    (a retryable 409) instead of leaking driver exceptions (a 500)."""
    try:
        yield
    except sa_exc.DBAPIError as error:
        if _is_retryable(error):
            raise Conflict("the database is busy with a concurrent change; please retry") from error
        raise


class _Repo:
    """Shared plumbing: the unit of work's connection and statement helpers."""

    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    @property
    def _dialect(self) -> str:
        return self._uow.dialect_name

    def _run(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        return self._uow.execute(statement, params)

    def _rows(self, statement: Executable, params: Any = None) -> Sequence[mapping.Row]:
        return self._run(statement, params).mappings().all()

    def _row(self, statement: Executable, params: Any = None) -> mapping.Row | None:
        return self._run(statement, params).mappings().first()

    def _by(self, table: Table, *, lock: bool = False, **where: Any) -> mapping.Row | None:
        """The row whose columns equal ``where`` (a prebuilt statement, see :mod:`statements`)."""
        return self._row(sql.select_where(self._dialect, table, tuple(where), lock=lock), sql.where_params(**where))

    def _write(self, table: Table, row: dict[str, Any], **where: Any) -> int:
        """UPDATE ``row`` where each ``where`` column equals its value; the row count."""
        statement, params = sql.update_row(table, row, where)
        return int(self._run(statement, params).rowcount)

    def _locked(self, statement: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
        # FOR UPDATE only means something on PostgreSQL; SQLite's compiler drops it anyway,
        # and there the transaction already holds the database's write lock.
        if self._dialect == "postgresql":
            return statement.with_for_update(skip_locked=skip_locked)
        return statement

    def _upsert(self, table: Table, row: dict[str, Any]) -> None:
        key = [c.name for c in table.primary_key.columns]
        statement = dialect_insert(self._dialect, table).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=key, set_={name: statement.excluded[name] for name in row if name not in key}
        )
        self._run(statement)


def _without(row: dict[str, Any], *exclude: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in exclude}


# -- prebuilt statements of the hot paths (see adapters.sql.statements) -------------------------


@functools.cache
def _insert_active_hold(dialect_name: str) -> Insert:
    """INSERT a pending/confirmed reservation unless the car already has one (partial index)."""
    t = tables.reservations
    return sql.dialect_insert(dialect_name, t).on_conflict_do_nothing(
        index_elements=[t.c.vehicle_id], index_where=tables.ACTIVE_RESERVATION
    )


@functools.cache
def _active_for_vehicle(dialect_name: str) -> Select[Any]:
    t = tables.reservations
    statement = select(t).where(t.c.vehicle_id == bindparam("vehicle_id"), tables.ACTIVE_RESERVATION)
    return statement.with_for_update() if dialect_name == "postgresql" else statement


def _count_active_for_customer() -> Select[Any]:
    c = tables.reservations.c
    return (
        select(func.count())
        .select_from(tables.reservations)
        .where(
            c.customer_id == bindparam("customer_id"),
            or_(
                c.status == ReservationStatus.PENDING_DEPOSIT.value,
                and_(
                    c.status == ReservationStatus.CONFIRMED.value,
                    or_(c.expires_at.is_(None), c.expires_at > bindparam("now", type_=c.expires_at.type)),
                ),
            ),
        )
    )


_COUNT_ACTIVE_FOR_CUSTOMER = _count_active_for_customer()

#: PostgreSQL: the same count under a per-customer advisory lock (migration 0003 explains why).
_COUNT_ACTIVE_FOR_CUSTOMER_LOCKED = select(
    func.checkout_count_active_holds(
        bindparam("customer_id", type_=tables.reservations.c.customer_id.type),
        bindparam("now", type_=tables.reservations.c.expires_at.type),
    )
)


#: Label prefix of the deposit's columns in :func:`_due_with_deposits` (no reservation column
#: starts with it).
_DEPOSIT_PREFIX = "deposit__"


@functools.cache
def _due_with_deposits(dialect_name: str) -> Select[Any]:
    r, p = tables.reservations, tables.payments
    statement = (
        select(r, *_labelled(p, _DEPOSIT_PREFIX))
        .select_from(r.outerjoin(p, p.c.idempotency_key == r.c.id + DEPOSIT_KEY_SUFFIX))
        .where(
            r.c.status == ReservationStatus.CONFIRMED.value,
            r.c.expires_at <= bindparam("now", type_=r.c.expires_at.type),
        )
        .order_by(r.c.expires_at, r.c.id)
        .limit(bindparam("limit"))
    )
    if dialect_name == "postgresql":
        statement = statement.with_for_update(skip_locked=True, of=r)
    return statement


_VEHICLE_PREFIX = "vehicle__"
_ADVISOR_PREFIX = "advisor__"


def _labelled(table: Table, prefix: str) -> list[ColumnElement[Any]]:
    """Every column of ``table`` as ``<prefix><column>`` (no column of the joined tables starts
    with one of the prefixes)."""
    return [column.label(prefix + column.name) for column in table.c]


T = TypeVar("T")


def _joined(row: mapping.Row, prefix: str, from_row: Callable[[mapping.Row], T]) -> T | None:
    """The outer-joined record whose columns ``row`` holds as ``<prefix><column>`` (see
    :func:`_labelled`), or None when the join found none (its id is NULL)."""
    if row[prefix + "id"] is None:
        return None
    return from_row({k.removeprefix(prefix): v for k, v in row.items() if k.startswith(prefix)})


@functools.cache
def _order_with_parties() -> Select[Any]:
    o, v, a = tables.orders, tables.vehicles, tables.advisors
    return (
        select(o, *_labelled(v, _VEHICLE_PREFIX), *_labelled(a, _ADVISOR_PREFIX))
        .select_from(o.outerjoin(v, v.c.id == o.c.vehicle_id).outerjoin(a, a.c.id == o.c.advisor_id))
        .where(o.c.id == bindparam("id"))
    )


@functools.cache
def _reservation_with_vehicle(dialect_name: str, for_update: bool) -> Select[Any]:
    r, v = tables.reservations, tables.vehicles
    statement = (
        select(r, *_labelled(v, _VEHICLE_PREFIX))
        .select_from(r.outerjoin(v, v.c.id == r.c.vehicle_id))
        .where(r.c.id == bindparam("id"))
    )
    if for_update and dialect_name == "postgresql":
        statement = statement.with_for_update(of=r)
    return statement


@functools.cache
def _least_loaded_advisor() -> Select[Any]:
    a, o = tables.advisors, tables.orders
    open_orders = (
        select(func.count())
        .select_from(o)
        .where(o.c.advisor_id == a.c.id, o.c.status.in_(sorted(s.value for s in OPEN_STATUSES)))
        .scalar_subquery()
    )
    return select(a).where(a.c.active == true()).order_by(open_orders, a.c.id).limit(1)


@functools.cache
def _assign_payment_to_order() -> Update:
    p = tables.payments
    return (
        update(p)
        .where(p.c.idempotency_key == bindparam("b_key"), p.c.status == PaymentStatus.SUCCEEDED.value)
        .values(order_id=bindparam("b_order"), updated_at=bindparam("b_now", type_=p.c.updated_at.type))
        .returning(*p.c)
    )


@functools.cache
def _insert_refunds(dialect_name: str) -> Insert:
    return sql.insert_or_skip(dialect_name, tables.refunds, ("idempotency_key",)).execution_options(
        preserve_rowcount=True
    )


@functools.cache
def _awaiting_agreement(dialect_name: str) -> Select[Any]:
    o, v, a = tables.orders, tables.vehicles, tables.advisors
    statement = (
        select(o, *_labelled(v, _VEHICLE_PREFIX), *_labelled(a, _ADVISOR_PREFIX))
        .select_from(o.outerjoin(v, v.c.id == o.c.vehicle_id).outerjoin(a, a.c.id == o.c.advisor_id))
        .where(o.c.awaits_agreement, o.c.id.not_in(bindparam("skip", expanding=True)))
        .order_by(o.c.created_at, o.c.id)
        .limit(bindparam("limit"))
    )
    if dialect_name == "postgresql":
        statement = statement.with_for_update(skip_locked=True, of=o)
    return statement


@functools.cache
def _bump_order_number(dialect_name: str) -> Insert:
    t = tables.order_numbers
    return (
        sql.dialect_insert(dialect_name, t)
        .values(year=bindparam("year"), last_value=FIRST_ORDER_NUMBER)
        .on_conflict_do_update(index_elements=[t.c.year], set_={"last_value": t.c.last_value + 1})
        .returning(t.c.last_value)
    )


# -- vehicles -----------------------------------------------------------------------------


class SqlVehicles(_Repo):
    """See :class:`checkout_core.ports.repositories.VehicleRepository`."""

    _t = tables.vehicles

    def get(self, vehicle_id: str) -> Vehicle | None:
        """The car, or None."""
        row = self._by(self._t, id=vehicle_id)
        return None if row is None else mapping.vehicle_from_row(row)

    def list(self, *, status: VehicleStatus | None = None, limit: int = 100, offset: int = 0) -> Sequence[Vehicle]:
        """Cars ordered by id."""
        statement = select(self._t).order_by(self._t.c.id).limit(limit).offset(offset)
        if status is not None:
            statement = statement.where(self._t.c.status == status.value)
        return [mapping.vehicle_from_row(r) for r in self._rows(statement)]

    def upsert(self, vehicle: Vehicle) -> None:
        """Insert or replace the listing."""
        self._upsert(self._t, mapping.vehicle_to_row(vehicle))

    def claim(self, vehicle_id: str) -> bool:
        """``UPDATE … SET status='reserved' WHERE id=… AND status='available'``: of concurrent
        callers exactly one matches the row (the others wait for its lock, then no longer match)."""
        return self.set_status(vehicle_id, VehicleStatus.RESERVED, expected=VehicleStatus.AVAILABLE)

    def set_status(self, vehicle_id: str, status: VehicleStatus, *, expected: VehicleStatus | None = None) -> bool:
        """Conditional status change; False when the car is missing or not in ``expected``."""
        where: dict[str, Any] = {"id": vehicle_id}
        if expected is not None:
            where["status"] = expected.value
        return self._write(self._t, {"status": status.value}, **where) == 1

    def release_many(self, vehicle_ids: Sequence[str]) -> int:
        """``UPDATE vehicles SET status='available' WHERE id IN (…) AND status='reserved'``."""
        if not vehicle_ids:
            return 0
        c = self._t.c
        statement = (
            self._t.update()
            .where(c.id.in_(sorted(set(vehicle_ids))), c.status == VehicleStatus.RESERVED.value)
            .values(status=VehicleStatus.AVAILABLE.value)
        )
        return int(self._run(statement).rowcount)


# -- reservations ---------------------------------------------------------------------------


class SqlReservations(_Repo):
    """See :class:`checkout_core.ports.repositories.ReservationRepository`."""

    _t = tables.reservations

    def __init__(self, uow: SqlSession) -> None:
        super().__init__(uow)
        # id → status as this unit of work last read or wrote it; ``save`` only succeeds if the
        # row still has that status, so two writers can never both move a reservation on.
        self._seen_status: dict[str, str] = {}

    def forget(self) -> None:
        """Drop what was remembered about loaded rows (after a rollback)."""
        self._seen_status.clear()

    def _out(self, row: mapping.Row) -> Reservation:
        reservation = mapping.reservation_from_row(row)
        self._seen_status[reservation.id] = reservation.status.value
        self._uow.track(reservation)
        return reservation

    def add(self, reservation: Reservation) -> None:
        """Insert; a second active reservation for the car raises VehicleUnavailable.

        ``ON CONFLICT DO NOTHING`` against the partial unique index (rather than catching the
        IntegrityError) leaves the transaction usable on PostgreSQL without a savepoint, and
        costs one statement."""
        row = mapping.reservation_to_row(reservation)
        statement = _insert_active_hold(self._dialect) if reservation.status in ACTIVE_STATUSES else sql.insert(self._t)
        try:
            result = self._run(statement, row)
        except sa_exc.IntegrityError as error:
            if not is_unique_violation(error):
                raise
            raise Conflict(f"reservation {reservation.id} exists") from error
        if result.rowcount != 1:
            raise VehicleUnavailable(
                f"vehicle {reservation.vehicle_id} is already reserved", vehicle_id=reservation.vehicle_id
            )
        self._seen_status[reservation.id] = reservation.status.value
        self._uow.track(reservation)

    def get(self, reservation_id: str, *, for_update: bool = False) -> Reservation | None:
        """The reservation; ``for_update`` locks the row until the transaction ends (PostgreSQL)."""
        row = self._by(self._t, lock=for_update, id=reservation_id)
        return None if row is None else self._out(row)

    def get_with_vehicle(
        self, reservation_id: str, *, for_update: bool = False
    ) -> tuple[Reservation, Vehicle | None] | None:
        """One ``SELECT reservations … LEFT JOIN vehicles`` (``FOR UPDATE OF reservations`` on
        PostgreSQL when asked)."""
        row = self._row(_reservation_with_vehicle(self._dialect, for_update), {"id": reservation_id})
        if row is None:
            return None
        return self._out(row), _joined(row, _VEHICLE_PREFIX, mapping.vehicle_from_row)

    def save(self, reservation: Reservation, *, expected_status: ReservationStatus | None = None) -> None:
        """Write the reservation back, if nobody changed its status since it was loaded (or, for
        one not loaded here, if its status is still ``expected_status``)."""
        where: dict[str, Any] = {"id": reservation.id}
        seen = expected_status.value if expected_status is not None else self._seen_status.get(reservation.id)
        if seen is not None:
            where["status"] = seen
        if self._write(self._t, _without(mapping.reservation_to_row(reservation), "id"), **where) != 1:
            raise Conflict(f"reservation {reservation.id} was changed by someone else; reload and try again")
        self._seen_status[reservation.id] = reservation.status.value
        self._uow.track(reservation)

    def save_many(self, reservations: Sequence[Reservation], *, expected_status: ReservationStatus) -> None:
        """One executemany ``UPDATE … WHERE id = :id AND status = :expected``; Conflict unless every
        row matched (the summed row count; the caller's transaction then rolls back)."""
        if not reservations:
            return
        rows = [mapping.reservation_to_row(r) for r in sorted(reservations, key=lambda r: r.id)]
        statement, params = sql.update_rows(
            self._t,
            [_without(row, "id") for row in rows],
            [{"id": row["id"], "status": expected_status.value} for row in rows],
        )
        result = self._run(statement, params)
        if result.rowcount != len(rows):
            raise Conflict("a reservation of this batch was changed by someone else; reload and try again")
        for reservation in reservations:
            self._seen_status[reservation.id] = reservation.status.value
            self._uow.track(reservation)

    def active_for_vehicle(self, vehicle_id: str) -> Reservation | None:
        """The pending or confirmed reservation holding the car, locked on PostgreSQL.

        The lock matters to the caller: it may expire an overdue hold found here, and a
        concurrent expiry sweep must then skip the row instead of expiring it a second time."""
        row = self._row(_active_for_vehicle(self._dialect), {"vehicle_id": vehicle_id})
        return None if row is None else self._out(row)

    def count_active_for_customer(self, customer_id: str, now: datetime) -> int:
        """Pending deposits plus confirmed holds that are not overdue at ``now``.

        PostgreSQL: counted by ``checkout_count_active_holds`` (migration 0003) under a
        transaction-scoped advisory lock on the customer, in one statement. SQLite: the
        transaction already holds the database's write lock."""
        statement = _COUNT_ACTIVE_FOR_CUSTOMER_LOCKED if self._dialect == "postgresql" else _COUNT_ACTIVE_FOR_CUSTOMER
        return int(self._run(statement, {"customer_id": customer_id, "now": now}).scalar_one())

    def claim_due_for_expiry(self, now: datetime, limit: int) -> Sequence[Reservation]:
        """Confirmed holds past ``expires_at``, oldest first, locked (SKIP LOCKED on PostgreSQL)."""
        c = self._t.c
        statement = (
            select(self._t)
            .where(c.status == ReservationStatus.CONFIRMED.value, c.expires_at <= now)
            .order_by(c.expires_at, c.id)
            .limit(limit)
        )
        return [self._out(r) for r in self._rows(self._locked(statement, skip_locked=True))]

    def claim_due_for_expiry_with_deposits(
        self, now: datetime, limit: int
    ) -> Sequence[tuple[Reservation, Payment | None]]:
        """One ``SELECT … LEFT JOIN payments … FOR UPDATE OF reservations SKIP LOCKED``: the sweep
        needs the deposits to refund them, and reading them here saves it a statement per batch.
        Only the reservations are locked; the payments are then written with conditional updates."""
        rows = self._rows(_due_with_deposits(self._dialect), {"now": now, "limit": limit})
        found: list[tuple[Reservation, Payment | None]] = []
        for row in rows:
            deposit = _joined(row, _DEPOSIT_PREFIX, mapping.payment_from_row)
            if deposit is not None:
                self._uow.ledger.remember(deposit)
            found.append((self._out(row), deposit))
        return found

    def claim_stale_pending(self, older_than: datetime, limit: int) -> Sequence[Reservation]:
        """Pending deposits created before ``older_than``, locked (SKIP LOCKED on PostgreSQL)."""
        c = self._t.c
        statement = (
            select(self._t)
            .where(c.status == ReservationStatus.PENDING_DEPOSIT.value, c.created_at < older_than)
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        return [self._out(r) for r in self._rows(self._locked(statement, skip_locked=True))]

    def list(
        self,
        *,
        customer_id: str | None = None,
        status: ReservationStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Reservation]:
        """Newest first."""
        c = self._t.c
        statement = select(self._t).order_by(c.created_at.desc(), c.id.desc()).limit(limit).offset(offset)
        if customer_id is not None:
            statement = statement.where(c.customer_id == customer_id)
        if status is not None:
            statement = statement.where(c.status == status.value)
        return [self._out(r) for r in self._rows(statement)]


# -- orders -------------------------------------------------------------------------------


class SqlOrders(_Repo):
    """See :class:`checkout_core.ports.repositories.OrderRepository`."""

    _t = tables.orders

    def _out(self, row: mapping.Row) -> Order:
        order = mapping.order_from_row(row)
        self._uow.track(order)
        return order

    def add(self, order: Order) -> None:
        """Insert a new order (an existing id, number or reservation is a Conflict)."""
        try:
            self._run(sql.insert(self._t), mapping.order_to_row(order))
        except sa_exc.IntegrityError as error:
            if not is_unique_violation(error):
                raise
            raise Conflict(f"order {order.id} conflicts with an existing order") from error
        self._uow.track(order)

    def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        """The order; ``for_update`` locks the row until the transaction ends (PostgreSQL)."""
        row = self._by(self._t, lock=for_update, id=order_id)
        return None if row is None else self._out(row)

    def save(self, order: Order) -> None:
        """``UPDATE … WHERE id = :id AND version = :loaded``; no row → Conflict. Bumps the version."""
        values = _without(mapping.order_to_row(order), "id", "version")
        values["version"] = order.version + 1
        statement, params = sql.update_row(self._t, values, {"id": order.id, "version": order.version})
        if self._run(statement, params).rowcount != 1:
            raise Conflict(f"order {order.id} was changed by someone else; reload and try again")
        order.version += 1
        self._uow.track(order)

    def awaiting_signature(self, provider: str, limit: int) -> Sequence[Order]:
        """``status = 'pending_documents'`` and the envelope document's ``status`` and
        ``provider`` (JSON fields, read by the database), oldest first."""
        c = self._t.c
        statement = (
            select(self._t)
            .where(
                c.status == OrderStatus.PENDING_DOCUMENTS.value,
                c.envelope["status"].as_string() == "sent",
                c.envelope["provider"].as_string() == provider,
            )
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        return [self._out(r) for r in self._rows(statement)]

    def get_with_parties(self, order_id: str) -> tuple[Order, Vehicle | None, Advisor | None] | None:
        """One ``SELECT orders … LEFT JOIN vehicles … LEFT JOIN advisors`` by the order's id."""
        row = self._row(_order_with_parties(), {"id": order_id})
        return None if row is None else self._with_parties(row)

    def claim_awaiting_agreement(
        self, limit: int, *, skip: frozenset[str] = frozenset()
    ) -> Sequence[tuple[Order, Vehicle | None, Advisor | None]]:
        """The partial index ``ix_orders_awaiting_agreement``, joined with cars and advisors;
        ``FOR UPDATE OF orders SKIP LOCKED`` on PostgreSQL (SQLite's writer lock serialises)."""
        rows = self._rows(_awaiting_agreement(self._dialect), {"limit": limit, "skip": sorted(skip)})
        return [self._with_parties(row) for row in rows]

    def _with_parties(self, row: mapping.Row) -> tuple[Order, Vehicle | None, Advisor | None]:
        vehicle = _joined(row, _VEHICLE_PREFIX, mapping.vehicle_from_row)
        return self._out(row), vehicle, _joined(row, _ADVISOR_PREFIX, mapping.advisor_from_row)

    def get_by_number(self, number: str) -> Order | None:
        """The order with this number (unique index)."""
        row = self._by(self._t, number=number)
        return None if row is None else self._out(row)

    def next_number(self, year: int) -> int:
        """The year's counter row, created at ``FIRST_ORDER_NUMBER`` or bumped, atomically.

        ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` creates or increments the row in one
        statement; the row lock it takes serialises concurrent checkouts of the same year
        until commit, so no two transactions can get the same number. A rolled-back checkout
        gives its number back."""
        return int(self._run(_bump_order_number(self._dialect), {"year": year}).scalar_one())

    def list(
        self,
        *,
        customer_id: str | None = None,
        status: OrderStatus | None = None,
        advisor_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Order]:
        """Newest first."""
        c = self._t.c
        statement = select(self._t).order_by(c.created_at.desc(), c.id.desc()).limit(limit).offset(offset)
        if customer_id is not None:
            statement = statement.where(c.customer_id == customer_id)
        if status is not None:
            statement = statement.where(c.status == status.value)
        if advisor_id is not None:
            statement = statement.where(c.advisor_id == advisor_id)
        return [self._out(r) for r in self._rows(statement)]

    def claim_due_for_completion(self, delivered_before: datetime, limit: int) -> Sequence[Order]:
        """Delivered orders whose return window closed, locked (SKIP LOCKED on PostgreSQL)."""
        c = self._t.c
        statement = (
            select(self._t)
            .where(
                c.status == OrderStatus.DELIVERED.value,
                c.delivered_at.is_not(None),
                c.delivered_at <= delivered_before,
            )
            .order_by(c.id)
            .limit(limit)
        )
        return [self._out(r) for r in self._rows(self._locked(statement, skip_locked=True))]


# -- ledger -------------------------------------------------------------------------------


class SqlLedger(_Repo):
    """See :class:`checkout_core.ports.repositories.PaymentLedger`."""

    _p = tables.payments
    _r = tables.refunds

    def __init__(self, uow: SqlSession) -> None:
        super().__init__(uow)
        # id → (status, refunded cents) as this unit of work read or wrote the payment. A refund
        # reserves its amount by raising ``refunded`` on the payment; checking the value it was
        # read with makes two concurrent refunds of one payment unable to both succeed, so
        # together they can never exceed what was paid.
        self._seen: dict[str, tuple[str, int]] = {}

    def forget(self) -> None:
        """Drop what was remembered about loaded rows (after a rollback)."""
        self._seen.clear()

    def remember(self, payment: Payment) -> None:
        """Treat ``payment`` as read by this unit of work (another repository read it in a join)."""
        self._seen[payment.id] = (payment.status.value, payment.refunded.cents)

    def _insert_unique_key(self, table: Table, row: dict[str, Any], what: str) -> None:
        try:
            result = self._run(sql.insert_or_skip(self._dialect, table, ("idempotency_key",)), row)
        except sa_exc.IntegrityError as error:
            if not is_unique_violation(error):
                raise
            raise Conflict(f"{what} {row['id']} exists") from error
        if result.rowcount != 1:
            raise Conflict(f"a {what} with key {row['idempotency_key']} exists")

    def _update(self, table: Table, row: dict[str, Any], what: str) -> None:
        if self._write(table, _without(row, "id"), id=row["id"]) != 1:
            raise Conflict(f"{what} {row['id']} does not exist")

    def _payments(self, *conditions: ColumnElement[bool], limit: int | None = None) -> Sequence[Payment]:
        c = self._p.c
        statement = select(self._p).where(*conditions).order_by(c.created_at, c.id).limit(limit)
        payments = [mapping.payment_from_row(r) for r in self._rows(statement)]
        for payment in payments:
            self.remember(payment)
        return payments

    def _payments_by(self, **where: Any) -> Sequence[Payment]:
        """Payments whose columns equal ``where``, oldest first (a prebuilt statement)."""
        statement = sql.select_where(self._dialect, self._p, tuple(where), order_by=("created_at", "id"))
        payments = [mapping.payment_from_row(r) for r in self._rows(statement, sql.where_params(**where))]
        for payment in payments:
            self.remember(payment)
        return payments

    def _refunds(self, *conditions: ColumnElement[bool], limit: int | None = None) -> Sequence[Refund]:
        c = self._r.c
        statement = select(self._r).where(*conditions).order_by(c.created_at, c.id).limit(limit)
        return [mapping.refund_from_row(r) for r in self._rows(statement)]

    def add_payment(self, payment: Payment) -> None:
        """Insert; a second payment with the same idempotency key is a Conflict (unique index)."""
        self._insert_unique_key(self._p, mapping.payment_to_row(payment), "payment")
        self.remember(payment)

    def save_payment(self, payment: Payment, *, expected_status: PaymentStatus | None = None) -> None:
        """Write the payment's current state, if its status and refunded amount are still what
        this unit of work read (else Conflict: someone refunded or settled it meanwhile). For a
        payment not read here, ``expected_status`` gives the status the row must still have."""
        where: dict[str, Any] = {"id": payment.id}
        seen = self._seen.get(payment.id)
        if expected_status is not None:
            where["status"] = expected_status.value
        elif seen is not None:
            where.update(status=seen[0], refunded_cents=seen[1])
        row = mapping.payment_to_row(payment)
        if self._write(self._p, _without(row, "id"), **where) != 1:
            raise Conflict(f"payment {payment.id} was changed by someone else (or does not exist); try again")
        self.remember(payment)

    def save_payments(self, payments: Sequence[Payment]) -> None:
        """One executemany ``UPDATE … WHERE id = :id AND status = :seen AND refunded_cents = :seen``
        (what this unit of work read each payment with); Conflict unless every row matched."""
        if not payments:
            return
        ordered = sorted(payments, key=lambda p: p.id)
        missing = [p.id for p in ordered if p.id not in self._seen]
        if missing:
            raise ValueError(f"save_payments needs payments read in this unit of work: {missing}")
        rows = [mapping.payment_to_row(p) for p in ordered]
        statement, params = sql.update_rows(
            self._p,
            [_without(row, "id") for row in rows],
            [
                {"id": row["id"], "status": self._seen[row["id"]][0], "refunded_cents": self._seen[row["id"]][1]}
                for row in rows
            ],
        )
        result = self._run(statement, params)
        if result.rowcount != len(rows):
            raise Conflict("a payment of this batch was changed by someone else (or does not exist); try again")
        for payment in ordered:
            self.remember(payment)

    def get_payment(self, payment_id: str) -> Payment | None:
        """By our id."""
        found = self._payments_by(id=payment_id)
        return found[0] if found else None

    def payment_by_key(self, idempotency_key: str) -> Payment | None:
        """By idempotency key (unique)."""
        found = self._payments_by(idempotency_key=idempotency_key)
        return found[0] if found else None

    def assign_to_order(self, idempotency_key: str, order_id: str, now: datetime) -> Payment | None:
        """One ``UPDATE payments … WHERE idempotency_key = :key AND status = 'succeeded' RETURNING *``."""
        row = self._row(_assign_payment_to_order(), {"b_key": idempotency_key, "b_order": order_id, "b_now": now})
        if row is None:
            return None
        payment = mapping.payment_from_row(row)
        self.remember(payment)
        return payment

    def payments_by_keys(self, idempotency_keys: Sequence[str]) -> Sequence[Payment]:
        """``SELECT … WHERE idempotency_key IN (…)``."""
        if not idempotency_keys:
            return []
        return self._payments(self._p.c.idempotency_key.in_(sorted(set(idempotency_keys))))

    def payment_by_gateway_ref(self, gateway_ref: str) -> Payment | None:
        """By the gateway's id (the oldest, should a reference ever repeat)."""
        found = self._payments(self._p.c.gateway_ref == gateway_ref, limit=1)
        return found[0] if found else None

    def payments_for(self, *, order_id: str | None = None, reservation_id: str | None = None) -> Sequence[Payment]:
        """Payments of an order or of a reservation (either matches), oldest first."""
        if order_id is not None and reservation_id is not None:
            c = self._p.c
            return self._payments(or_(c.order_id == order_id, c.reservation_id == reservation_id))
        if order_id is not None:
            return self._payments_by(order_id=order_id)
        if reservation_id is not None:
            return self._payments_by(reservation_id=reservation_id)
        return []

    def pending_payments(self, older_than: datetime, limit: int) -> Sequence[Payment]:
        """Payments still pending since before ``older_than``."""
        c = self._p.c
        return self._payments(c.status == PaymentStatus.PENDING.value, c.created_at < older_than, limit=limit)

    def add_refund(self, refund: Refund) -> None:
        """Insert; a second refund with the same idempotency key is a Conflict (unique index)."""
        self._insert_unique_key(self._r, mapping.refund_to_row(refund), "refund")

    def add_refunds(self, refunds: Sequence[Refund]) -> Sequence[Refund]:
        """One executemany ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING`` of a statement
        prepared once (a multi-row ``VALUES`` list was a fresh SQL text of ~1,100 parameters to
        compile and parse on every batch). The refunds returned are those inserted; the others
        were opened before (a replay) — told apart, only when some row was skipped, by one more
        ``SELECT`` of the new ids."""
        if not refunds:
            return []
        try:
            result = self._run(_insert_refunds(self._dialect), [mapping.refund_to_row(r) for r in refunds])
        except sa_exc.IntegrityError as error:
            if not is_unique_violation(error):
                raise
            raise Conflict("a refund of this batch exists") from error
        if result.rowcount == len(refunds):
            return list(refunds)
        ids = [r.id for r in refunds]
        inserted = set(self._run(select(self._r.c.id).where(self._r.c.id.in_(ids))).scalars().all())
        return [r for r in refunds if r.id in inserted]

    def save_refunds(self, refunds: Sequence[Refund], *, expected_status: RefundStatus) -> int:
        """One executemany ``UPDATE … WHERE id = :id AND status = :expected``; returns the summed
        row count (rows no longer ``expected_status`` are skipped)."""
        if not refunds:
            return 0
        rows = [mapping.refund_to_row(r) for r in sorted(refunds, key=lambda r: r.id)]
        statement, params = sql.update_rows(
            self._r,
            [_without(row, "id") for row in rows],
            [{"id": row["id"], "status": expected_status.value} for row in rows],
        )
        return int(self._run(statement, params).rowcount)

    def save_refund(self, refund: Refund, *, expected_status: RefundStatus | None = None) -> None:
        """Write the refund's current state (only if it is still ``expected_status``, when given)."""
        if expected_status is None:
            self._update(self._r, mapping.refund_to_row(refund), "refund")
            return
        row = _without(mapping.refund_to_row(refund), "id")
        if self._write(self._r, row, id=refund.id, status=expected_status.value) != 1:
            raise Conflict(f"refund {refund.id} was settled by someone else")

    def get_refund(self, refund_id: str) -> Refund | None:
        """By our id."""
        found = self._refunds(self._r.c.id == refund_id)
        return found[0] if found else None

    def refunds_for(self, payment_id: str) -> Sequence[Refund]:
        """Refunds of a payment, oldest first."""
        return self._refunds(self._r.c.payment_id == payment_id)

    def refund_by_gateway_ref(self, gateway_ref: str) -> Refund | None:
        """By the gateway's id."""
        found = self._refunds(self._r.c.gateway_ref == gateway_ref, limit=1)
        return found[0] if found else None

    def pending_refunds(
        self, limit: int, *, method: PaymentMethod | None = None, older_than: datetime | None = None
    ) -> Sequence[Refund]:
        """Refunds whose outcome is not known yet, oldest first (``method``: of payments made
        that way; ``older_than``: untouched since before it — both filtered before the limit)."""
        conditions = [self._r.c.status == RefundStatus.PENDING.value]
        if method is not None:
            conditions.append(self._r.c.payment_id.in_(select(self._p.c.id).where(self._p.c.method == method.value)))
        if older_than is not None:
            conditions.append(self._r.c.updated_at < older_than)
        return self._refunds(*conditions, limit=limit)

    def lease_refund(self, refund_id: str, *, seen: datetime, now: datetime) -> bool:
        """``UPDATE refunds SET updated_at = :now WHERE id = :id AND status = 'pending' AND
        updated_at = :seen``: exactly one of several concurrent callers gets the row."""
        written = self._write(
            self._r, {"updated_at": now}, id=refund_id, status=RefundStatus.PENDING.value, updated_at=seen
        )
        return written == 1

    def owed_payments(
        self,
        limit: int,
        *,
        reservation_statuses: Sequence[ReservationStatus],
        order_statuses: Sequence[OrderStatus],
        purposes: Sequence[PaymentPurpose],
    ) -> Sequence[Payment]:
        """One SELECT joining each payment's order and reservation (see the port)."""
        p, o, r, f = self._p.c, tables.orders.c, tables.reservations.c, self._r.c
        owner_gone = or_(
            p.purpose.in_([x.value for x in purposes]),
            p.order_id.in_(select(o.id).where(o.status.in_([x.value for x in order_statuses]))),
            and_(
                p.order_id.is_(None),
                p.reservation_id.in_(select(r.id).where(r.status.in_([x.value for x in reservation_statuses]))),
            ),
        )
        no_failed_refund = ~p.id.in_(select(f.payment_id).where(f.status == RefundStatus.FAILED.value))
        return self._payments(
            p.status == PaymentStatus.SUCCEEDED.value,
            p.amount_cents > p.refunded_cents,
            owner_gone,
            no_failed_refund,
            limit=limit,
        )

    def payments_between(self, since: datetime, until: datetime) -> Sequence[Payment]:
        """Payments created in [since, until)."""
        c = self._p.c
        return self._payments(c.created_at >= since, c.created_at < until)

    def refunds_between(self, since: datetime, until: datetime) -> Sequence[Refund]:
        """Refunds created in [since, until)."""
        c = self._r.c
        return self._refunds(c.created_at >= since, c.created_at < until)

    def add_dispute(self, dispute: Dispute) -> bool:
        """``INSERT … ON CONFLICT (gateway_ref) DO NOTHING``: False when the gateway's dispute is
        recorded already (a redelivered or reordered webhook)."""
        statement = sql.insert_or_skip(self._dialect, tables.disputes, ("gateway_ref",))
        return int(self._run(statement, mapping.dispute_to_row(dispute)).rowcount) == 1

    def dispute_by_gateway_ref(self, gateway_ref: str) -> Dispute | None:
        """By the gateway's dispute id (unique)."""
        row = self._by(tables.disputes, gateway_ref=gateway_ref)
        return None if row is None else mapping.dispute_from_row(row)

    def save_dispute(self, dispute: Dispute, *, expected_status: DisputeStatus) -> bool:
        """``UPDATE … WHERE id = :id AND status = :expected``."""
        row = _without(mapping.dispute_to_row(dispute), "id")
        return self._write(tables.disputes, row, id=dispute.id, status=expected_status.value) == 1

    def disputes(self, *, status: DisputeStatus | None = None, limit: int = 100) -> Sequence[Dispute]:
        """Oldest first."""
        t = tables.disputes
        statement = select(t).order_by(t.c.opened_at, t.c.id).limit(limit)
        if status is not None:
            statement = statement.where(t.c.status == status.value)
        return [mapping.dispute_from_row(r) for r in self._rows(statement)]


# -- reference records ----------------------------------------------------------------------


class SqlCustomers(_Repo):
    """See :class:`checkout_core.ports.repositories.CustomerDirectory`."""

    _t = tables.customers

    def get(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        row = self._by(self._t, id=customer_id)
        return None if row is None else mapping.customer_from_row(row)

    def upsert(self, customer: Customer) -> None:
        """Insert or replace."""
        self._upsert(self._t, mapping.customer_to_row(customer))


class SqlAdvisors(_Repo):
    """See :class:`checkout_core.ports.repositories.AdvisorDirectory`."""

    _t = tables.advisors

    def get(self, advisor_id: str) -> Advisor | None:
        """The advisor, or None."""
        row = self._by(self._t, id=advisor_id)
        return None if row is None else mapping.advisor_from_row(row)

    def list_active(self) -> Sequence[Advisor]:
        """Active advisors by id."""
        statement = select(self._t).where(self._t.c.active == true()).order_by(self._t.c.id)
        return [mapping.advisor_from_row(r) for r in self._rows(statement)]

    def least_loaded(self) -> Advisor | None:
        """One ``SELECT``: active advisors ordered by a correlated count of their open orders
        (an index range of ``ix_orders_advisor_id_status`` each), then id."""
        row = self._row(_least_loaded_advisor())
        return None if row is None else mapping.advisor_from_row(row)

    def upsert(self, advisor: Advisor) -> None:
        """Insert or replace."""
        self._upsert(self._t, mapping.advisor_to_row(advisor))


class SqlTradeIns(_Repo):
    """See :class:`checkout_core.ports.repositories.TradeInOffers`."""

    _t = tables.trade_in_offers

    def get(self, offer_id: str) -> TradeInOffer | None:
        """The offer, or None."""
        row = self._by(self._t, id=offer_id)
        return None if row is None else mapping.trade_in_offer_from_row(row)

    def upsert(self, offer: TradeInOffer) -> None:
        """Insert or replace."""
        self._upsert(self._t, mapping.trade_in_offer_to_row(offer))


class SqlFinancing(_Repo):
    """See :class:`checkout_core.ports.repositories.FinancingApplications`."""

    _t = tables.financing_applications

    def get(self, application_id: str) -> FinancingApplication | None:
        """The application, or None."""
        row = self._by(self._t, id=application_id)
        return None if row is None else mapping.financing_from_row(row)

    def upsert(self, application: FinancingApplication) -> None:
        """Insert or replace."""
        self._upsert(self._t, mapping.financing_to_row(application))


# -- outbox -------------------------------------------------------------------------------


class SqlOutbox(_Repo):
    """See :class:`checkout_core.ports.repositories.Outbox`.

    ``add`` buffers; the buffer is written with one multi-row INSERT when the unit of work
    commits (or before any outbox read), so a commit costs one outbox statement, not one per
    event, and the events are still part of the same transaction as the change."""

    _t = tables.outbox

    def __init__(self, uow: SqlSession) -> None:
        super().__init__(uow)
        self._pending: list[dict[str, Any]] = []

    def add(self, event: StoredEvent) -> None:
        """Stage one event for this transaction."""
        self._pending.append(mapping.event_to_row(event))

    def flush(self) -> None:
        """Write the staged events (in the order they were added: ``seq`` follows it)."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        self._run(sql.insert(self._t), rows)

    def discard(self) -> None:
        """Forget staged events (the transaction is rolling back)."""
        self._pending.clear()

    def for_aggregate(self, aggregate_id: str) -> Sequence[StoredEvent]:
        """Every event of a reservation or order, in the order stored."""
        self.flush()
        statement = sql.select_where(self._dialect, self._t, ("aggregate_id",), order_by=("seq",))
        return [mapping.event_from_row(r) for r in self._rows(statement, sql.where_params(aggregate_id=aggregate_id))]

    def claim_unpublished(self, limit: int) -> Sequence[StoredEvent]:
        """The oldest unpublished events, locked so that parallel relays skip them (PostgreSQL)."""
        self.flush()
        statement = select(self._t).where(self._t.c.published_at.is_(None)).order_by(self._t.c.seq).limit(limit)
        return [mapping.event_from_row(r) for r in self._rows(self._locked(statement, skip_locked=True))]

    def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        """Stamp the events as published."""
        if not event_ids:
            return
        self.flush()
        self._run(self._t.update().where(self._t.c.id.in_(list(event_ids))).values(published_at=at))


__all__ = [
    "FIRST_ORDER_NUMBER",
    "SqlAdvisors",
    "SqlCustomers",
    "SqlFinancing",
    "SqlLedger",
    "SqlOrders",
    "SqlOutbox",
    "SqlReservations",
    "SqlTradeIns",
    "SqlVehicles",
    "dialect_insert",
    "is_unique_violation",
    "translate_db_errors",
]


# -- signing audit trail ----------------------------------------------------------------------


class SqlAuditTrail(_Repo):
    """See :class:`checkout_core.ports.repositories.SigningAuditTrail`. The primary key
    (order_id, sequence) makes two writers appending the same link a Conflict, not a fork."""

    _t = tables.signing_audit

    def append(self, entry: AuditEntry) -> None:
        """Insert the next entry."""
        row = {
            "order_id": entry.order_id,
            "sequence": entry.sequence,
            "action": entry.action.value,
            "occurred_at": entry.occurred_at,
            "envelope_id": entry.envelope_id,
            "signer_name": entry.signer_name,
            "signer_email": entry.signer_email,
            "ip_address": entry.ip_address,
            "user_agent": entry.user_agent,
            "document_sha256": entry.document_sha256,
            "prev_hash": entry.prev_hash,
            "entry_hash": entry.entry_hash,
        }
        statement = (
            dialect_insert(self._dialect, self._t)
            .values(row)
            .on_conflict_do_nothing(index_elements=[self._t.c.order_id, self._t.c.sequence])
        )
        if self._run(statement).rowcount != 1:
            raise Conflict(f"audit entry {entry.sequence} of order {entry.order_id} exists")

    def entries(self, order_id: str) -> Sequence[AuditEntry]:
        """In sequence order."""
        c = self._t.c
        rows = self._rows(select(self._t).where(c.order_id == order_id).order_by(c.sequence))
        return [
            AuditEntry(
                order_id=r["order_id"],
                sequence=r["sequence"],
                action=AuditAction(r["action"]),
                occurred_at=r["occurred_at"],
                envelope_id=r["envelope_id"],
                signer_name=r["signer_name"],
                signer_email=r["signer_email"],
                ip_address=r["ip_address"],
                user_agent=r["user_agent"],
                document_sha256=r["document_sha256"],
                prev_hash=r["prev_hash"],
                entry_hash=r["entry_hash"],
            )
            for r in rows
        ]
