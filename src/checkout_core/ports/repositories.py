"""Repositories: how the core reads and writes its aggregates and reference records.

All methods run inside the unit of work that owns them; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from checkout_core.model.audit import AuditEntry
from checkout_core.model.order import Order, OrderStatus
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
from checkout_core.model.reservation import Reservation, ReservationStatus
from checkout_core.model.vehicle import Vehicle, VehicleStatus


class VehicleRepository(Protocol):
    """Cars for sale. ``claim`` is the atomic step that makes double-selling impossible."""

    def get(self, vehicle_id: str) -> Vehicle | None:
        """The car, or None."""
        ...

    def list(self, *, status: VehicleStatus | None = None, limit: int = 100, offset: int = 0) -> Sequence[Vehicle]:
        """Cars ordered by id, optionally only those with ``status``."""
        ...

    def upsert(self, vehicle: Vehicle) -> None:
        """Insert or replace a car's listing (catalogue sync, demo data)."""
        ...

    def set_status(
        self, vehicle_ids: str | Sequence[str], status: VehicleStatus, *, expected: VehicleStatus | None = None
    ) -> int:
        """Change the status of one car or several (one statement), each only if it is ``expected``
        (when given); returns how many changed (a car missing or not ``expected`` is left as it is).
        Reserving a car is ``set_status(id, RESERVED, expected=AVAILABLE)``: of concurrent callers
        exactly one gets 1, the step that makes double-selling impossible."""
        ...

    def move(self, vehicle_id: str, status: VehicleStatus, *, expected: VehicleStatus) -> None:
        """Change one car from ``expected`` to ``status``; VehicleUnavailable if it is not
        ``expected`` (or there is no such car), and then nothing of the transaction may commit.
        Inside :meth:`UnitOfWork.together` the change may wait for the block's one statement:
        its refusal is then raised there, before the commit is done."""
        ...


@attrs.frozen
class CarClaim:
    """What :meth:`ReservationRepository.claim_car` found and did."""

    #: The customer's holds before this one (as :meth:`ReservationRepository.count_active_for_customer`).
    held: int
    #: Whether the car went from ``available`` to ``reserved`` (never when ``held`` reached the limit).
    claimed: bool
    #: Whether the car exists at all (a claim that failed for want of a car is NotFound, not a
    #: car someone holds: told by the same statement, a race's loser's round trip less).
    car_exists: bool
    #: Whether the ``hold`` given to :meth:`ReservationRepository.claim_car` was added with the claim.
    hold_made: bool = False
    #: Whether a reservation with that hold's id existed already (a keyed retry's first attempt),
    #: where the adapter told it with the claim; None: not looked at.
    hold_id_taken: bool | None = None


@attrs.frozen(kw_only=True)
class CheckoutParts:
    """What placing an order reads (:meth:`ReservationRepository.get_for_checkout`)."""

    reservation: Reservation
    vehicle: Vehicle | None
    trade_in: TradeInOffer | None
    financing: FinancingApplication | None
    #: The advisor a new order is assigned to: the active one with the fewest open orders.
    advisor: Advisor | None
    #: The reservation's deposit (the payment with its deposit key), whatever its status; None
    #: when there is none. No default: an adapter that forgot it would drop the deposit from
    #: every order's amount paid.
    deposit: Payment | None


class ReservationRepository(Protocol):
    """Reservations. Adding a second active reservation for one car raises VehicleUnavailable."""

    def add(self, reservation: Reservation) -> None:
        """Store a new reservation (the database forbids two active ones per car)."""
        ...

    def get(self, reservation_id: str, *, for_update: bool = False) -> Reservation | None:
        """The reservation, or None; ``for_update`` locks its row until commit where supported."""
        ...

    def get_for_checkout(
        self, reservation_id: str, *, trade_in_id: str | None = None, financing_application_id: str | None = None
    ) -> CheckoutParts | None:
        """Everything placing an order reads, read together (one statement where supported): the
        reservation with its car, the trade-in offer and financing application named (None when
        not named or not found: the caller checks whose they are), and the active advisor with the
        fewest open orders (ties: the lowest id; None if no advisor is active). None when the
        reservation does not exist. The reservation's row (not the others) is locked until
        commit where supported: the checkout turns it into an order."""
        ...

    def save(self, *reservations: Reservation, expected_status: ReservationStatus | None = None) -> None:
        """Persist changes (several reservations: one statement); raises Conflict if a stored status
        is no longer the one this unit of work read (or ``expected_status``, when given); the
        caller's unit of work then rolls back, so nothing of the batch is kept."""
        ...

    def active_for_vehicle(self, vehicle_id: str) -> Reservation | None:
        """The pending or confirmed reservation holding the car, overdue or not."""
        ...

    def count_active_for_customer(self, customer_id: str, now: datetime) -> int:
        """How many holds the customer has now (pending deposit, or confirmed and not overdue).

        The count is the customer's until the transaction ends: a concurrent unit of work of the
        same customer that counts waits, then sees this one's outcome (so the cap holds under races)."""
        ...

    def claim_car(
        self,
        vehicle_id: str,
        *,
        customer_id: str,
        now: datetime,
        limit: int,
        hold: tuple[Reservation, Payment] | None = None,
    ) -> CarClaim:
        """The first step of a hold, in one statement where the adapter can: count the customer's
        holds (:meth:`count_active_for_customer`, the count then the customer's until the
        transaction ends) and, only while they are under ``limit``, claim the car
        (``VehicleRepository.set_status(vehicle_id, RESERVED, expected=AVAILABLE)``: of concurrent
        callers exactly one claims it). Nothing else is looked at: why a car did not claim (no
        such car, a live hold, an overdue one) is the caller's next question.

        ``hold``: the reservation and its deposit intent to add if the car is claimed (as
        :meth:`add` and ``LedgerRepository.add_payment`` would, their events with them):
        :attr:`CarClaim.hold_made` then says they were. An adapter may write them with the
        claim, in the same statement — and when that statement is the unit of work's first, it
        may commit it as it ends (a statement alone is atomic): the caller then commits nothing
        more of that step, and must not expect to undo it. Not claimed, nothing of them is
        written and their events stay pending."""
        ...

    def claim_due_for_expiry(self, now: datetime, limit: int) -> Sequence[tuple[Reservation, Payment | None]]:
        """Overdue holds (:meth:`Reservation.is_overdue`), oldest deadline first, locked so that
        concurrent sweeps skip them, each with its deposit payment (None if it has none) read in
        the same statement; the ledger of this unit of work treats those payments as read by it
        (its conditional updates check what they were read with)."""
        ...

    def claim_stale_pending(self, older_than: datetime, limit: int) -> Sequence[Reservation]:
        """Pending-deposit reservations created before ``older_than`` (left by a crash), locked."""
        ...

    def list(
        self,
        *,
        customer_id: str | None = None,
        status: ReservationStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Reservation]:
        """Reservations, newest first."""
        ...


class OrderRepository(Protocol):
    """Orders. ``save`` checks the version so that lost updates become a Conflict."""

    def add(self, order: Order) -> None:
        """Store a new order."""
        ...

    def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        """The order, or None."""
        ...

    def awaiting_signature(self, provider: str, limit: int) -> Sequence[Order]:
        """Orders waiting for documents whose signing envelope at ``provider`` is still open
        (``sent``), oldest first."""
        ...

    def get_for_view(self, order_id: str) -> OrderForView | None:
        """The order with its car, its advisor and its events, read together (the order view
        shows all four on every read); None if there is no such order."""
        ...

    def save(self, order: Order) -> None:
        """Persist changes; raises Conflict if someone else saved it since it was loaded."""
        ...

    def get_by_number(self, number: str) -> Order | None:
        """The order with this order number (also the bank transfer reference), or None."""
        ...

    def next_number(self, year: int) -> int:
        """The next value of the year's order counter, from ``FIRST_ORDER_NUMBER``; unique among
        committed orders (the core formats it with :func:`checkout_core.model.order.order_number`)."""
        ...

    def list(
        self,
        *,
        customer_id: str | None = None,
        status: OrderStatus | None = None,
        advisor_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Order]:
        """Orders, newest first."""
        ...

    def claim_due_for_completion(self, delivered_before: datetime, limit: int) -> Sequence[Order]:
        """Delivered orders whose return window has closed, locked for this sweep."""
        ...

    def claim_awaiting_agreement(
        self, limit: int, *, skip: frozenset[str] = frozenset()
    ) -> Sequence[tuple[Order, Vehicle | None, Advisor | None]]:
        """Orders whose purchase agreement is still to be generated (:attr:`Order.awaits_agreement`),
        oldest first, with their car and advisor, locked for this worker: rows another worker
        holds are skipped, so parallel workers never render the same agreement twice. Orders
        whose ids are in ``skip`` are not claimed (those this pass already failed on)."""
        ...


class PaymentLedger(Protocol):
    """Our record of every payment and refund, written before and after each gateway call."""

    def add_payment(self, payment: Payment) -> None:
        """Record a new payment (usually ``pending``)."""
        ...

    def save_payment(self, *payments: Payment, expected_status: PaymentStatus | None = None) -> None:
        """Persist payments' new state (several: one statement), each only if its status and refunded
        amount are still what this unit of work read (or its status is ``expected_status``, when
        given); Conflict if any changed meanwhile or does not exist."""
        ...

    def get_payment(
        self, payment_id: str | None = None, *, idempotency_key: str | None = None, gateway_ref: str | None = None
    ) -> Payment | None:
        """A payment by exactly one of: our id, the idempotency key it was sent with, the gateway's
        id (charge / PaymentIntent id, bank reference)."""
        ...

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
        """Payments matching every filter given (of the order *or* of the reservation when both are
        given; created in [``created_since``, ``created_before``)), oldest first, at most ``limit``;
        none without any filter. They count as read by this unit of work for :meth:`save_payment`."""
        ...

    def add_refunds(self, refunds: Sequence[Refund]) -> Sequence[Refund]:
        """Record new refunds (several: one statement) and return those actually inserted: a refund
        whose idempotency key already exists is skipped (it was opened before: a replay)."""
        ...

    def save_refunds(self, refunds: Sequence[Refund], *, expected_status: RefundStatus | None = None) -> int:
        """Persist refunds' new state (several: one statement), each only if it exists and is still
        ``expected_status`` (when given); rows that are not (settled meanwhile) are skipped, not an
        error. Returns how many were written."""
        ...

    def get_refund(self, refund_id: str | None = None, *, gateway_ref: str | None = None) -> Refund | None:
        """A refund by exactly one of: our id, the gateway's id."""
        ...

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
        """Refunds matching every filter given (``method``: of payments made that way), oldest first;
        the limit counts only those that match."""
        ...

    def lease_refund(self, refund_id: str, *, seen: datetime, now: datetime) -> bool:
        """Take a pending refund for sending: set its ``updated_at`` to ``now`` if it is still
        pending and still has the ``updated_at`` it was read with (False: someone else took it)."""
        ...

    def owed_payments(
        self,
        limit: int,
        *,
        reservation_statuses: Sequence[ReservationStatus],
        order_statuses: Sequence[OrderStatus],
        purposes: Sequence[PaymentPurpose],
    ) -> Sequence[Payment]:
        """Succeeded payments with money still refundable whose reason to be kept is gone: of a
        purpose in ``purposes``, or of an order in one of ``order_statuses``, or of a reservation in
        one of ``reservation_statuses`` that no order took over — leaving out payments with a
        failed refund (those wait for a person). Which statuses mean "gone" is the core's rule;
        the adapter only filters. Oldest first."""
        ...

    def add_dispute(self, dispute: Dispute) -> bool:
        """Insert; False (nothing written) if a dispute with its ``gateway_ref`` exists already."""
        ...

    def save_dispute(self, dispute: Dispute, *, expected_status: DisputeStatus) -> bool:
        """Write the dispute if it is still ``expected_status``; False if it was not."""
        ...

    def disputes(
        self, *, status: DisputeStatus | None = None, gateway_ref: str | None = None, limit: int = 100
    ) -> Sequence[Dispute]:
        """Disputes (of one status; the one the gateway calls ``gateway_ref``), oldest first."""
        ...


class CustomerDirectory(Protocol):
    """Registered customers (contact details used to prefill and check orders)."""

    def get(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        ...

    def upsert(self, customer: Customer) -> None:
        """Insert or replace a customer."""
        ...


class AdvisorDirectory(Protocol):
    """The sales advisors who can be assigned to orders."""

    def get(self, advisor_id: str) -> Advisor | None:
        """The advisor, or None."""
        ...

    def upsert(self, advisor: Advisor) -> None:
        """Insert or replace an advisor."""
        ...


class TradeInOffers(Protocol):
    """Trade-in appraisals, owned by the trade-in service; read by id, never trusted from clients."""

    def get(self, offer_id: str) -> TradeInOffer | None:
        """The offer, or None."""
        ...

    def upsert(self, offer: TradeInOffer) -> None:
        """Insert or replace an offer (sync, demo data)."""
        ...


class FinancingApplications(Protocol):
    """Financing applications, owned by the lender integration; read by id."""

    def get(self, application_id: str) -> FinancingApplication | None:
        """The application, or None."""
        ...

    def upsert(self, application: FinancingApplication) -> None:
        """Insert or replace an application (sync, demo data)."""
        ...


@attrs.frozen(kw_only=True)
class StoredEvent:
    """An event as kept in the outbox: the payload is :func:`checkout_core.events.event_payload`."""

    id: str
    aggregate_id: str
    name: str
    payload: dict[str, object]
    occurred_at: datetime
    published_at: datetime | None = None


@attrs.frozen
class OrderForView:
    """An order with what its view shows beside it: the car, the advisor, the events."""

    order: Order
    vehicle: Vehicle | None
    advisor: Advisor | None
    events: tuple[StoredEvent, ...]


class Outbox(Protocol):
    """Events stored in the same transaction as the change they describe."""

    def add(self, event: StoredEvent) -> None:
        """Store one event."""
        ...

    def for_aggregate(self, aggregate_id: str) -> Sequence[StoredEvent]:
        """Every event of a reservation or order, in the order they happened."""
        ...

    def claim_unpublished(self, limit: int) -> Sequence[StoredEvent]:
        """The oldest events not yet published, locked for this relay."""
        ...

    def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        """Remember that these events reached the broker."""
        ...


class SigningAuditTrail(Protocol):
    """The hash-chained signing events of each order (append-only)."""

    def append(self, entry: AuditEntry) -> None:
        """Add the next entry of an order's chain (a duplicate sequence number is a Conflict)."""
        ...

    def entries(self, order_id: str) -> Sequence[AuditEntry]:
        """An order's entries in sequence order."""
        ...
