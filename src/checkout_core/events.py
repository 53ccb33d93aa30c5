"""Domain events: the spec's eleven, plus the few more the order timeline and the
payment ledger need. Frozen attrs classes; every event names the aggregate it belongs to
(``aggregate_id``) so the outbox can serve the order timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Base of all events. ``occurred_at`` is the clock's time when the fact happened."""

    occurred_at: datetime

    @property
    def aggregate_id(self) -> str:
        """The id of the reservation or order this event is about."""
        order_id = getattr(self, "order_id", None)
        if isinstance(order_id, str):
            return order_id
        reservation_id: str = getattr(self, "reservation_id")  # noqa: B009 - every event has one of the two
        return reservation_id

    @property
    def name(self) -> str:
        """The event's type name as published (e.g. ``DepositPaid``)."""
        return type(self).__name__


# -- the spec's events ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class VehicleReservationInitiated(DomainEvent):
    """A reservation started: the car is claimed, the deposit not yet charged."""

    reservation_id: str
    vehicle_id: str
    user_id: str


@attrs.frozen(kw_only=True)
class DepositPaid(DomainEvent):
    """The deposit was charged."""

    reservation_id: str
    amount: int


@attrs.frozen(kw_only=True)
class ReservationConfirmed(DomainEvent):
    """The car is held for the customer until ``expires_at``."""

    reservation_id: str
    vehicle_id: str
    expires_at: datetime


@attrs.frozen(kw_only=True)
class ReservationExpired(DomainEvent):
    """The hold ran out without an order; the car is back on sale."""

    reservation_id: str
    vehicle_id: str


@attrs.frozen(kw_only=True)
class PurchaseAgreementGenerated(DomainEvent):
    """The purchase agreement PDF was produced and stored."""

    order_id: str
    agreement_id: str


@attrs.frozen(kw_only=True)
class DocumentsSigned(DomainEvent):
    """The buyer signed the agreement."""

    order_id: str
    signed_at: datetime


@attrs.frozen(kw_only=True)
class InsuranceUploaded(DomainEvent):
    """Proof of insurance was submitted for verification."""

    order_id: str
    policy_number: str


@attrs.frozen(kw_only=True)
class InsuranceVerified(DomainEvent):
    """An advisor accepted the proof of insurance."""

    order_id: str
    verified_at: datetime


@attrs.frozen(kw_only=True)
class FullPaymentReceived(DomainEvent):
    """Everything the buyer owes has been paid."""

    order_id: str
    amount: int


@attrs.frozen(kw_only=True)
class PurchaseCompleted(DomainEvent):
    """The order is final (return window passed or completed by an advisor)."""

    order_id: str
    vehicle_id: str
    customer_id: str


@attrs.frozen(kw_only=True)
class AdvisorAssigned(DomainEvent):
    """An advisor now looks after the order."""

    order_id: str
    advisor_id: str


# -- further facts the timeline, ledger and operators need ---------------------------------


@attrs.frozen(kw_only=True)
class ReservationFailed(DomainEvent):
    """The deposit was declined (or never charged); the car is released."""

    reservation_id: str
    vehicle_id: str
    reason: str


@attrs.frozen(kw_only=True)
class ReservationCancelled(DomainEvent):
    """The customer (or an advisor) cancelled the hold; the deposit is refunded."""

    reservation_id: str
    vehicle_id: str


@attrs.frozen(kw_only=True)
class OrderPlaced(DomainEvent):
    """The order was created from a confirmed reservation."""

    order_id: str
    order_number: str
    reservation_id: str
    vehicle_id: str
    customer_id: str
    total_due: int


@attrs.frozen(kw_only=True)
class SigningStarted(DomainEvent):
    """A signing envelope was opened for the agreement."""

    order_id: str
    envelope_id: str
    expires_at: datetime


@attrs.frozen(kw_only=True)
class InsuranceRejected(DomainEvent):
    """An advisor rejected the proof of insurance; a new upload is needed."""

    order_id: str
    reason: str


@attrs.frozen(kw_only=True)
class PaymentReceived(DomainEvent):
    """Money from the buyer arrived for an order (card, bank transfer)."""

    order_id: str
    payment_id: str
    amount: int
    method: str


@attrs.frozen(kw_only=True)
class DeliveryScheduled(DomainEvent):
    """A delivery date and window (or a pickup) was set."""

    order_id: str
    method: str
    scheduled_date: str
    time_window: str


@attrs.frozen(kw_only=True)
class VehicleDispatched(DomainEvent):
    """The car left for the buyer."""

    order_id: str


@attrs.frozen(kw_only=True)
class VehicleDelivered(DomainEvent):
    """The buyer has the car; the return window starts."""

    order_id: str
    delivered_at: datetime


@attrs.frozen(kw_only=True)
class OrderCancelled(DomainEvent):
    """The order was cancelled before dispatch; payments are refunded."""

    order_id: str
    reason: str


@attrs.frozen(kw_only=True)
class OrderReturned(DomainEvent):
    """The buyer returned the car inside the return window; payments are refunded."""

    order_id: str
    reason: str


@attrs.frozen(kw_only=True)
class RefundIssued(DomainEvent):
    """A refund was sent to the gateway for a payment of an order or a reservation."""

    reservation_id: str | None = None
    order_id: str | None = None
    payment_id: str
    amount: int

    @property
    def aggregate_id(self) -> str:
        """The order if there is one, else the reservation."""
        return self.order_id or self.reservation_id or ""


@attrs.frozen(kw_only=True)
class DuplicateChargeRefunded(DomainEvent):
    """The gateway charged one of our payments a second time (a retry it did not deduplicate);
    the second charge was recorded on a ledger row of its own and its refund opened."""

    reservation_id: str | None = None
    order_id: str | None = None
    payment_id: str
    duplicate_payment_id: str
    amount: int

    @property
    def aggregate_id(self) -> str:
        """The order if there is one, else the reservation."""
        return self.order_id or self.reservation_id or ""


@attrs.frozen(kw_only=True)
class PaymentDisputed(DomainEvent):
    """The cardholder's bank opened a chargeback against a payment (the gateway holds the money)."""

    reservation_id: str | None = None
    order_id: str | None = None
    payment_id: str
    dispute_id: str
    amount: int
    reason: str

    @property
    def aggregate_id(self) -> str:
        """The order if there is one, else the reservation."""
        return self.order_id or self.reservation_id or ""


@attrs.frozen(kw_only=True)
class DisputeClosed(DomainEvent):
    """A chargeback was decided: ``won`` (the money stays) or ``lost`` (it went back)."""

    reservation_id: str | None = None
    order_id: str | None = None
    payment_id: str
    dispute_id: str
    amount: int
    outcome: str

    @property
    def aggregate_id(self) -> str:
        """The order if there is one, else the reservation."""
        return self.order_id or self.reservation_id or ""


@attrs.frozen(kw_only=True)
class CardTestingSuspected(DomainEvent):
    """Declined charges reached their limit (:mod:`checkout_core.usecases.rate_limits`): for the
    customer (``subject`` ``customer``) or for the client address the declines came from
    (``subject`` ``ip``). Further charge attempts are refused with ``too_many_attempts`` before
    the gateway is called, until the window passes. Stored under the customer's id, so advisors
    find it with ``checkout customers alerts``; the relay publishes it for fraud tooling."""

    customer_id: str
    subject: str
    client_ip: str | None = None
    declines: int
    window_seconds: int

    @property
    def aggregate_id(self) -> str:
        """The customer whose decline reached the limit."""
        return self.customer_id[:64]


@attrs.frozen(kw_only=True)
class DocumentIntegrityFailed(DomainEvent):
    """A stored document of the order no longer matches its SHA-256 (altered or damaged on
    disk) and could not be served: an operator must restore it from a backup. Raised once per
    document and damage (``actual_sha256``), however often it is asked for."""

    order_id: str
    document_id: str
    kind: str
    expected_sha256: str
    actual_sha256: str


@attrs.frozen(kw_only=True)
class AgreementCountersigned(DomainEvent):
    """The dealer countersigned the buyer-signed agreement: it is now executed."""

    order_id: str
    advisor_id: str
    countersigned_at: datetime


EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    VehicleReservationInitiated,
    DepositPaid,
    ReservationConfirmed,
    ReservationExpired,
    PurchaseAgreementGenerated,
    DocumentsSigned,
    InsuranceUploaded,
    InsuranceVerified,
    FullPaymentReceived,
    PurchaseCompleted,
    AdvisorAssigned,
    ReservationFailed,
    ReservationCancelled,
    OrderPlaced,
    SigningStarted,
    InsuranceRejected,
    PaymentReceived,
    DeliveryScheduled,
    VehicleDispatched,
    VehicleDelivered,
    OrderCancelled,
    OrderReturned,
    RefundIssued,
    PaymentDisputed,
    DisputeClosed,
    DuplicateChargeRefunded,
    CardTestingSuspected,
    DocumentIntegrityFailed,
    AgreementCountersigned,
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


#: Event class → its fields' (attribute name, camelCase name): made once per class, as every
#: commit writes the payloads of its events (three for a reservation).
_PAYLOAD_NAMES: dict[type[DomainEvent], tuple[tuple[str, str], ...]] = {}


def event_payload(event: DomainEvent) -> dict[str, Any]:
    """The event's fields as JSON-ready camelCase (datetimes as ISO 8601 UTC strings)."""
    cls = type(event)
    names = _PAYLOAD_NAMES.get(cls)
    if names is None:
        names = _PAYLOAD_NAMES[cls] = tuple((field.name, _camel(field.name)) for field in attrs.fields(cls))
    out: dict[str, Any] = {}
    for name, camel in names:
        value = getattr(event, name)
        if isinstance(value, datetime):
            value = value.isoformat().replace("+00:00", "Z")
        out[camel] = value
    return out


def event_from_payload(name: str, payload: dict[str, Any]) -> DomainEvent:
    """Rebuild an event from :func:`event_payload` output (used by the outbox and timeline)."""
    by_name = {cls.__name__: cls for cls in EVENT_TYPES}
    cls = by_name.get(name)
    if cls is None:
        raise ValueError(f"unknown event type {name!r}")
    kwargs: dict[str, Any] = {}
    for field in attrs.fields(cls):
        value = payload.get(_camel(field.name))
        if field.type in ("datetime", datetime) and isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        kwargs[field.name] = value
    return cls(**kwargs)
