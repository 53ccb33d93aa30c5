"""An in-memory unit of work with real transaction semantics.

One lock serialises units of work (like SERIALIZABLE isolation); repositories hand out copies,
so changes reach the shared store only on commit, and a rollback restores the snapshot. Each
table is a dict of entities filtered by the core's own predicates (``Reservation.is_active``,
``Order.awaits_agreement``, the status sets of :mod:`checkout_core.model`): no rule is restated."""

from __future__ import annotations

import copy
import operator
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import attrs

from checkout_core.errors import Conflict, VehicleUnavailable
from checkout_core.model.aggregate import Aggregate
from checkout_core.model.audit import AuditEntry
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
from checkout_core.model.reservation import ACTIVE_STATUSES, Reservation, ReservationStatus
from checkout_core.model.vehicle import Vehicle, VehicleStatus
from checkout_core.ports.clock import IdGenerator
from checkout_core.ports.repositories import CarClaim, CheckoutParts, OrderForView, StoredEvent
from checkout_core.ports.unit_of_work import EventHandler, UnitOfWorkBase

E = TypeVar("E")


@attrs.define
class MemoryStore:
    """The shared state behind every in-memory unit of work."""

    vehicles: dict[str, Vehicle] = attrs.field(factory=dict)
    reservations: dict[str, Reservation] = attrs.field(factory=dict)
    orders: dict[str, Order] = attrs.field(factory=dict)
    payments: dict[str, Payment] = attrs.field(factory=dict)
    refunds: dict[str, Refund] = attrs.field(factory=dict)
    disputes: dict[str, Dispute] = attrs.field(factory=dict)
    customers: dict[str, Customer] = attrs.field(factory=dict)
    advisors: dict[str, Advisor] = attrs.field(factory=dict)
    trade_ins: dict[str, TradeInOffer] = attrs.field(factory=dict)
    financing: dict[str, FinancingApplication] = attrs.field(factory=dict)
    events: dict[str, StoredEvent] = attrs.field(factory=dict)
    audit: dict[str, AuditEntry] = attrs.field(factory=dict)
    order_numbers: dict[int, int] = attrs.field(factory=dict)
    lock: threading.RLock = attrs.field(factory=threading.RLock, eq=False, repr=False)

    def snapshot(self) -> dict[str, object]:
        """Shallow copies of every table (entities are replaced, never mutated, in the store)."""
        return {f.name: copy.copy(getattr(self, f.name)) for f in attrs.fields(MemoryStore) if f.name != "lock"}

    def restore(self, snapshot: dict[str, object]) -> None:
        """Put the tables back as they were."""
        for name, value in snapshot.items():
            setattr(self, name, value)


def _by_created(value: Any) -> tuple[Any, str]:
    return value.created_at, value.id


class _Table(Generic[E]):
    """One table of the store: copies in and out, filtered and ordered like the SQL adapter's."""

    table: str
    order: Callable[[Any], Any] = staticmethod(_by_created)

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow
        self._s = uow.store

    @property
    def _rows(self) -> dict[str, E]:
        rows: dict[str, E] = getattr(self._s, self.table)
        return rows

    def _out(self, value: E) -> E:
        mine = copy.deepcopy(value)
        if isinstance(mine, Aggregate):
            self._uow.track(mine)
        return mine

    def get(self, record_id: str, *, for_update: bool = False) -> E | None:
        """The record, or None (one lock serialises units of work: nothing to lock)."""
        found = self._rows.get(record_id)
        return None if found is None else self._out(found)

    def _put(self, value: E, key: str | None = None) -> None:
        record: Any = value
        if isinstance(record, Aggregate):
            self._uow.track(record)
        stored = copy.deepcopy(record)
        if isinstance(stored, Aggregate):
            stored.pending_events = []
        self._rows[key or record.id] = stored

    def _add(self, value: E, key: str | None = None) -> None:
        """Insert a new record: Conflict if its key (the SQL primary key) is taken."""
        record: Any = value
        if (key or record.id) in self._rows:
            raise Conflict(f"{self.table} {key or record.id} exists")
        self._put(value, key)

    def _find(
        self,
        match: Callable[[E], bool] = lambda _: True,
        *,
        limit: int | None = None,
        offset: int = 0,
        newest: bool = False,
        **filters: Any,
    ) -> list[E]:
        """Copies of the records passing ``match`` and ``filters`` (see :func:`_equal`), in ``order``."""
        found = (v for v in self._rows.values() if match(v) and _equal(v, **filters))
        rows = sorted(found, key=self.order, reverse=newest)
        return [self._out(v) for v in rows[offset : None if limit is None else offset + limit]]

    def _lookup(self, **by: Any) -> E | None:
        """The record whose one given (not None) field equals its value."""
        given = [(k, v) for k, v in by.items() if v is not None]
        if len(given) != 1:
            raise TypeError(f"look up by exactly one of {sorted(by)}")
        ((name, value),) = given
        return self.get(value) if name == "id" else next(iter(self._find(limit=1, **{name: value})), None)

    def _changed(self, record_id: str, expected: object = None) -> bool:
        """True when the stored record is missing or not in the ``expected`` status (when given)."""
        current: Any = self._rows.get(record_id)
        return current is None or (expected is not None and current.status is not expected)


#: ``field__op`` filters, as the SQL adapter's ``_Repo._find`` reads them.
_OPS: dict[str, Callable[[Any, Any], bool]] = {"": operator.eq, "in": lambda a, b: a in b}
_OPS |= {"lt": operator.lt, "ge": operator.ge}


def _equal(value: object, **wanted: object) -> bool:
    """Whether ``value`` passes every filter that is given (not None): ``field=x``, ``field__op=x``."""
    for key, want in wanted.items():
        name, _, op = key.partition("__")
        if want is not None and not _OPS[op](getattr(value, name), want):
            return False
    return True


class MemoryDirectory(_Table[E]):
    """Reference records by id (the customers, advisors, trade-in offers and financing
    applications are one each, of their table)."""

    order = staticmethod(lambda v: v.id)

    def __init__(self, uow: MemoryUnitOfWork, table: str | None = None) -> None:
        super().__init__(uow)
        self.table = table or self.table

    def upsert(self, value: E) -> None:
        self._put(value)


class MemoryVehicles(MemoryDirectory[Vehicle]):
    """See :class:`checkout_core.ports.repositories.VehicleRepository`."""

    table = "vehicles"

    def list(self, *, status: VehicleStatus | None = None, limit: int = 100, offset: int = 0) -> Sequence[Vehicle]:
        return self._find(limit=limit, offset=offset, status=status)

    def set_status(
        self, vehicle_ids: str | Sequence[str], status: VehicleStatus, *, expected: VehicleStatus | None = None
    ) -> int:
        ids = {vehicle_ids} if isinstance(vehicle_ids, str) else set(vehicle_ids)
        changed = [v for v in ids if not self._changed(v, expected)]
        for vehicle_id in changed:
            self._rows[vehicle_id] = attrs.evolve(self._rows[vehicle_id], status=status)
        return len(changed)

    def move(self, vehicle_id: str, status: VehicleStatus, *, expected: VehicleStatus) -> None:
        if not self.set_status(vehicle_id, status, expected=expected):
            raise VehicleUnavailable(f"vehicle {vehicle_id} is no longer {expected.value}", vehicle_id=vehicle_id)


class MemoryReservations(_Table[Reservation]):
    """See :class:`checkout_core.ports.repositories.ReservationRepository`."""

    table = "reservations"

    def add(self, reservation: Reservation) -> None:
        if reservation.status in ACTIVE_STATUSES and self.active_for_vehicle(reservation.vehicle_id) is not None:
            raise VehicleUnavailable(f"vehicle {reservation.vehicle_id} is already reserved")
        self._add(reservation)

    def get_for_checkout(
        self, reservation_id: str, *, trade_in_id: str | None = None, financing_application_id: str | None = None
    ) -> CheckoutParts | None:
        if (found := self.get(reservation_id)) is None:
            return None
        uow, load = self._uow, Counter(o.advisor_id for o in self._s.orders.values() if o.status in OPEN_STATUSES)
        least = min((a for a in self._s.advisors.values() if a.active), key=lambda a: (load[a.id], a.id), default=None)
        trade_in = uow.trade_ins.get(trade_in_id) if trade_in_id else None
        financing = uow.financing.get(financing_application_id) if financing_application_id else None
        vehicle = uow.vehicles.get(found.vehicle_id)
        deposit = uow.ledger.get_payment(idempotency_key=found.deposit_idempotency_key)
        return CheckoutParts(
            reservation=found, vehicle=vehicle, trade_in=trade_in, financing=financing, advisor=least, deposit=deposit
        )

    def save(self, *reservations: Reservation, expected_status: ReservationStatus | None = None) -> None:
        if expected_status is not None and any(self._changed(r.id, expected_status) for r in reservations):
            raise Conflict("a reservation was changed by someone else")
        for reservation in reservations:
            self._put(reservation)

    def active_for_vehicle(self, vehicle_id: str) -> Reservation | None:
        return next(iter(self._find(limit=1, vehicle_id=vehicle_id, status__in=ACTIVE_STATUSES)), None)

    def count_active_for_customer(self, customer_id: str, now: datetime) -> int:
        return sum(1 for r in self._rows.values() if r.customer_id == customer_id and r.is_active(now))

    def claim_car(
        self,
        vehicle_id: str,
        *,
        customer_id: str,
        now: datetime,
        limit: int,
        hold: tuple[Reservation, Payment] | None = None,
    ) -> CarClaim:
        held = self.count_active_for_customer(customer_id, now)
        exists = self._uow.vehicles.get(vehicle_id) is not None
        if held >= limit:
            return CarClaim(held, claimed=False, car_exists=exists)
        reserved, available = VehicleStatus.RESERVED, VehicleStatus.AVAILABLE
        claimed = self._uow.vehicles.set_status(vehicle_id, reserved, expected=available) == 1
        if claimed and hold is not None:
            self.add(hold[0])
            self._uow.ledger.add_payment(hold[1])
        return CarClaim(held, claimed=claimed, car_exists=exists, hold_made=claimed and hold is not None)

    def claim_due_for_expiry(self, now: datetime, limit: int) -> Sequence[tuple[Reservation, Payment | None]]:
        by_key = {p.idempotency_key: p for p in self._s.payments.values()}
        due = sorted((r for r in self._rows.values() if r.is_overdue(now)), key=lambda r: (r.expires_at, r.id))
        return [(self._out(r), copy.deepcopy(by_key.get(r.deposit_idempotency_key))) for r in due[:limit]]

    def claim_stale_pending(self, older_than: datetime, limit: int) -> Sequence[Reservation]:
        pending = ReservationStatus.PENDING_DEPOSIT
        return self._find(limit=limit, status=pending, created_at__lt=older_than)

    def list(
        self,
        *,
        customer_id: str | None = None,
        status: ReservationStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Reservation]:
        return self._find(limit=limit, offset=offset, newest=True, customer_id=customer_id, status=status)


class MemoryOrders(_Table[Order]):
    """See :class:`checkout_core.ports.repositories.OrderRepository`."""

    table = "orders"

    def add(self, order: Order) -> None:
        self._add(order)

    def get_by_number(self, number: str) -> Order | None:
        return self._lookup(number=number)

    def save(self, order: Order) -> None:
        current = self._rows.get(order.id)
        if current is None or current.version != order.version:
            raise Conflict(f"order {order.id} was changed by someone else; reload and try again")
        order.version += 1
        self._put(order)

    def awaiting_signature(self, provider: str, limit: int) -> Sequence[Order]:
        def sent(o: Order) -> bool:
            return o.envelope is not None and (o.envelope.status, o.envelope.provider) == ("sent", provider)

        return self._find(sent, limit=limit, status=OrderStatus.PENDING_DOCUMENTS)

    def _with_parties(self, order: Order) -> tuple[Order, Vehicle | None, Advisor | None]:
        return order, self._s.vehicles.get(order.vehicle_id), self._s.advisors.get(order.advisor_id)

    def get_for_view(self, order_id: str) -> OrderForView | None:
        order = self.get(order_id)
        if order is None:
            return None
        _, vehicle, advisor = self._with_parties(order)
        events = tuple(self._uow.outbox.for_aggregate(order_id))
        return OrderForView(order=order, vehicle=vehicle, advisor=advisor, events=events)

    def claim_awaiting_agreement(
        self, limit: int, *, skip: frozenset[str] = frozenset()
    ) -> Sequence[tuple[Order, Vehicle | None, Advisor | None]]:
        waiting = self._find(lambda o: o.awaits_agreement and o.id not in skip, limit=limit)
        return [self._with_parties(o) for o in waiting]

    def next_number(self, year: int) -> int:
        n = self._s.order_numbers.get(year, FIRST_ORDER_NUMBER - 1) + 1
        self._s.order_numbers[year] = n
        return n

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
        def due(o: Order) -> bool:
            return o.delivered_at is not None and o.delivered_at <= delivered_before

        return sorted(self._find(due, status=OrderStatus.DELIVERED), key=lambda o: o.id)[:limit]


class _Refunds(_Table[Refund]):
    table = "refunds"


class _Disputes(_Table[Dispute]):
    table = "disputes"
    order = staticmethod(lambda d: (d.opened_at, d.id))


class MemoryLedger(_Table[Payment]):
    """See :class:`checkout_core.ports.repositories.PaymentLedger`. One lock serialises units of
    work, so nothing can have changed a payment since this one read it."""

    table = "payments"

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        super().__init__(uow)
        self._refunds = _Refunds(uow)
        self._disputes = _Disputes(uow)

    def add_payment(self, payment: Payment) -> None:
        if any(p.idempotency_key == payment.idempotency_key for p in self._rows.values()):
            raise Conflict(f"a payment with key {payment.idempotency_key} exists")
        self._put(payment)

    def save_payment(self, *payments: Payment, expected_status: PaymentStatus | None = None) -> None:
        if any(self._changed(p.id, expected_status) for p in payments):
            raise Conflict("a payment was changed by someone else (or does not exist)")
        for payment in payments:
            self._put(payment)

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
        wanted: dict[str, Any] = {"idempotency_key__in": idempotency_keys, "status": status}
        wanted |= {"created_at__ge": created_since, "created_at__lt": created_before}
        if order_id is None and reservation_id is None:
            return self._find(limit=limit, **wanted) if any(v is not None for v in wanted.values()) else []
        return self._find(
            lambda p: p.order_id == order_id is not None or p.reservation_id == reservation_id is not None,
            limit=limit,
            **wanted,
        )

    def owed_payments(
        self,
        limit: int,
        *,
        reservation_statuses: Sequence[ReservationStatus],
        order_statuses: Sequence[OrderStatus],
        purposes: Sequence[PaymentPurpose],
    ) -> Sequence[Payment]:
        failed = {r.payment_id for r in self._s.refunds.values() if r.status is RefundStatus.FAILED}

        def owed(p: Payment) -> bool:
            if p.status is not PaymentStatus.SUCCEEDED or p.refundable.cents <= 0 or p.id in failed:
                return False
            if p.purpose in purposes:
                return True
            if p.order_id is not None:
                order = self._s.orders.get(p.order_id)
                return order is not None and order.status in order_statuses
            reservation = self._s.reservations.get(p.reservation_id) if p.reservation_id else None
            return reservation is not None and reservation.status in reservation_statuses

        return self._find(owed, limit=limit)

    # -- refunds

    def add_refunds(self, refunds: Sequence[Refund]) -> Sequence[Refund]:
        keys = {r.idempotency_key for r in self._s.refunds.values()}
        added: list[Refund] = []
        for refund in refunds:
            if refund.idempotency_key not in keys:
                keys.add(refund.idempotency_key)
                self._refunds._put(refund)
                added.append(refund)
        return added

    def save_refunds(self, refunds: Sequence[Refund], *, expected_status: RefundStatus | None = None) -> int:
        written = [r for r in refunds if not self._refunds._changed(r.id, expected_status)]
        for refund in written:
            self._refunds._put(refund)
        return len(written)

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
        wanted: dict[str, Any] = {"payment_id": payment_id, "status": status, "updated_at__lt": updated_before}
        wanted |= {"created_at__ge": created_since, "created_at__lt": created_before}

        paid_by = {p.id for p in self._rows.values() if p.method is method} if method else None
        return self._refunds._find(limit=limit, payment_id__in=paid_by, **wanted)

    def lease_refund(self, refund_id: str, *, seen: datetime, now: datetime) -> bool:
        current = self._s.refunds.get(refund_id)
        if current is None or current.status is not RefundStatus.PENDING or current.updated_at != seen:
            return False
        self._s.refunds[refund_id] = attrs.evolve(current, updated_at=now)
        return True

    # -- disputes

    def add_dispute(self, dispute: Dispute) -> bool:
        if self.disputes(gateway_ref=dispute.gateway_ref):
            return False
        self._disputes._add(dispute)
        return True

    def save_dispute(self, dispute: Dispute, *, expected_status: DisputeStatus) -> bool:
        if self._disputes._changed(dispute.id, expected_status):
            return False
        self._disputes._put(dispute)
        return True

    def disputes(
        self, *, status: DisputeStatus | None = None, gateway_ref: str | None = None, limit: int = 100
    ) -> Sequence[Dispute]:
        return self._disputes._find(limit=limit, status=status, gateway_ref=gateway_ref)


class MemoryAuditTrail(_Table[AuditEntry]):
    """See :class:`checkout_core.ports.repositories.SigningAuditTrail`."""

    table = "audit"
    order = staticmethod(lambda e: e.sequence)

    def append(self, entry: AuditEntry) -> None:
        self._add(entry, f"{entry.order_id}/{entry.sequence}")

    def entries(self, order_id: str) -> Sequence[AuditEntry]:
        return self._find(order_id=order_id)


class MemoryOutbox(_Table[StoredEvent]):
    """See :class:`checkout_core.ports.repositories.Outbox`. Dicts keep insertion order, which
    plays the part of the SQL outbox's ``seq``."""

    table = "events"

    def add(self, event: StoredEvent) -> None:
        self._rows[event.id] = event

    def for_aggregate(self, aggregate_id: str) -> Sequence[StoredEvent]:
        return [e for e in self._rows.values() if e.aggregate_id == aggregate_id]

    def claim_unpublished(self, limit: int) -> Sequence[StoredEvent]:
        return [e for e in self._rows.values() if e.published_at is None][:limit]

    def mark_published(self, event_ids: Iterable[str], at: datetime) -> None:
        for event_id in set(event_ids) & self._rows.keys():
            self._rows[event_id] = attrs.evolve(self._rows[event_id], published_at=at)


class MemoryUnitOfWork(UnitOfWorkBase):
    """See :class:`checkout_core.ports.unit_of_work.UnitOfWork`."""

    def __init__(self, store: MemoryStore, ids: IdGenerator, handlers: Sequence[EventHandler] = ()) -> None:
        super().__init__(ids, handlers)
        self.store = store
        self._snapshot: dict[str, object] | None = None
        self.vehicles = MemoryVehicles(self)
        self.reservations = MemoryReservations(self)
        self.orders = MemoryOrders(self)
        self.ledger = MemoryLedger(self)
        self.customers = MemoryDirectory[Customer](self, "customers")
        self.advisors = MemoryDirectory[Advisor](self, "advisors")
        self.trade_ins = MemoryDirectory[TradeInOffer](self, "trade_ins")
        self.financing = MemoryDirectory[FinancingApplication](self, "financing")
        self.outbox = MemoryOutbox(self)
        self.audit = MemoryAuditTrail(self)

    def __enter__(self) -> Self:
        self.store.lock.acquire()
        self._snapshot = self.store.snapshot()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._snapshot is not None:
                self.rollback()
        finally:
            self.store.lock.release()

    def _commit(self) -> None:
        self._snapshot = self.store.snapshot()

    def _rollback(self) -> None:
        if self._snapshot is not None:
            self.store.restore(self._snapshot)
            self._snapshot = self.store.snapshot()
