"""An in-memory unit of work with real transaction semantics.

One lock serialises units of work (like SERIALIZABLE isolation); repositories hand out copies,
so changes reach the shared store only on commit, and a rollback restores the snapshot."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

import attrs

from checkout_core.errors import Conflict, VehicleUnavailable
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
from checkout_core.ports.repositories import StoredEvent
from checkout_core.ports.unit_of_work import EventHandler, UnitOfWorkBase


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
    events: list[StoredEvent] = attrs.field(factory=list)
    audit: list[AuditEntry] = attrs.field(factory=list)
    order_numbers: dict[int, int] = attrs.field(factory=dict)
    lock: threading.RLock = attrs.field(factory=threading.RLock, eq=False, repr=False)

    def snapshot(self) -> dict[str, object]:
        """Shallow copies of every table (entities are replaced, never mutated, in the store)."""
        return {f.name: copy.copy(getattr(self, f.name)) for f in attrs.fields(MemoryStore) if f.name != "lock"}

    def restore(self, snapshot: dict[str, object]) -> None:
        """Put the tables back as they were."""
        for name, value in snapshot.items():
            setattr(self, name, value)


class _Repo:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow
        self._s = uow.store


class MemoryVehicles(_Repo):
    """See :class:`checkout_core.ports.repositories.VehicleRepository`."""

    def get(self, vehicle_id: str) -> Vehicle | None:
        return self._s.vehicles.get(vehicle_id)

    def list(self, *, status: VehicleStatus | None = None, limit: int = 100, offset: int = 0) -> Sequence[Vehicle]:
        rows = sorted(self._s.vehicles.values(), key=lambda v: v.id)
        rows = [v for v in rows if status is None or v.status is status]
        return rows[offset : offset + limit]

    def upsert(self, vehicle: Vehicle) -> None:
        self._s.vehicles[vehicle.id] = vehicle

    def claim(self, vehicle_id: str) -> bool:
        return self.set_status(vehicle_id, VehicleStatus.RESERVED, expected=VehicleStatus.AVAILABLE)

    def set_status(self, vehicle_id: str, status: VehicleStatus, *, expected: VehicleStatus | None = None) -> bool:
        vehicle = self._s.vehicles.get(vehicle_id)
        if vehicle is None or (expected is not None and vehicle.status is not expected):
            return False
        self._s.vehicles[vehicle_id] = attrs.evolve(vehicle, status=status)
        return True

    def release_many(self, vehicle_ids: Sequence[str]) -> int:
        return sum(
            self.set_status(v, VehicleStatus.AVAILABLE, expected=VehicleStatus.RESERVED) for v in set(vehicle_ids)
        )


class MemoryReservations(_Repo):
    """See :class:`checkout_core.ports.repositories.ReservationRepository`."""

    def _out(self, reservation: Reservation) -> Reservation:
        mine = copy.deepcopy(reservation)
        self._uow.track(mine)
        return mine

    def add(self, reservation: Reservation) -> None:
        if reservation.id in self._s.reservations:
            raise Conflict(f"reservation {reservation.id} exists")
        if reservation.status in ACTIVE_STATUSES and self.active_for_vehicle(reservation.vehicle_id) is not None:
            raise VehicleUnavailable(f"vehicle {reservation.vehicle_id} is already reserved")
        self.save(reservation)

    def get(self, reservation_id: str, *, for_update: bool = False) -> Reservation | None:
        found = self._s.reservations.get(reservation_id)
        return None if found is None else self._out(found)

    def get_with_vehicle(
        self, reservation_id: str, *, for_update: bool = False
    ) -> tuple[Reservation, Vehicle | None] | None:
        found = self.get(reservation_id, for_update=for_update)
        return None if found is None else (found, self._s.vehicles.get(found.vehicle_id))

    def save(self, reservation: Reservation, *, expected_status: ReservationStatus | None = None) -> None:
        current = self._s.reservations.get(reservation.id)
        if expected_status is not None and (current is None or current.status is not expected_status):
            raise Conflict(f"reservation {reservation.id} was changed by someone else")
        self._uow.track(reservation)
        stored = copy.deepcopy(reservation)
        stored.pending_events = []
        self._s.reservations[reservation.id] = stored

    def save_many(self, reservations: Sequence[Reservation], *, expected_status: ReservationStatus) -> None:
        for reservation in reservations:
            current = self._s.reservations.get(reservation.id)
            if current is None or current.status is not expected_status:
                raise Conflict(f"reservation {reservation.id} was changed by someone else")
        for reservation in reservations:
            self.save(reservation)

    def active_for_vehicle(self, vehicle_id: str) -> Reservation | None:
        for r in self._s.reservations.values():
            if r.vehicle_id == vehicle_id and r.status in ACTIVE_STATUSES:
                return self._out(r)
        return None

    def count_active_for_customer(self, customer_id: str, now: datetime) -> int:
        return sum(1 for r in self._s.reservations.values() if r.customer_id == customer_id and r.is_active(now))

    def claim_due_for_expiry(self, now: datetime, limit: int) -> Sequence[Reservation]:
        due = [r for r in self._s.reservations.values() if r.is_overdue(now)]
        return [self._out(r) for r in sorted(due, key=lambda r: (r.expires_at, r.id))[:limit]]

    def claim_due_for_expiry_with_deposits(
        self, now: datetime, limit: int
    ) -> Sequence[tuple[Reservation, Payment | None]]:
        by_key = {p.idempotency_key: p for p in self._s.payments.values()}
        return [
            (r, copy.deepcopy(by_key[r.deposit_idempotency_key]) if r.deposit_idempotency_key in by_key else None)
            for r in self.claim_due_for_expiry(now, limit)
        ]

    def claim_stale_pending(self, older_than: datetime, limit: int) -> Sequence[Reservation]:
        stale = [
            r
            for r in self._s.reservations.values()
            if r.status is ReservationStatus.PENDING_DEPOSIT and r.created_at < older_than
        ]
        return [self._out(r) for r in sorted(stale, key=lambda r: (r.created_at, r.id))[:limit]]

    def list(
        self,
        *,
        customer_id: str | None = None,
        status: ReservationStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Reservation]:
        rows = [
            r
            for r in self._s.reservations.values()
            if (customer_id is None or r.customer_id == customer_id) and (status is None or r.status is status)
        ]
        rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return [self._out(r) for r in rows[offset : offset + limit]]


class MemoryOrders(_Repo):
    """See :class:`checkout_core.ports.repositories.OrderRepository`."""

    def _out(self, order: Order) -> Order:
        mine = copy.deepcopy(order)
        self._uow.track(mine)
        return mine

    def add(self, order: Order) -> None:
        if order.id in self._s.orders:
            raise Conflict(f"order {order.id} exists")
        self._store(order)

    def _store(self, order: Order) -> None:
        self._uow.track(order)
        stored = copy.deepcopy(order)
        stored.pending_events = []
        self._s.orders[order.id] = stored

    def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        found = self._s.orders.get(order_id)
        return None if found is None else self._out(found)

    def awaiting_signature(self, provider: str, limit: int) -> Sequence[Order]:
        rows = [
            o
            for o in self._s.orders.values()
            if o.status is OrderStatus.PENDING_DOCUMENTS
            and o.envelope is not None
            and o.envelope.status == "sent"
            and o.envelope.provider == provider
        ]
        return [self._out(o) for o in sorted(rows, key=lambda o: (o.created_at, o.id))[:limit]]

    def get_with_parties(self, order_id: str) -> tuple[Order, Vehicle | None, Advisor | None] | None:
        order = self.get(order_id)
        if order is None:
            return None
        return order, self._s.vehicles.get(order.vehicle_id), self._s.advisors.get(order.advisor_id)

    def get_by_number(self, number: str) -> Order | None:
        for order in self._s.orders.values():
            if order.number == number:
                return self._out(order)
        return None

    def save(self, order: Order) -> None:
        current = self._s.orders.get(order.id)
        if current is None or current.version != order.version:
            raise Conflict(f"order {order.id} was changed by someone else; reload and try again")
        order.version += 1
        self._store(order)

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
        rows = [
            o
            for o in self._s.orders.values()
            if (customer_id is None or o.customer_id == customer_id)
            and (status is None or o.status is status)
            and (advisor_id is None or o.advisor_id == advisor_id)
        ]
        rows.sort(key=lambda o: (o.created_at, o.id), reverse=True)
        return [self._out(o) for o in rows[offset : offset + limit]]

    def claim_due_for_completion(self, delivered_before: datetime, limit: int) -> Sequence[Order]:
        due = [
            o
            for o in self._s.orders.values()
            if o.status is OrderStatus.DELIVERED and o.delivered_at is not None and o.delivered_at <= delivered_before
        ]
        return [self._out(o) for o in sorted(due, key=lambda o: o.id)[:limit]]

    def claim_awaiting_agreement(
        self, limit: int, *, skip: frozenset[str] = frozenset()
    ) -> Sequence[tuple[Order, Vehicle | None, Advisor | None]]:
        waiting = sorted(
            (o for o in self._s.orders.values() if o.awaits_agreement and o.id not in skip),
            key=lambda o: (o.created_at, o.id),
        )
        return [
            (self._out(o), self._s.vehicles.get(o.vehicle_id), self._s.advisors.get(o.advisor_id))
            for o in waiting[:limit]
        ]


class MemoryLedger(_Repo):
    """See :class:`checkout_core.ports.repositories.PaymentLedger`."""

    def add_payment(self, payment: Payment) -> None:
        if any(p.idempotency_key == payment.idempotency_key for p in self._s.payments.values()):
            raise Conflict(f"a payment with key {payment.idempotency_key} exists")
        self.save_payment(payment)

    def save_payment(self, payment: Payment, *, expected_status: PaymentStatus | None = None) -> None:
        current = self._s.payments.get(payment.id)
        if expected_status is not None and (current is None or current.status is not expected_status):
            raise Conflict(f"payment {payment.id} was changed by someone else")
        self._s.payments[payment.id] = copy.deepcopy(payment)

    def get_payment(self, payment_id: str) -> Payment | None:
        found = self._s.payments.get(payment_id)
        return copy.deepcopy(found) if found else None

    def payment_by_key(self, idempotency_key: str) -> Payment | None:
        return self._first(p for p in self._s.payments.values() if p.idempotency_key == idempotency_key)

    def assign_to_order(self, idempotency_key: str, order_id: str, now: datetime) -> Payment | None:
        payment = self.payment_by_key(idempotency_key)
        if payment is None or payment.status is not PaymentStatus.SUCCEEDED:
            return None
        payment.order_id = order_id
        payment.updated_at = now
        self.save_payment(payment)
        return payment

    def payments_by_keys(self, idempotency_keys: Sequence[str]) -> Sequence[Payment]:
        wanted = set(idempotency_keys)
        return [copy.deepcopy(p) for p in self._s.payments.values() if p.idempotency_key in wanted]

    def save_payments(self, payments: Sequence[Payment]) -> None:
        # One lock serialises units of work, so nothing can have changed a payment since it was read.
        for payment in payments:
            if payment.id not in self._s.payments:
                raise Conflict(f"payment {payment.id} does not exist")
        for payment in payments:
            self.save_payment(payment)

    def payment_by_gateway_ref(self, gateway_ref: str) -> Payment | None:
        return self._first(p for p in self._s.payments.values() if p.gateway_ref == gateway_ref)

    @staticmethod
    def _first(found: Iterable[Payment]) -> Payment | None:
        value = next(iter(found), None)
        return copy.deepcopy(value) if value is not None else None

    def payments_for(self, *, order_id: str | None = None, reservation_id: str | None = None) -> Sequence[Payment]:
        rows = [
            p
            for p in self._s.payments.values()
            if (order_id is not None and p.order_id == order_id)
            or (reservation_id is not None and p.reservation_id == reservation_id)
        ]
        return [copy.deepcopy(p) for p in sorted(rows, key=lambda p: (p.created_at, p.id))]

    def pending_payments(self, older_than: datetime, limit: int) -> Sequence[Payment]:
        rows = [p for p in self._s.payments.values() if p.status is PaymentStatus.PENDING and p.created_at < older_than]
        return [copy.deepcopy(p) for p in sorted(rows, key=lambda p: p.created_at)[:limit]]

    def add_refund(self, refund: Refund) -> None:
        if any(r.idempotency_key == refund.idempotency_key for r in self._s.refunds.values()):
            raise Conflict(f"a refund with key {refund.idempotency_key} exists")
        self._s.refunds[refund.id] = copy.deepcopy(refund)

    def add_refunds(self, refunds: Sequence[Refund]) -> Sequence[Refund]:
        keys = {r.idempotency_key for r in self._s.refunds.values()}
        added: list[Refund] = []
        for refund in refunds:
            if refund.idempotency_key not in keys:
                keys.add(refund.idempotency_key)
                self._s.refunds[refund.id] = copy.deepcopy(refund)
                added.append(refund)
        return added

    def save_refunds(self, refunds: Sequence[Refund], *, expected_status: RefundStatus) -> int:
        written = 0
        for refund in refunds:
            current = self._s.refunds.get(refund.id)
            if current is not None and current.status is expected_status:
                self._s.refunds[refund.id] = copy.deepcopy(refund)
                written += 1
        return written

    def save_refund(self, refund: Refund, *, expected_status: RefundStatus | None = None) -> None:
        current = self._s.refunds.get(refund.id)
        if expected_status is not None and (current is None or current.status is not expected_status):
            raise Conflict(f"refund {refund.id} was settled by someone else")
        self._s.refunds[refund.id] = copy.deepcopy(refund)

    def get_refund(self, refund_id: str) -> Refund | None:
        found = self._s.refunds.get(refund_id)
        return copy.deepcopy(found) if found else None

    def refunds_for(self, payment_id: str) -> Sequence[Refund]:
        rows = [r for r in self._s.refunds.values() if r.payment_id == payment_id]
        return [copy.deepcopy(r) for r in sorted(rows, key=lambda r: (r.created_at, r.id))]

    def refund_by_gateway_ref(self, gateway_ref: str) -> Refund | None:
        for r in self._s.refunds.values():
            if r.gateway_ref == gateway_ref:
                return copy.deepcopy(r)
        return None

    def pending_refunds(
        self, limit: int, *, method: PaymentMethod | None = None, older_than: datetime | None = None
    ) -> Sequence[Refund]:
        rows = [
            r
            for r in self._s.refunds.values()
            if r.status is RefundStatus.PENDING
            and (method is None or self._s.payments[r.payment_id].method is method)
            and (older_than is None or r.updated_at < older_than)
        ]
        return [copy.deepcopy(r) for r in sorted(rows, key=lambda r: (r.created_at, r.id))[:limit]]

    def lease_refund(self, refund_id: str, *, seen: datetime, now: datetime) -> bool:
        current = self._s.refunds.get(refund_id)
        if current is None or current.status is not RefundStatus.PENDING or current.updated_at != seen:
            return False
        self._s.refunds[refund_id] = attrs.evolve(current, updated_at=now)
        return True

    def owed_payments(
        self,
        limit: int,
        *,
        reservation_statuses: Sequence[ReservationStatus],
        order_statuses: Sequence[OrderStatus],
        purposes: Sequence[PaymentPurpose],
    ) -> Sequence[Payment]:
        failed = {r.payment_id for r in self._s.refunds.values() if r.status is RefundStatus.FAILED}

        def gone(p: Payment) -> bool:
            if p.purpose in purposes:
                return True
            if p.order_id is not None:
                order = self._s.orders.get(p.order_id)
                return order is not None and order.status in order_statuses
            reservation = self._s.reservations.get(p.reservation_id) if p.reservation_id else None
            return reservation is not None and reservation.status in reservation_statuses

        rows = [
            p
            for p in self._s.payments.values()
            if p.status is PaymentStatus.SUCCEEDED and p.refundable.cents > 0 and p.id not in failed and gone(p)
        ]
        return [copy.deepcopy(p) for p in sorted(rows, key=lambda p: (p.created_at, p.id))[:limit]]

    def payments_between(self, since: datetime, until: datetime) -> Sequence[Payment]:
        rows = [p for p in self._s.payments.values() if since <= p.created_at < until]
        return [copy.deepcopy(p) for p in sorted(rows, key=lambda p: (p.created_at, p.id))]

    def refunds_between(self, since: datetime, until: datetime) -> Sequence[Refund]:
        rows = [r for r in self._s.refunds.values() if since <= r.created_at < until]
        return [copy.deepcopy(r) for r in sorted(rows, key=lambda r: (r.created_at, r.id))]

    def add_dispute(self, dispute: Dispute) -> bool:
        if any(d.gateway_ref == dispute.gateway_ref for d in self._s.disputes.values()):
            return False
        if dispute.id in self._s.disputes:
            raise Conflict(f"dispute {dispute.id} exists")
        self._s.disputes[dispute.id] = copy.deepcopy(dispute)
        return True

    def dispute_by_gateway_ref(self, gateway_ref: str) -> Dispute | None:
        found = next((d for d in self._s.disputes.values() if d.gateway_ref == gateway_ref), None)
        return copy.deepcopy(found) if found else None

    def save_dispute(self, dispute: Dispute, *, expected_status: DisputeStatus) -> bool:
        current = self._s.disputes.get(dispute.id)
        if current is None or current.status is not expected_status:
            return False
        self._s.disputes[dispute.id] = copy.deepcopy(dispute)
        return True

    def disputes(self, *, status: DisputeStatus | None = None, limit: int = 100) -> Sequence[Dispute]:
        rows = [d for d in self._s.disputes.values() if status is None or d.status is status]
        return [copy.deepcopy(d) for d in sorted(rows, key=lambda d: (d.opened_at, d.id))[:limit]]


class _Directory(_Repo):
    table: str

    def _put(self, record_id: str, record: object) -> None:
        getattr(self._s, self.table)[record_id] = record


class MemoryCustomers(_Directory):
    """See :class:`checkout_core.ports.repositories.CustomerDirectory`."""

    table = "customers"

    def get(self, customer_id: str) -> Customer | None:
        return self._s.customers.get(customer_id)

    def upsert(self, customer: Customer) -> None:
        self._put(customer.id, customer)


class MemoryAdvisors(_Directory):
    """See :class:`checkout_core.ports.repositories.AdvisorDirectory`."""

    table = "advisors"

    def get(self, advisor_id: str) -> Advisor | None:
        return self._s.advisors.get(advisor_id)

    def upsert(self, advisor: Advisor) -> None:
        self._put(advisor.id, advisor)

    def list_active(self) -> Sequence[Advisor]:
        return sorted((a for a in self._s.advisors.values() if a.active), key=lambda a: a.id)

    def least_loaded(self) -> Advisor | None:
        load: dict[str, int] = {}
        for order in self._s.orders.values():
            if order.status in OPEN_STATUSES:
                load[order.advisor_id] = load.get(order.advisor_id, 0) + 1
        return min(self.list_active(), key=lambda a: (load.get(a.id, 0), a.id), default=None)


class MemoryTradeIns(_Directory):
    """See :class:`checkout_core.ports.repositories.TradeInOffers`."""

    table = "trade_ins"

    def get(self, offer_id: str) -> TradeInOffer | None:
        return self._s.trade_ins.get(offer_id)

    def upsert(self, offer: TradeInOffer) -> None:
        self._put(offer.id, offer)


class MemoryFinancing(_Directory):
    """See :class:`checkout_core.ports.repositories.FinancingApplications`."""

    table = "financing"

    def get(self, application_id: str) -> FinancingApplication | None:
        return self._s.financing.get(application_id)

    def upsert(self, application: FinancingApplication) -> None:
        self._put(application.id, application)


class MemoryAuditTrail(_Repo):
    """See :class:`checkout_core.ports.repositories.SigningAuditTrail`."""

    def append(self, entry: AuditEntry) -> None:
        if any(e.order_id == entry.order_id and e.sequence == entry.sequence for e in self._s.audit):
            raise Conflict(f"audit entry {entry.sequence} of {entry.order_id} exists")
        self._s.audit = [*self._s.audit, entry]

    def entries(self, order_id: str) -> Sequence[AuditEntry]:
        return sorted((e for e in self._s.audit if e.order_id == order_id), key=lambda e: e.sequence)


class MemoryOutbox(_Repo):
    """See :class:`checkout_core.ports.repositories.Outbox`."""

    def add(self, event: StoredEvent) -> None:
        self._s.events.append(event)

    def for_aggregate(self, aggregate_id: str) -> Sequence[StoredEvent]:
        return [e for e in self._s.events if e.aggregate_id == aggregate_id]

    def claim_unpublished(self, limit: int) -> Sequence[StoredEvent]:
        return [e for e in self._s.events if e.published_at is None][:limit]

    def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        wanted = set(event_ids)
        self._s.events = [attrs.evolve(e, published_at=at) if e.id in wanted else e for e in self._s.events]


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
        self.customers = MemoryCustomers(self)
        self.advisors = MemoryAdvisors(self)
        self.trade_ins = MemoryTradeIns(self)
        self.financing = MemoryFinancing(self)
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
