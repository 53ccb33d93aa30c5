"""SQL repositories: one per port in :mod:`checkout_core.ports.repositories`.

They run inside the transaction of their unit of work (:class:`adapters.sql.session.SqlSession`)
and never commit. Each method is one SQL statement (the outbox batches its inserts into one per
commit), so a use case's statement count is the number of repository calls it makes. The rules
(which statuses hold a car, when a hold is overdue, which orders are open) are the core's
constants, turned into ``WHERE`` clauses here. Concurrency: see ``docs/persistence.md``."""

from __future__ import annotations

import enum
import functools
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import (
    CTE,
    ColumnElement,
    CursorResult,
    Executable,
    Insert,
    ScalarSelect,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.base import PGDialect

from adapters.sql import mapping, tables, views
from adapters.sql import statements as sql
from adapters.sql.session import SqlSession
from adapters.sql.statements import dialect_insert
from checkout_core.errors import Conflict, VehicleUnavailable
from checkout_core.model.aggregate import Aggregate
from checkout_core.model.audit import AuditEntry
from checkout_core.model.order import FIRST_ORDER_NUMBER, Order, OrderStatus
from checkout_core.model.parties import Advisor, FinancingApplication, TradeInOffer
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
from checkout_core.model.reservation import (
    ACTIVE_STATUSES,
    DEPOSIT_KEY_SUFFIX,
    EXPIRING_STATUS,
    Reservation,
    ReservationStatus,
)
from checkout_core.model.vehicle import Vehicle, VehicleStatus
from checkout_core.ports.repositories import CarClaim, CheckoutParts, OrderForView, StoredEvent

T = TypeVar("T")
E = TypeVar("E")

#: PostgreSQL SQLSTATEs that mean "a concurrent transaction got in the way; retry":
#: serialization_failure, deadlock_detected, lock_not_available.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def _is_retryable(error: sa_exc.DBAPIError) -> bool:
    if getattr(error.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
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


@contextmanager
def conflict_on_unique(message: str) -> Iterator[None]:
    """A UNIQUE violation inside the block becomes Conflict(``message``)."""
    try:
        yield
    except sa_exc.IntegrityError as error:
        if not is_unique_violation(error):
            raise
        raise Conflict(message) from error


# -- the core's rules as SQL ----------------------------------------------------------------

_R = tables.reservations.c


def _overdue(now: ColumnElement[Any]) -> ColumnElement[bool]:
    """:meth:`Reservation.is_overdue`: in the expiring status, with ``expires_at`` reached."""
    return and_(_R.status == EXPIRING_STATUS.value, _R.expires_at.is_not(None), _R.expires_at <= now)


def _active_holds(customer: ColumnElement[Any], now: ColumnElement[Any]) -> Select[Any]:
    """How many reservations :meth:`Reservation.is_active` counts for ``customer`` at ``now``."""
    active = and_(_R.status.in_(sorted(s.value for s in ACTIVE_STATUSES)), not_(_overdue(now)))
    return select(func.count()).select_from(tables.reservations).where(_R.customer_id == customer, active)


def _now() -> ColumnElement[Any]:
    return bindparam("now", type_=_R.expires_at.type)


_COUNT_ACTIVE_HOLDS = _active_holds(bindparam("customer_id"), _now())
#: PostgreSQL: the same count run by ``checkout_count_under_customer_lock`` (migration 0008) under
#: a per-customer advisory lock, in a fresh snapshot; the query is this text with $1, $2 bound.
_PG = PGDialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialect __init__ is untyped
_COUNT_ACTIVE_HOLDS_LOCKED = select(
    func.checkout_count_under_customer_lock(
        bindparam("customer_id", type_=_R.customer_id.type),
        _now(),
        str(
            _active_holds(literal_column("$1"), literal_column("$2")).compile(
                dialect=_PG, compile_kwargs={"literal_binds": True}
            )
        ),
    )
).execution_options(**{sql.LOCKS: True})


#: 1 if the car ``:ids`` exists, else 0.
_VEHICLE_EXISTS: Select[Any] = select(func.count()).where(tables.vehicles.c.id == bindparam("ids"))


@functools.cache
def _claim_car_under_limit() -> Select[Any]:
    """PostgreSQL: the customer's count (under its lock, as above) and the car's claim in one
    statement, the claim only while the count is under ``:limit``. The count's CTE is referenced
    twice, so it is materialised and runs once; the UPDATE's condition on it is an InitPlan,
    evaluated before the car's row is locked. Answers ``held``, ``claimed`` (0 or 1) and
    ``car`` (whether the car exists: a claim that failed is then told apart from no such car
    without another statement)."""
    count, claimed = _count_and_claim()
    return select(*_claim_answers(count, claimed)).execution_options(**{sql.LOCKS: True})


def _count_and_claim() -> tuple[ScalarSelect[Any], CTE]:
    """The customer's count (a CTE, as a scalar) and the car's claim under ``:limit`` (a CTE
    returning a row if the car was claimed)."""
    v = tables.vehicles
    held = _COUNT_ACTIVE_HOLDS_LOCKED.with_only_columns(
        *[c.label("n") for c in _COUNT_ACTIVE_HOLDS_LOCKED.selected_columns]
    ).cte("held")
    count = select(held.c.n).scalar_subquery()
    claimed = (
        v.update()
        .where(v.c.id == bindparam("ids"), v.c.status == bindparam("expected"), count < bindparam("limit"))
        .values(status=bindparam("status"))
        .returning(literal_column("1"))
        .cte("claimed")
    )
    return count, claimed


def _claim_answers(count: ScalarSelect[Any], claimed: CTE) -> list[ColumnElement[Any]]:
    """``held``, ``claimed`` (0 or 1) and ``car`` (whether it exists) of :func:`_count_and_claim`."""
    claims = select(func.count()).select_from(claimed).scalar_subquery()
    car = exists().where(tables.vehicles.c.id == bindparam("ids"))
    return [count.label("held"), claims.label("claimed"), car.label("car")]


def _insert_if(table: Table, keys: tuple[str, ...], prefix: str, condition: ColumnElement[bool]) -> Insert:
    """``INSERT INTO table (keys) SELECT :<prefix><key>, … WHERE condition``: a row written only
    if ``condition`` holds (a plain INSERT: a UNIQUE violation fails the whole statement)."""
    values = [bindparam(prefix + key, type_=table.c[key].type) for key in keys]
    return table.insert().from_select(list(keys), select(*values).where(condition))


@functools.cache
def _claim_car_holding(
    reservation: tuple[str, ...], deposit: tuple[str, ...], event: tuple[str, ...], events: int
) -> Select[Any]:
    """PostgreSQL: :func:`_claim_car_under_limit`, and in the same statement — only if the car
    was claimed — the hold (``r_*``), its deposit intent (``p_*``) and the hold's outbox rows
    (``e<n>_*``). Adds ``hold``: 1 if they were written. Plain INSERTs: a second active hold on
    the car (the partial unique index) or a second deposit with its key fails the statement
    whole, the claim with it."""
    count, claimed = _count_and_claim()
    won = exists().select_from(claimed)
    hold = _insert_if(tables.reservations, reservation, "r_", won).returning(literal_column("1")).cte("hold")
    writes = [_insert_if(tables.payments, deposit, "p_", won).cte("deposit")]
    writes += [_insert_if(tables.outbox, event, f"e{n}_", won).cte(f"event{n}") for n in range(events)]
    made = select(func.count()).select_from(hold).scalar_subquery()
    # Whether the hold's id is taken (its snapshot: before this statement's own INSERT): a
    # refused request then knows whether a first attempt of its key left a hold, unread.
    taken = exists().where(tables.reservations.c.id == bindparam("r_id"))
    statement = select(*_claim_answers(count, claimed), made.label("hold"), taken.label("taken"))
    return statement.add_cte(*writes).execution_options(**{sql.LOCKS: True})


# -- statements of the hot paths, built once (see adapters.sql.statements; joins: adapters.sql.views)


@functools.cache
def _due_with_deposits(dialect_name: str) -> Select[Any]:
    r, p = tables.reservations, tables.payments
    statement = (
        select(r, *views.labelled(p, "deposit__"))
        .select_from(r.outerjoin(p, p.c.idempotency_key == r.c.id + DEPOSIT_KEY_SUFFIX))
        .where(_overdue(_now()))
        .order_by(r.c.expires_at, r.c.id)
        .limit(bindparam("limit"))
    )
    return sql.for_update(statement, dialect_name, skip_locked=True, of=r)


@functools.cache
def _insert_active_hold(dialect_name: str) -> Insert:
    """INSERT a pending/confirmed reservation unless the car already has one (partial index)."""
    return dialect_insert(dialect_name, tables.reservations).on_conflict_do_nothing(
        index_elements=[_R.vehicle_id], index_where=tables.ACTIVE_RESERVATION
    )


@functools.cache
def _active_for_vehicle(dialect_name: str) -> Select[Any]:
    statement = select(tables.reservations).where(_R.vehicle_id == bindparam("vehicle_id"), tables.ACTIVE_RESERVATION)
    return sql.for_update(statement, dialect_name)


@functools.cache
def _bump_order_number(dialect_name: str) -> Insert:
    t = tables.order_numbers
    return (
        dialect_insert(dialect_name, t)
        .values(year=bindparam("year"), last_value=FIRST_ORDER_NUMBER)
        .on_conflict_do_update(index_elements=[t.c.year], set_={"last_value": t.c.last_value + 1})
        .returning(t.c.last_value)
    )


@functools.cache
def _set_vehicle_status(guarded: bool, one: bool) -> Update:
    """``one``: ``id = :ids`` for the usual single car — an expanding ``IN`` changes its SQL with
    each call, so it cannot be sent straight to psycopg (adapters.sql.direct) and costs
    SQLAlchemy's whole execution path."""
    c = tables.vehicles.c
    matches = c.id == bindparam("ids") if one else c.id.in_(bindparam("ids", expanding=True))
    where = [matches] + ([c.status == bindparam("expected")] if guarded else [])
    return tables.vehicles.update().where(*where).values(status=bindparam("status"))


def _vehicle_status_params(
    ids: str | list[str], status: VehicleStatus, expected: VehicleStatus | None
) -> dict[str, Any]:
    """The parameters of :func:`_set_vehicle_status`."""
    return {"ids": ids, "status": status.value, "expected": getattr(expected, "value", None)}


def _one_row(error: Callable[[], Exception], rows: int = 1) -> sql.ExpectedRows:
    """The check of a write's row count (:meth:`SqlSession.write`): ``error()`` unless ``rows``."""
    return sql.ExpectedRows(rows, error)


# -- the generic table repository ---------------------------------------------------------------


class _Repo(Generic[E]):
    """One table holding one entity class: reads, inserts and (conditional) writes of its rows."""

    _t: Table
    _cls: type[E]
    #: The default order of lists (the port's "oldest first").
    _order: tuple[str, ...] = ("created_at", "id")

    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    @property
    def _dialect(self) -> str:
        return self._uow.dialect_name

    def _run(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        return self._uow.execute(statement, params)

    def _rows(self, statement: Executable, params: Any = None) -> Sequence[mapping.Row]:
        return self._uow.rows(statement, params)

    def _number(self, statement: Executable, params: Any) -> int:
        """The one value of the one row ``statement`` answers (a count, a counter's new value)."""
        (row,) = self._rows(statement, params)
        (value,) = row.values()
        return int(value)

    def _out(self, row: mapping.Row) -> E:
        """The entity of a row this unit of work read (aggregates are tracked for their events)."""
        value = mapping.from_row(row, self._cls)
        if isinstance(value, Aggregate):
            self._uow.track(value)
        return value

    def _outs(self, statement: Executable, params: Any = None) -> list[E]:
        return [self._out(row) for row in self._rows(statement, params)]

    def _by(self, *, lock: bool = False, **where: Any) -> E | None:
        """The row whose columns equal ``where`` (a prebuilt statement, see :mod:`statements`)."""
        statement = sql.select_where(self._dialect, self._t, tuple(where), lock=lock, order_by=self._order)
        rows = self._rows(statement, sql.where_params(**where))
        return self._out(rows[0]) if rows else None

    def get(self, record_id: str, *, for_update: bool = False) -> E | None:
        """The record, or None; ``for_update`` locks its row until the transaction ends (PostgreSQL)."""
        return self._by(lock=for_update, id=record_id)

    def _lookup(self, **by: Any) -> E | None:
        """The row whose one given (not None) column equals its value."""
        given = {k: v for k, v in by.items() if v is not None}
        if len(given) != 1:
            raise TypeError(f"look up by exactly one of {sorted(by)}")
        return self._by(**given)

    def _find(
        self,
        *conditions: ColumnElement[bool],
        limit: int | None = None,
        offset: int = 0,
        newest: bool = False,
        claim: bool = False,
        **filters: Any,
    ) -> list[E]:
        """Rows matching ``conditions`` and the ``filters`` that are given (not None): ``column=x``,
        ``column__op=x``, as the memory adapter's ``_equal`` reads them; in ``_order`` (reversed:
        ``newest``). ``claim`` locks them for this transaction, skipping rows another one holds
        (PostgreSQL). Equality filters alone run the prebuilt statement of their columns."""
        given = {k: _value(v) for k, v in filters.items() if v is not None}
        if not (conditions or limit or offset or newest or claim or any("__" in k for k in given)):
            statement = sql.select_where(self._dialect, self._t, tuple(given), order_by=self._order)
            return self._outs(statement, sql.where_params(**given))
        where = [*conditions, *(_OPS[op](self._t.c[name], v) for (name, _, op), v in _parts(given))]
        order = [self._t.c[name].desc() if newest else self._t.c[name] for name in self._order]
        statement = select(self._t).where(*where).order_by(*order).limit(limit).offset(offset or None)
        return self._outs(sql.for_update(statement, self._dialect, skip_locked=True) if claim else statement)

    def _write(self, row: dict[str, Any], **where: Any) -> int:
        """UPDATE ``row`` (minus its ``id``) where each ``where`` column equals its value."""
        statement, params = sql.update_row(self._t, row, where, "id")
        return self._uow.count(statement, params)

    def _write_rows(self, values: Sequence[E], wheres: Sequence[dict[str, Any]]) -> int:
        """Write each of ``values`` where its ``wheres`` holds: one UPDATE (executemany when there
        are several with the same guard columns); the summed row count."""
        rows = [mapping.to_row(v) for v in values]
        if len(rows) <= 1 or len({tuple(w) for w in wheres}) > 1:
            return sum(self._write(row, **where) for row, where in zip(rows, wheres, strict=True))
        statement, params = sql.update_rows(self._t, [_without_id(r) for r in rows], wheres)
        return self._uow.count(statement, params)


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


def _value(value: Any) -> Any:
    """An enum (or a collection of them) as stored."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return sorted({getattr(v, "value", v) for v in value})
    return getattr(value, "value", value)


def _parts(filters: dict[str, Any]) -> list[tuple[tuple[str, str, str], Any]]:
    return [(key.partition("__"), value) for key, value in filters.items()]


_OPS: dict[str, Any] = {"": operator.eq, "in": lambda c, v: c.in_(v), "lt": operator.lt, "ge": operator.ge}


class SqlDirectory(_Repo[E]):
    """Reference records: read by id, replaced whole (catalogue sync, demo data). The customers,
    advisors, trade-in offers and financing applications are one each, of their table and class."""

    _order = ("id",)

    def __init__(self, uow: SqlSession, table: Table | None = None, cls: type[E] | None = None) -> None:
        super().__init__(uow)
        if table is not None and cls is not None:
            self._t, self._cls = table, cls

    def upsert(self, value: E) -> None:
        row, key = mapping.to_row(value), [c.name for c in self._t.primary_key.columns]
        statement = dialect_insert(self._dialect, self._t).values(row)
        update = {name: statement.excluded[name] for name in row if name not in key}
        self._run(statement.on_conflict_do_update(index_elements=key, set_=update))


class SqlVehicles(SqlDirectory[Vehicle]):
    """See :class:`checkout_core.ports.repositories.VehicleRepository`."""

    _t, _cls = tables.vehicles, Vehicle

    def list(self, *, status: VehicleStatus | None = None, limit: int = 100, offset: int = 0) -> Sequence[Vehicle]:
        return self._find(limit=limit, offset=offset, status=status)

    def set_status(
        self, vehicle_ids: str | Sequence[str], status: VehicleStatus, *, expected: VehicleStatus | None = None
    ) -> int:
        """``UPDATE … SET status=:status WHERE id = :id AND status=:expected`` (``id IN (…)`` for
        several cars): of concurrent callers exactly one matches a row (the others wait for its
        lock, then no longer match)."""
        ids = sorted({vehicle_ids} if isinstance(vehicle_ids, str) else set(vehicle_ids))
        if not ids:
            return 0
        one = len(ids) == 1
        params = _vehicle_status_params(ids[0] if one else ids, status, expected)
        return self._uow.count(_set_vehicle_status(expected is not None, one), params)

    def move(self, vehicle_id: str, status: VehicleStatus, *, expected: VehicleStatus) -> None:
        """``UPDATE … SET status=:status WHERE id = :id AND status=:expected``, a write that may wait
        in ``together()`` (see the port)."""
        refused = _one_row(
            lambda: VehicleUnavailable(f"vehicle {vehicle_id} is no longer {expected.value}", vehicle_id=vehicle_id)
        )
        self._uow.write(_set_vehicle_status(True, True), _vehicle_status_params(vehicle_id, status, expected), refused)


class _Identified(Protocol):
    id: str


V = TypeVar("V", bound=_Identified)


class _Versioned(_Repo[V]):
    """An aggregate saved only if the row still has what this unit of work read (its status):
    two writers can never both move it on."""

    def __init__(self, uow: SqlSession) -> None:
        super().__init__(uow)
        self._seen: dict[str, dict[str, Any]] = {}  # id → the guard columns as last read or written

    def forget(self) -> None:
        """Drop what was remembered about loaded rows (after a rollback)."""
        self._seen.clear()

    def _guard(self, value: V) -> dict[str, Any]:
        """The columns that must still hold what this unit of work read (its status, …)."""
        raise NotImplementedError

    def remember(self, value: V) -> None:
        """Treat ``value`` as read by this unit of work (also when another repository read it in a join)."""
        self._seen[value.id] = self._guard(value)
        if isinstance(value, Aggregate):
            self._uow.track(value)

    def _out(self, row: mapping.Row) -> V:
        value = super()._out(row)
        self.remember(value)
        return value

    def _save(self, values: Sequence[V], expected: enum.Enum | None, what: str) -> None:
        """``UPDATE … WHERE id = :id AND <guard> = :read`` (executemany for several): each row only
        if it still has what this unit of work read (or, for one not read here, the status
        ``expected``); Conflict unless every row matched, naming ``what``."""
        ordered = sorted(values, key=lambda v: v.id)
        seen = [{"status": expected.value} if expected else self._seen.get(v.id, {}) for v in ordered]
        wheres = [{"id": v.id} | guard for v, guard in zip(ordered, seen, strict=True)]

        stale = f"{what} was changed by someone else (or does not exist); reload and try again"
        check = _one_row(lambda: Conflict(stale), len(ordered))
        if len(ordered) == 1:  # the common case, which may wait inside UnitOfWork.together
            statement, params = sql.update_row(self._t, mapping.to_row(ordered[0]), wheres[0], "id")
            self._uow.write(statement, params, check)
        else:
            check(self._write_rows(ordered, wheres))
        for value in ordered:
            self.remember(value)


class SqlReservations(_Versioned[Reservation]):
    """See :class:`checkout_core.ports.repositories.ReservationRepository`."""

    _t, _cls = tables.reservations, Reservation

    def _guard(self, value: Reservation) -> dict[str, Any]:
        return {"status": value.status.value}

    def add(self, reservation: Reservation) -> None:
        """Insert; a second active reservation for the car raises VehicleUnavailable.

        ``ON CONFLICT DO NOTHING`` against the partial unique index (rather than catching the
        IntegrityError) leaves the transaction usable on PostgreSQL without a savepoint, and
        costs one statement."""
        active = reservation.status in ACTIVE_STATUSES
        statement = _insert_active_hold(self._dialect) if active else sql.insert(self._t)
        car = reservation.vehicle_id
        check = _one_row(lambda: VehicleUnavailable(f"vehicle {car} is already reserved", vehicle_id=car))
        self._uow.write(statement, mapping.to_row(reservation), check, unique=f"reservation {reservation.id} exists")
        self.remember(reservation)

    def get_for_checkout(
        self, reservation_id: str, *, trade_in_id: str | None = None, financing_application_id: str | None = None
    ) -> CheckoutParts | None:
        """One ``SELECT reservations … LEFT JOIN`` the car, the deposit, the offer, the application
        and the least-loaded advisor (``FOR UPDATE OF reservations``; the deposit is remembered as
        read, so saving it is conditional on its status and refunds as read)."""
        params = {"id": reservation_id, "trade_in_id": trade_in_id, "financing_id": financing_application_id}
        rows = self._rows(views.reservation_for_checkout(self._dialect), params)
        if not rows:
            return None
        row = rows[0]
        deposit = views.joined(row, "deposit__", Payment)
        if deposit is not None:
            self._uow.ledger.remember(deposit)
        return CheckoutParts(
            reservation=self._out(row),
            deposit=deposit,
            vehicle=views.joined(row, "vehicle__", Vehicle),
            trade_in=views.joined(row, "trade_in__", TradeInOffer),
            financing=views.joined(row, "financing__", FinancingApplication),
            advisor=views.joined(row, "advisor__", Advisor),
        )

    def save(self, *reservations: Reservation, expected_status: ReservationStatus | None = None) -> None:
        """``UPDATE … WHERE id = :id AND status = :read`` (executemany for several; the status this
        unit of work read, or ``expected_status``); Conflict unless every row matched."""
        self._save(reservations, expected_status, "a reservation")

    def active_for_vehicle(self, vehicle_id: str) -> Reservation | None:
        """The pending or confirmed reservation holding the car, locked on PostgreSQL: the caller
        may expire an overdue hold found here, and a concurrent sweep must then skip the row."""
        found = self._outs(_active_for_vehicle(self._dialect), {"vehicle_id": vehicle_id})
        return found[0] if found else None

    def count_active_for_customer(self, customer_id: str, now: datetime) -> int:
        """:meth:`Reservation.is_active` counted in SQL. PostgreSQL: under a transaction-scoped
        advisory lock on the customer, in one statement (migration 0008). SQLite: the transaction
        already holds the database's write lock."""
        statement = _COUNT_ACTIVE_HOLDS_LOCKED if self._dialect == "postgresql" else _COUNT_ACTIVE_HOLDS
        return self._number(statement, {"customer_id": customer_id, "now": now})

    def claim_car(
        self,
        vehicle_id: str,
        *,
        customer_id: str,
        now: datetime,
        limit: int,
        hold: tuple[Reservation, Payment] | None = None,
    ) -> CarClaim:
        """PostgreSQL: one statement (:func:`_claim_car_under_limit`), a round trip less on every
        reservation; with ``hold``, the hold, its deposit intent and their outbox rows in it too
        (:func:`_claim_car_holding`), sent outside any transaction when it is the unit of work's
        first (``SqlSession.rows_first``): BEGIN, a statement and COMMIT less. SQLite: the count,
        then the claim (the transaction holds the write lock), then the hold."""
        claim = _vehicle_status_params(vehicle_id, VehicleStatus.RESERVED, VehicleStatus.AVAILABLE)
        if self._dialect != "postgresql":
            held = self.count_active_for_customer(customer_id, now)
            claimed = held < limit and self._uow.count(_set_vehicle_status(True, True), claim) == 1
            car_exists = claimed or self._number(_VEHICLE_EXISTS, {"ids": vehicle_id}) == 1
            if claimed and hold is not None:
                self.add(hold[0])
                self._uow.ledger.add_payment(hold[1])
            return CarClaim(held, claimed=claimed, car_exists=car_exists, hold_made=claimed and hold is not None)
        params = {"customer_id": customer_id, "now": now, "limit": limit, **claim}
        if hold is None:
            (row,) = self._rows(_claim_car_under_limit(), params)
            return CarClaim(int(row["held"]), claimed=int(row["claimed"]) == 1, car_exists=bool(row["car"]))
        reservation, deposit = hold
        hold_row, deposit_row = mapping.to_row(reservation), mapping.to_row(deposit)
        events = self._uow.outbox_rows_of(reservation)
        event_rows = [mapping.to_row(event) for event in events]
        event_keys = tuple(event_rows[0]) if event_rows else ()
        statement = _claim_car_holding(tuple(hold_row), tuple(deposit_row), event_keys, len(event_rows))
        params |= {f"r_{k}": v for k, v in hold_row.items()} | {f"p_{k}": v for k, v in deposit_row.items()}
        for n, event_row in enumerate(event_rows):
            params |= {f"e{n}_{k}": v for k, v in event_row.items()}
        try:
            found, _ = self._uow.rows_first(statement, params)
        except sa_exc.IntegrityError as error:
            diag = getattr(error.orig, "diag", None)
            table, constraint = getattr(diag, "table_name", None), getattr(diag, "constraint_name", None)
            if not is_unique_violation(error) or table not in ("reservations", "payments"):
                raise
            # As add() and add_payment() would answer (nothing of the statement was written).
            if table == "reservations" and constraint != "pk_reservations":
                raise VehicleUnavailable(f"vehicle {vehicle_id} is already reserved", vehicle_id=vehicle_id) from None
            what = f"reservation {reservation.id}" if table == "reservations" else f"payment {deposit.id}"
            raise Conflict(f"{what} exists") from None
        (row,) = found
        made = int(row["hold"]) == 1
        if made:
            self._uow.written_with(reservation, events)
            self.remember(reservation)
            self._uow.ledger.remember(deposit)
        return CarClaim(
            int(row["held"]),
            claimed=int(row["claimed"]) == 1,
            car_exists=bool(row["car"]),
            hold_made=made,
            hold_id_taken=bool(row["taken"]),
        )

    def claim_due_for_expiry(self, now: datetime, limit: int) -> Sequence[tuple[Reservation, Payment | None]]:
        """One ``SELECT … LEFT JOIN payments … FOR UPDATE OF reservations SKIP LOCKED``: the sweep
        needs the deposits to refund them. Only the reservations are locked; the payments are
        then written with conditional updates (the ledger remembers how they were read)."""
        found: list[tuple[Reservation, Payment | None]] = []
        for row in self._rows(_due_with_deposits(self._dialect), {"now": now, "limit": limit}):
            deposit = views.joined(row, "deposit__", Payment)
            if deposit is not None:
                self._uow.ledger.remember(deposit)
            found.append((self._out(row), deposit))
        return found

    def claim_stale_pending(self, older_than: datetime, limit: int) -> Sequence[Reservation]:
        """Pending deposits created before ``older_than``, locked (SKIP LOCKED on PostgreSQL)."""
        pending = ReservationStatus.PENDING_DEPOSIT
        return self._find(limit=limit, claim=True, status=pending, created_at__lt=older_than)

    def list(
        self,
        *,
        customer_id: str | None = None,
        status: ReservationStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Reservation]:
        return self._find(limit=limit, offset=offset, newest=True, customer_id=customer_id, status=status)


class SqlOrders(_Repo[Order]):
    """See :class:`checkout_core.ports.repositories.OrderRepository`."""

    _t, _cls = tables.orders, Order

    def add(self, order: Order) -> None:
        check = _one_row(lambda: RuntimeError(f"order {order.id}: the INSERT wrote no row"))
        unique = f"order {order.id} conflicts with an existing order"
        self._uow.write(sql.insert(self._t), mapping.to_row(order), check, unique=unique)
        self._uow.track(order)

    def get_by_number(self, number: str) -> Order | None:
        return self._by(number=number)

    def save(self, order: Order) -> None:
        """``UPDATE … WHERE id = :id AND version = :loaded``; no row → Conflict. Bumps the version."""
        row = mapping.to_row(order) | {"version": order.version + 1}
        if self._write(row, id=order.id, version=order.version) != 1:
            raise Conflict(f"order {order.id} was changed by someone else; reload and try again")
        order.version += 1
        self._uow.track(order)

    def awaiting_signature(self, provider: str, limit: int) -> Sequence[Order]:
        """``status = 'pending_documents'`` and the envelope document's ``status`` and
        ``provider`` (JSON fields, read by the database), oldest first."""
        sent = self._t.c.envelope["status"].as_string() == "sent"
        at_provider = self._t.c.envelope["provider"].as_string() == provider
        return self._find(sent, at_provider, limit=limit, status=OrderStatus.PENDING_DOCUMENTS)

    def get_for_view(self, order_id: str) -> OrderForView | None:
        """One ``SELECT orders … LEFT JOIN vehicles … LEFT JOIN advisors`` by the order's id,
        with the order's events aggregated in a subquery (:func:`views.orders_with_parties`)."""
        rows = self._rows(views.orders_with_parties(self._dialect, False), {"id": order_id})
        if not rows:
            return None
        (row,) = rows
        order, vehicle, advisor = self._parties_of(row)
        return OrderForView(
            order=order, vehicle=vehicle, advisor=advisor, events=views.stored_events(row[views.EVENTS])
        )

    def claim_awaiting_agreement(
        self, limit: int, *, skip: frozenset[str] = frozenset()
    ) -> Sequence[tuple[Order, Vehicle | None, Advisor | None]]:
        """The partial index ``ix_orders_awaiting_agreement``, joined with cars and advisors;
        ``FOR UPDATE OF orders SKIP LOCKED`` on PostgreSQL (SQLite's writer lock serialises)."""
        return self._parties(views.orders_with_parties(self._dialect, True), {"limit": limit, "skip": sorted(skip)})

    def _parties(self, statement: Select[Any], params: Any) -> list[tuple[Order, Vehicle | None, Advisor | None]]:
        return [self._parties_of(row) for row in self._rows(statement, params)]

    def _parties_of(self, row: mapping.Row) -> tuple[Order, Vehicle | None, Advisor | None]:
        return self._out(row), views.joined(row, "vehicle__", Vehicle), views.joined(row, "advisor__", Advisor)

    def next_number(self, year: int) -> int:
        """``INSERT … ON CONFLICT DO UPDATE … RETURNING`` creates or bumps the year's counter in
        one statement; its row lock serialises checkouts of the same year until commit, so no two
        transactions get the same number (a rolled-back checkout gives its number back)."""
        return self._number(_bump_order_number(self._dialect), {"year": year})

    def list(
        self,
        *,
        customer_id: str | None = None,
        status: OrderStatus | None = None,
        advisor_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Order]:
        wanted: dict[str, Any] = {"customer_id": customer_id, "status": status, "advisor_id": advisor_id}
        return self._find(limit=limit, offset=offset, newest=True, **wanted)

    def claim_due_for_completion(self, delivered_before: datetime, limit: int) -> Sequence[Order]:
        """Delivered orders whose return window closed, locked (SKIP LOCKED on PostgreSQL)."""
        c = self._t.c
        delivered = and_(c.status == OrderStatus.DELIVERED.value, c.delivered_at.is_not(None))
        statement = select(self._t).where(delivered, c.delivered_at <= delivered_before).order_by(c.id).limit(limit)
        return self._outs(sql.for_update(statement, self._dialect, skip_locked=True))


class _Refunds(_Repo[Refund]):
    _t, _cls = tables.refunds, Refund


class _Disputes(_Repo[Dispute]):
    _t, _cls, _order = tables.disputes, Dispute, ("opened_at", "id")


class SqlLedger(_Versioned[Payment]):
    """See :class:`checkout_core.ports.repositories.PaymentLedger`.

    A refund reserves its amount by raising ``refunded`` on the payment; a payment is written
    only if its status and refunded amount are what this unit of work read, so two concurrent
    refunds of one payment cannot both succeed and together exceed what was paid."""

    _t, _cls = tables.payments, Payment

    def __init__(self, uow: SqlSession) -> None:
        super().__init__(uow)
        self._refunds = _Refunds(uow)
        self._disputes = _Disputes(uow)

    def _guard(self, value: Payment) -> dict[str, Any]:
        return {"status": value.status.value, "refunded_cents": value.refunded.cents}

    def add_payment(self, payment: Payment) -> None:
        """Insert; a second payment with the same idempotency key is a Conflict (unique index)."""
        statement = sql.insert_or_skip(self._dialect, self._t, ("idempotency_key",))
        check = _one_row(lambda: Conflict(f"a payment with key {payment.idempotency_key} exists"))
        self._uow.write(statement, mapping.to_row(payment), check, unique=f"payment {payment.id} exists")
        self.remember(payment)

    def save_payment(self, *payments: Payment, expected_status: PaymentStatus | None = None) -> None:
        """``UPDATE … WHERE id = :id AND status = :read AND refunded_cents = :read`` (executemany for
        several): what this unit of work read each payment with (or, for one not read here, the
        status ``expected_status``); Conflict unless every row matched: someone refunded or
        settled it meanwhile."""
        self._save(payments, expected_status, "a payment")

    def get_payment(
        self, payment_id: str | None = None, *, idempotency_key: str | None = None, gateway_ref: str | None = None
    ) -> Payment | None:
        return self._lookup(id=payment_id, idempotency_key=idempotency_key, gateway_ref=gateway_ref)

    def payments_for(
        self,
        *,
        order_id: str | None = None,
        reservation_id: str | None = None,
        idempotency_keys: Sequence[str] | None = None,
        status: PaymentStatus | None = None,
        created_since: datetime | None = None,
        created_before: datetime | None = None,
        limit: int | None = None,
    ) -> Sequence[Payment]:
        owner = {"order_id": order_id, "reservation_id": reservation_id}
        c = self._t.c
        either = [or_(c.order_id == order_id, c.reservation_id == reservation_id)] if None not in owner.values() else []
        wanted: dict[str, Any] = {"idempotency_key__in": idempotency_keys, "status": status}
        wanted |= {"created_at__ge": created_since, "created_at__lt": created_before} | ({} if either else owner)
        if not (either or any(v is not None for v in wanted.values())) or idempotency_keys == []:
            return []  # payments of nobody (no filter, no keys) are none, not all of them
        return self._find(*either, limit=limit, **wanted)

    def owed_payments(
        self,
        limit: int,
        *,
        reservation_statuses: Sequence[ReservationStatus],
        order_statuses: Sequence[OrderStatus],
        purposes: Sequence[PaymentPurpose],
    ) -> Sequence[Payment]:
        """One SELECT over each payment's order and reservation (see the port)."""
        return self._find(*views.owed_payments(reservation_statuses, order_statuses, purposes), limit=limit)

    # -- refunds

    def add_refunds(self, refunds: Sequence[Refund]) -> Sequence[Refund]:
        """One executemany ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING`` of a statement
        prepared once. The refunds returned are those inserted; the others were opened before (a
        replay) — told apart, only when some but not all rows were skipped, by one more ``SELECT``."""
        if not refunds:
            return []
        t = tables.refunds
        statement = sql.insert_or_skip(self._dialect, t, ("idempotency_key",))
        with conflict_on_unique("a refund of this batch exists"):
            result = self._run(statement, [mapping.to_row(r) for r in refunds])
        if result.rowcount in (0, len(refunds)):
            return list(refunds) if result.rowcount else []
        inserted = set(self._run(select(t.c.id).where(t.c.id.in_([r.id for r in refunds]))).scalars().all())
        return [r for r in refunds if r.id in inserted]

    def save_refunds(self, refunds: Sequence[Refund], *, expected_status: RefundStatus | None = None) -> int:
        """One (executemany) ``UPDATE … WHERE id = :id [AND status = :expected]``; returns how many
        rows were written (those no longer ``expected_status`` are skipped)."""
        ordered = sorted(refunds, key=lambda r: r.id)
        guard = {} if expected_status is None else {"status": expected_status.value}
        return self._refunds._write_rows(ordered, [{"id": r.id} | guard for r in ordered])

    def get_refund(self, refund_id: str | None = None, *, gateway_ref: str | None = None) -> Refund | None:
        return self._refunds._lookup(id=refund_id, gateway_ref=gateway_ref)

    def refunds_for(
        self,
        payment_id: str | None = None,
        *,
        status: RefundStatus | None = None,
        method: PaymentMethod | None = None,
        updated_before: datetime | None = None,
        created_since: datetime | None = None,
        created_before: datetime | None = None,
        limit: int | None = None,
    ) -> Sequence[Refund]:
        """``method``: refunds of payments made that way (a subquery; filtered before the limit)."""
        paid = select(self._t.c.id).where(self._t.c.method == _value(method))
        paid_by = [] if method is None else [tables.refunds.c.payment_id.in_(paid)]
        wanted: dict[str, Any] = {"payment_id": payment_id, "status": status, "updated_at__lt": updated_before}
        wanted |= {"created_at__ge": created_since, "created_at__lt": created_before}
        return self._refunds._find(*paid_by, limit=limit, **wanted)

    def lease_refund(self, refund_id: str, *, seen: datetime, now: datetime) -> bool:
        """``UPDATE refunds SET updated_at = :now WHERE id = :id AND status = 'pending' AND
        updated_at = :seen``: exactly one of several concurrent callers gets the row."""
        where = {"id": refund_id, "status": RefundStatus.PENDING.value, "updated_at": seen}
        return self._refunds._write({"updated_at": now}, **where) == 1

    # -- disputes

    def add_dispute(self, dispute: Dispute) -> bool:
        """``INSERT … ON CONFLICT (gateway_ref) DO NOTHING``: False when the gateway's dispute is
        recorded already (a redelivered or reordered webhook)."""
        statement = sql.insert_or_skip(self._dialect, tables.disputes, ("gateway_ref",))
        return self._uow.count(statement, mapping.to_row(dispute)) == 1

    def save_dispute(self, dispute: Dispute, *, expected_status: DisputeStatus) -> bool:
        return self._disputes._write(mapping.to_row(dispute), id=dispute.id, status=expected_status.value) == 1

    def disputes(
        self, *, status: DisputeStatus | None = None, gateway_ref: str | None = None, limit: int = 100
    ) -> Sequence[Dispute]:
        return self._disputes._find(limit=limit, status=status, gateway_ref=gateway_ref)


class SqlOutbox(_Repo[StoredEvent]):
    """See :class:`checkout_core.ports.repositories.Outbox`.

    ``add`` buffers; the buffer is written with one multi-row INSERT when the unit of work
    commits (or before any outbox read), so a commit costs one outbox statement, not one per
    event, and the events are still part of the same transaction as the change."""

    _t, _cls, _order = tables.outbox, StoredEvent, ("seq",)

    def __init__(self, uow: SqlSession) -> None:
        super().__init__(uow)
        self._pending: list[dict[str, Any]] = []

    def add(self, event: StoredEvent) -> None:
        self._pending.append(mapping.to_row(event))

    def flush(self) -> None:
        """Write the staged events (in the order they were added: ``seq`` follows it)."""
        if rows := self.take():
            self._run(sql.insert(self._t), rows)

    def discard(self) -> None:
        self._pending.clear()

    def take(self) -> list[dict[str, Any]]:
        """The staged rows, handed over unwritten (a parked final transaction writes them with
        the request's stored answer: :meth:`adapters.sql.idempotency.SqlCall.park`)."""
        rows, self._pending = self._pending, []
        return rows

    def for_aggregate(self, aggregate_id: str) -> Sequence[StoredEvent]:
        self.flush()
        return self._find(aggregate_id=aggregate_id)

    def claim_unpublished(self, limit: int) -> Sequence[StoredEvent]:
        """The oldest unpublished events, locked so that parallel relays skip them (PostgreSQL)."""
        self.flush()
        return self._find(self._t.c.published_at.is_(None), limit=limit, claim=True)

    def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        if event_ids:
            self.flush()
            self._run(self._t.update().where(self._t.c.id.in_(list(event_ids))).values(published_at=at))


class SqlAuditTrail(_Repo[AuditEntry]):
    """See :class:`checkout_core.ports.repositories.SigningAuditTrail`. The primary key
    (order_id, sequence) makes two writers appending the same link a Conflict, not a fork."""

    _t, _cls, _order = tables.signing_audit, AuditEntry, ("sequence",)

    def append(self, entry: AuditEntry) -> None:
        statement = sql.insert_or_skip(self._dialect, self._t, ("order_id", "sequence"))
        if self._uow.count(statement, mapping.to_row(entry)) != 1:
            raise Conflict(f"audit entry {entry.sequence} of order {entry.order_id} exists")

    def entries(self, order_id: str) -> Sequence[AuditEntry]:
        return self._find(order_id=order_id)
