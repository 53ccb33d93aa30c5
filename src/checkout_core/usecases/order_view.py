"""An order as its readers see it, as values: the order with its car, advisor and events, and
what is derived from them — the buyer's next steps, the timeline and the payment's progress.
The steps and the timeline come from the same stored facts and events, so they never disagree.
The entrypoints turn these values into the spec's JSON (``entrypoints.views``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Protocol

import attrs

from checkout_core.model.order import (
    DeliveryMethod,
    DeliveryStatus,
    InsuranceStatus,
    Order,
    OrderStatus,
    PaymentChoice,
)
from checkout_core.model.parties import Advisor
from checkout_core.model.vehicle import Vehicle
from checkout_core.money import Money
from checkout_core.ports.repositories import StoredEvent
from checkout_core.ports.unit_of_work import UnitOfWorkFactory
from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import PlacedOrder, visible_order


class Reads(Protocol):
    """What reading an order needs of the :class:`~checkout_core.usecases.context.Context`: a
    unit of work, nothing else (the full Context satisfies it; a test or a read replica can pass
    less)."""

    @property
    def uow(self) -> UnitOfWorkFactory:
        """Opens a unit of work."""
        ...


@attrs.frozen(kw_only=True)
class OrderDetails:
    """An order with what its view needs: the car, the advisor and the order's events."""

    order: Order
    vehicle: Vehicle | None
    advisor: Advisor | None
    events: tuple[StoredEvent, ...]


def order_details(ctx: Reads, actor: Actor, order_id: str) -> OrderDetails:
    """Everything needed to show one order, read in one unit of work."""
    with ctx.uow() as uow:
        found = uow.orders.get_for_view(order_id)
        order = visible_order(None if found is None else found.order, actor, order_id)
        assert found is not None  # visible_order raised otherwise
        return OrderDetails(order=order, vehicle=found.vehicle, advisor=found.advisor, events=found.events)


def placed_order_details(placed: PlacedOrder) -> OrderDetails:
    """The view of an order just placed, from what placing it wrote (the same as
    :func:`order_details` would read back)."""
    return OrderDetails(order=placed.order, vehicle=placed.vehicle, advisor=placed.advisor, events=placed.events)


@attrs.frozen(kw_only=True)
class PaymentProgress:
    """How the order is paid and how far: the deposit counts first, then the down payment."""

    method: PaymentChoice
    deposit_paid: Money
    down_payment_paid: Money
    financing_amount: Money
    monthly_payment: Money | None
    apr_percent: Decimal | None
    term_months: int | None
    financing_application_id: str | None
    amount_due_from_buyer: Money
    total_paid: Money
    balance_due: Money
    refunded: Money


def payment_progress(order: Order) -> PaymentProgress:
    """What the buyer has paid towards each part of the order's payment plan."""
    plan = order.payment
    paid = order.paid.cents
    deposit_paid = min(paid, plan.deposit.cents)
    beyond_deposit = paid - deposit_paid
    financed = plan.method is PaymentChoice.FINANCE
    return PaymentProgress(
        method=plan.method,
        deposit_paid=Money(deposit_paid),
        down_payment_paid=Money(min(beyond_deposit, plan.down_payment.cents) if financed else 0),
        financing_amount=plan.financed_amount,
        monthly_payment=plan.monthly_payment,
        apr_percent=plan.apr_percent,
        term_months=plan.term_months,
        financing_application_id=plan.financing_application_id,
        amount_due_from_buyer=order.due_from_buyer,
        total_paid=order.paid,
        balance_due=order.balance_due,
        refunded=order.refunded,
    )


@attrs.frozen(kw_only=True)
class NextStep:
    """A step the buyer takes, and where: ``resource`` is the part of the order it is taken on
    (``documents``, ``insurance``, ``payments``; empty: the order itself)."""

    step: str
    status: str
    resource: str


_STAGE = {
    OrderStatus.PENDING_DOCUMENTS: 0,
    OrderStatus.PENDING_INSURANCE: 1,
    OrderStatus.PENDING_PAYMENT: 2,
    OrderStatus.PENDING_DELIVERY: 3,
    OrderStatus.IN_TRANSIT: 4,
    OrderStatus.DELIVERED: 5,
    OrderStatus.COMPLETED: 6,
}


def next_steps(order: Order) -> tuple[NextStep, ...]:
    """The buyer's steps up to the order's current stage, each ``pending`` or ``completed``
    (insurance can also be ``submitted`` or ``rejected``). Closed orders have none."""
    stage = _STAGE.get(order.status)
    if stage is None:
        return ()
    signed = stage >= 1
    steps = [NextStep(step="sign_documents", status="completed" if signed else "pending", resource="documents")]
    insurance = order.insurance
    if insurance is not None and insurance.status is InsuranceStatus.VERIFIED:
        insurance_status = "completed"
    elif insurance is not None and insurance.status is InsuranceStatus.PENDING_VERIFICATION:
        insurance_status = "submitted"
    elif insurance is not None and insurance.status is InsuranceStatus.REJECTED:
        insurance_status = "rejected"
    else:
        insurance_status = "pending"
    steps.append(NextStep(step="upload_insurance", status=insurance_status, resource="insurance"))
    if stage >= 2:
        steps.append(
            NextStep(step="make_payment", status="completed" if stage >= 3 else "pending", resource="payments")
        )
    if stage >= 3:
        done = order.delivery.status is DeliveryStatus.DELIVERED
        steps.append(
            NextStep(
                step="take_delivery" if order.delivery.method is DeliveryMethod.DELIVERY else "pick_up_vehicle",
                status="completed" if done else "pending",
                resource="",
            )
        )
    return tuple(steps)


@attrs.frozen(kw_only=True)
class TimelineEntry:
    """Something that happened to the order (``completed``, or ``failed`` for a problem), or the
    appointment ahead (``pending``)."""

    event: str
    at: datetime | None
    status: str


_LABELS = {
    "OrderPlaced": "Order placed",
    "AdvisorAssigned": "Advisor assigned",
    "PurchaseAgreementGenerated": "Purchase agreement generated",
    "SigningStarted": "Sent for signature",
    "DocumentsSigned": "Documents signed",
    "AgreementCountersigned": "Agreement countersigned by the dealer",
    "InsuranceUploaded": "Insurance uploaded",
    "InsuranceRejected": "Insurance rejected",
    "InsuranceVerified": "Insurance verified",
    "PaymentReceived": "Payment received",
    "FullPaymentReceived": "Payment completed",
    "VehicleDispatched": "Vehicle dispatched",
    "VehicleDelivered": "Vehicle delivered",
    "PurchaseCompleted": "Purchase completed",
    "OrderCancelled": "Order cancelled",
    "OrderReturned": "Vehicle returned",
    "RefundIssued": "Refund issued",
    "DuplicateChargeRefunded": "Duplicate charge refunded",
    "DocumentIntegrityFailed": "Document failed its integrity check",
}

#: Timeline entries of events that report a problem rather than a step done.
_FAILED = frozenset({"DocumentIntegrityFailed"})

_WINDOW_START = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([AaPp][Mm])?")


def timeline(order: Order, events: tuple[StoredEvent, ...]) -> tuple[TimelineEntry, ...]:
    """What happened to the order, oldest first, plus the scheduled delivery while it is ahead."""
    entries = [
        TimelineEntry(event=_LABELS[e.name], at=e.occurred_at, status="failed" if e.name in _FAILED else "completed")
        for e in events
        if e.name in _LABELS
    ]
    delivery = order.delivery
    if delivery.scheduled_date is not None and delivery.status in (DeliveryStatus.SCHEDULED, DeliveryStatus.IN_TRANSIT):
        label = "Delivery scheduled" if delivery.method is DeliveryMethod.DELIVERY else "Pickup scheduled"
        at = _appointment(delivery.scheduled_date, delivery.time_window)
        entries.append(TimelineEntry(event=label, at=at, status="pending"))
    return tuple(entries)


def _appointment(day: date, window: str | None) -> datetime:
    hour, minute = 0, 0
    match = _WINDOW_START.match(window or "")
    if match:
        hour, minute = int(match.group(1)) % 12 if match.group(3) else int(match.group(1)), int(match.group(2))
        if match.group(3) and match.group(3).lower() == "pm":
            hour += 12
        hour = min(hour, 23)
        minute = min(minute, 59)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
