"""The purchase order aggregate and its state machine.

::

    pending_documents --sign_documents--> pending_insurance --verify_insurance--> pending_payment
    --receive_full_payment--> pending_delivery --dispatch--> in_transit --deliver--> delivered
    --complete--> completed
    pending_delivery --hand_over (pickup)--> delivered
    any status before in_transit --cancel--> cancelled;   delivered --return (in window)--> returned

``pending_payment`` is left in the same step when nothing is due; a payment that arrives early
is kept in ``paid`` and counted when the order gets there.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal

import attrs

from checkout_core.errors import IllegalTransition, ValidationFailed
from checkout_core.events import (
    AgreementCountersigned,
    DeliveryScheduled,
    DocumentsSigned,
    FullPaymentReceived,
    InsuranceRejected,
    InsuranceUploaded,
    InsuranceVerified,
    OrderCancelled,
    OrderReturned,
    PaymentReceived,
    PurchaseCompleted,
    SigningStarted,
    VehicleDelivered,
    VehicleDispatched,
)
from checkout_core.model.aggregate import Aggregate
from checkout_core.model.local_day import end_of_local_days, local_day
from checkout_core.model.parties import Address, ContactInfo
from checkout_core.money import Money
from checkout_core.pricing.quote import Pricing


class OrderStatus(enum.StrEnum):
    """The spec's nine order statuses."""

    PENDING_PAYMENT = "pending_payment"
    PENDING_DOCUMENTS = "pending_documents"
    PENDING_INSURANCE = "pending_insurance"
    PENDING_DELIVERY = "pending_delivery"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class OrderStep(enum.StrEnum):
    """Everything that can be attempted on an order."""

    SIGN_DOCUMENTS = "sign_documents"
    VERIFY_INSURANCE = "verify_insurance"
    RECEIVE_FULL_PAYMENT = "receive_full_payment"
    DISPATCH = "dispatch"
    DELIVER = "deliver"
    HAND_OVER = "hand_over"
    COMPLETE = "complete"
    CANCEL = "cancel"
    RETURN = "return"


S = OrderStatus
_CANCELLABLE = (S.PENDING_DOCUMENTS, S.PENDING_INSURANCE, S.PENDING_PAYMENT, S.PENDING_DELIVERY)

#: The whole state machine: (current status, step) → next status. Anything absent is illegal.
TRANSITIONS: Mapping[tuple[OrderStatus, OrderStep], OrderStatus] = {
    (S.PENDING_DOCUMENTS, OrderStep.SIGN_DOCUMENTS): S.PENDING_INSURANCE,
    (S.PENDING_INSURANCE, OrderStep.VERIFY_INSURANCE): S.PENDING_PAYMENT,
    (S.PENDING_PAYMENT, OrderStep.RECEIVE_FULL_PAYMENT): S.PENDING_DELIVERY,
    (S.PENDING_DELIVERY, OrderStep.DISPATCH): S.IN_TRANSIT,
    (S.PENDING_DELIVERY, OrderStep.HAND_OVER): S.DELIVERED,
    (S.IN_TRANSIT, OrderStep.DELIVER): S.DELIVERED,
    (S.DELIVERED, OrderStep.COMPLETE): S.COMPLETED,
    (S.DELIVERED, OrderStep.RETURN): S.RETURNED,
    **{(status, OrderStep.CANCEL): S.CANCELLED for status in _CANCELLABLE},
}

#: Cancelled or returned: nothing is owed, and everything paid goes back.
CLOSED_STATUSES = frozenset({S.CANCELLED, S.RETURNED})


class CloseReason(enum.StrEnum):
    """Why an order was closed when the caller gave no words of their own (stored on the order
    and in its ``OrderCancelled``/``OrderReturned`` events: never rename a value)."""

    CANCELLED_BY_CUSTOMER = "cancelled_by_customer"
    CANCELLED_BY_ADVISOR = "cancelled_by_advisor"
    RETURNED_BY_CUSTOMER = "returned_by_customer"


OPEN_STATUSES = frozenset(
    {S.PENDING_DOCUMENTS, S.PENDING_INSURANCE, S.PENDING_PAYMENT, S.PENDING_DELIVERY, S.IN_TRANSIT, S.DELIVERED}
)


#: The first value of every year's order counter (adapters keep the counter, the core names it).
FIRST_ORDER_NUMBER = 10001


def order_number(year: int, n: int) -> str:
    """The order number ``CLT-<year>-<5+ digits>`` for the year's counter value ``n``."""
    return f"CLT-{year}-{n:05d}"


def next_status(current: OrderStatus, step: OrderStep) -> OrderStatus:
    """The status after ``step``, or IllegalTransition naming the current status and the step."""
    try:
        return TRANSITIONS[(current, step)]
    except KeyError:
        raise IllegalTransition(current.value, step.value) from None


class PaymentChoice(enum.StrEnum):
    """How the buyer pays for the car."""

    CASH = "cash"
    FINANCE = "finance"


@attrs.frozen(kw_only=True)
class PaymentPlan:
    """How the total is paid: deposit and down payment by the buyer, the rest by a lender when financed."""

    method: PaymentChoice
    deposit: Money
    down_payment: Money
    financed_amount: Money
    financing_application_id: str | None = None
    apr_percent: Decimal | None = None
    term_months: int | None = None
    monthly_payment: Money | None = None
    lender: str | None = None


@attrs.frozen(kw_only=True)
class TradeIn:
    """The trade-in credit applied, copied from the stored offer."""

    offer_id: str
    credit: Money
    description: str = ""


class DeliveryMethod(enum.StrEnum):
    """Home delivery or pickup at a hub."""

    DELIVERY = "delivery"
    PICKUP = "pickup"


class DeliveryStatus(enum.StrEnum):
    """Progress of the hand-over."""

    UNSCHEDULED = "unscheduled"
    SCHEDULED = "scheduled"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"


@attrs.frozen(kw_only=True)
class Delivery:
    """Delivery or pickup details."""

    method: DeliveryMethod
    address: Address | None = None
    preferred_date: date | None = None
    scheduled_date: date | None = None
    time_window: str | None = None
    status: DeliveryStatus = DeliveryStatus.UNSCHEDULED


class DocumentKind(enum.StrEnum):
    """Documents kept for an order."""

    PURCHASE_AGREEMENT = "purchase_agreement"
    SIGNED_AGREEMENT = "signed_agreement"
    INSURANCE_PROOF = "insurance_proof"


@attrs.frozen(kw_only=True)
class DocumentRecord:
    """A stored document: ``storage_key`` is what the document store returned (content address)."""

    id: str
    kind: DocumentKind
    storage_key: str
    sha256: str
    content_type: str
    size: int
    created_at: datetime
    status: str = "generated"
    signed_at: datetime | None = None
    #: On a signed copy: the storage key of the signature the buyer drew (a PNG), when they drew
    #: one, so that the dealer's countersigned copy prints it on the buyer's line again.
    signature_image_key: str | None = None


class InsuranceStatus(enum.StrEnum):
    """Verification of the buyer's proof of insurance."""

    PENDING_VERIFICATION = "pending_verification"
    VERIFIED = "verified"
    REJECTED = "rejected"


@attrs.frozen(kw_only=True)
class Insurance:
    """The latest proof of insurance the buyer submitted."""

    id: str
    policy_number: str
    provider: str
    document_id: str
    status: InsuranceStatus
    submitted_at: datetime
    verified_at: datetime | None = None
    rejection_reason: str | None = None


@attrs.frozen(kw_only=True)
class SigningEnvelope:
    """An open request for the buyer's signature at a signing service."""

    id: str
    provider: str
    signature_url: str
    expires_at: datetime
    status: str = "sent"


@attrs.define(kw_only=True)
class Order(Aggregate):
    """A purchase of one car by one customer, from placement to completion."""

    id: str
    number: str
    status: OrderStatus
    vehicle_id: str
    customer_id: str
    reservation_id: str
    contact: ContactInfo
    pricing: Pricing
    payment: PaymentPlan
    trade_in: TradeIn | None
    delivery: Delivery
    advisor_id: str
    created_at: datetime
    updated_at: datetime
    documents: list[DocumentRecord] = attrs.field(factory=list)
    insurance: Insurance | None = None
    envelope: SigningEnvelope | None = None
    paid: Money = attrs.field(factory=Money.zero)
    refunded: Money = attrs.field(factory=Money.zero)
    delivered_at: datetime | None = None
    completed_at: datetime | None = None
    closed_reason: str | None = None
    version: int = 0

    # -- money --------------------------------------------------------------------------

    @property
    def due_from_buyer(self) -> Money:
        """What the buyer pays us in all (deposit included): the total less what a lender pays."""
        return self.pricing.total_due - self.payment.financed_amount

    @property
    def net_paid(self) -> Money:
        """What the buyer has paid us and still has with us: paid less refunded (pending refunds
        count as refunded, as in the ledger: their money is no longer ours to keep)."""
        return self.paid - self.refunded

    @property
    def balance_due(self) -> Money:
        """What the buyer still owes now (never below zero; nothing once the order is closed)."""
        if self.is_closed:
            return Money.zero()
        remaining = self.due_from_buyer - self.net_paid
        return remaining if remaining.cents > 0 else Money.zero()

    @property
    def is_closed(self) -> bool:
        """Cancelled or returned: nothing is owed and everything paid goes back."""
        return self.status in CLOSED_STATUSES

    @property
    def excess_paid(self) -> Money:
        """Money we hold that the order does not want: everything still held once the order is
        closed, and what is held above what the buyer owes while it is open. It must be refunded
        (the money rule: a refund intent is opened in the transaction that made the excess)."""
        keep = Money.zero() if self.is_closed else self.due_from_buyer
        excess = self.net_paid - keep
        return excess if excess.cents > 0 else Money.zero()

    def record_payment(self, *, payment_id: str, amount: Money, method: str, now: datetime) -> None:
        """Money from the buyer arrived. It is a fact whatever the status, so it is always counted
        (a transfer that lands after a cancellation, a card charge whose answer came late); it
        moves the order only out of ``pending_payment``. Whatever it leaves in
        :attr:`excess_paid` is the caller's to refund in the same unit of work."""
        self.paid = self.paid + amount
        self._touch(now)
        self.raise_event(
            PaymentReceived(
                occurred_at=now, order_id=self.id, payment_id=payment_id, amount=amount.cents, method=method
            )
        )
        if self.status is S.PENDING_PAYMENT:
            self._leave_pending_payment_if_paid(now)

    def record_refund(self, amount: Money, now: datetime) -> None:
        """A refund went out for this order (or, negative, a refund failed and the money is back)."""
        self.refunded = self.refunded + amount
        self._touch(now)

    def _leave_pending_payment_if_paid(self, now: datetime) -> None:
        if self.balance_due.cents == 0:
            self._move(OrderStep.RECEIVE_FULL_PAYMENT, now)
            self.raise_event(FullPaymentReceived(occurred_at=now, order_id=self.id, amount=self.paid.cents))

    # -- documents ----------------------------------------------------------------------

    def add_document(self, document: DocumentRecord, now: datetime) -> None:
        """Keep a stored document with the order."""
        self.documents.append(document)
        self._touch(now)

    def document(self, kind: DocumentKind) -> DocumentRecord | None:
        """The latest document of ``kind``, if any."""
        found = [d for d in self.documents if d.kind is kind]
        return found[-1] if found else None

    @property
    def awaits_agreement(self) -> bool:
        """Placed with its purchase agreement left to a document worker, which has not run yet
        (only while the order waits for documents: a cancelled order needs no agreement)."""
        return self.status is OrderStatus.PENDING_DOCUMENTS and self.document(DocumentKind.PURCHASE_AGREEMENT) is None

    def start_signing(self, envelope: SigningEnvelope, now: datetime) -> None:
        """A signing envelope was opened for the agreement."""
        if self.status is not S.PENDING_DOCUMENTS:
            raise IllegalTransition(self.status.value, "sign_documents")
        self.envelope = envelope
        self._touch(now)
        self.raise_event(
            SigningStarted(occurred_at=now, order_id=self.id, envelope_id=envelope.id, expires_at=envelope.expires_at)
        )

    def decline_signing(self, now: datetime) -> None:
        """The buyer declined to sign: the envelope is closed; asking again opens a new one."""
        if self.envelope is None or self.envelope.status != "sent":
            raise IllegalTransition(self.status.value, "decline_signing")
        self.envelope = attrs.evolve(self.envelope, status="declined")
        self._touch(now)

    def sign_documents(self, *, signed_copy: DocumentRecord | None, signed_at: datetime) -> None:
        """The buyer signed: the agreement is marked signed and the order waits for insurance."""
        self._move(OrderStep.SIGN_DOCUMENTS, signed_at)
        self.documents = [
            attrs.evolve(d, status="signed", signed_at=signed_at) if d.kind is DocumentKind.PURCHASE_AGREEMENT else d
            for d in self.documents
        ]
        if signed_copy is not None:
            self.documents.append(signed_copy)
        if self.envelope is not None:
            self.envelope = attrs.evolve(self.envelope, status="completed")
        self.raise_event(DocumentsSigned(occurred_at=signed_at, order_id=self.id, signed_at=signed_at))

    @property
    def agreement_executed(self) -> bool:
        """Signed by the buyer and countersigned by the dealer (the agreement's status ``executed``)."""
        agreement = self.document(DocumentKind.PURCHASE_AGREEMENT)
        return agreement is not None and agreement.status == "executed"

    def countersign(self, *, advisor_id: str, signed_copy: DocumentRecord, countersigned_at: datetime) -> None:
        """The dealer countersigned the agreement the buyer signed: the agreement is executed and
        ``signed_copy`` (both signatures on their lines) becomes the latest signed copy. The
        order's status does not change: the buyer's signature moved it on already."""
        agreement = self.document(DocumentKind.PURCHASE_AGREEMENT)
        if agreement is None or agreement.status != "signed" or self.status in CLOSED_STATUSES:
            state = "executed" if agreement is not None and agreement.status == "executed" else self.status.value
            raise IllegalTransition(state, "countersign")
        self.documents = [
            attrs.evolve(d, status="executed") if d.kind is DocumentKind.PURCHASE_AGREEMENT else d
            for d in self.documents
        ]
        self.documents.append(signed_copy)
        self._touch(countersigned_at)
        self.raise_event(
            AgreementCountersigned(
                occurred_at=countersigned_at,
                order_id=self.id,
                advisor_id=advisor_id,
                countersigned_at=countersigned_at,
            )
        )

    # -- insurance ----------------------------------------------------------------------

    def submit_insurance(self, insurance: Insurance, document: DocumentRecord, now: datetime) -> None:
        """The buyer uploaded proof of insurance (allowed any time before delivery)."""
        rejected = self.insurance is not None and self.insurance.status is InsuranceStatus.REJECTED
        if self.status not in (S.PENDING_DOCUMENTS, S.PENDING_INSURANCE) and not rejected:
            raise IllegalTransition(self.status.value, "upload_insurance")
        if self.insurance is not None and self.insurance.status is InsuranceStatus.VERIFIED:
            raise IllegalTransition(self.status.value, "upload_insurance")
        self.documents.append(document)
        self.insurance = insurance
        self._touch(now)
        self.raise_event(InsuranceUploaded(occurred_at=now, order_id=self.id, policy_number=insurance.policy_number))

    def verify_insurance(self, now: datetime) -> None:
        """An advisor accepts the proof; the order moves on (past pending_payment if nothing is due)."""
        if self.insurance is None or self.insurance.status is not InsuranceStatus.PENDING_VERIFICATION:
            raise IllegalTransition(self.status.value, OrderStep.VERIFY_INSURANCE.value)
        self._move(OrderStep.VERIFY_INSURANCE, now)
        self.insurance = attrs.evolve(self.insurance, status=InsuranceStatus.VERIFIED, verified_at=now)
        self.raise_event(InsuranceVerified(occurred_at=now, order_id=self.id, verified_at=now))
        self._leave_pending_payment_if_paid(now)

    def reject_insurance(self, reason: str, now: datetime) -> None:
        """An advisor rejects the proof; the buyer must upload a new one."""
        if self.insurance is None or self.insurance.status is not InsuranceStatus.PENDING_VERIFICATION:
            raise IllegalTransition(self.status.value, "reject_insurance")
        if not reason.strip():
            raise ValidationFailed("a rejection needs a reason the buyer can act on", field="reason")
        self.insurance = attrs.evolve(self.insurance, status=InsuranceStatus.REJECTED, rejection_reason=reason)
        self._touch(now)
        self.raise_event(InsuranceRejected(occurred_at=now, order_id=self.id, reason=reason))

    # -- delivery -----------------------------------------------------------------------

    def schedule_delivery(self, *, scheduled_date: date, time_window: str, now: datetime) -> None:
        """Set (or move) the delivery or pickup appointment; allowed until the car leaves."""
        if self.status not in _CANCELLABLE:
            raise IllegalTransition(self.status.value, "schedule_delivery")
        if scheduled_date < local_day(now, self.pricing.province):
            raise ValidationFailed("the delivery date is in the past", field="date")
        self.delivery = attrs.evolve(
            self.delivery, scheduled_date=scheduled_date, time_window=time_window, status=DeliveryStatus.SCHEDULED
        )
        self._touch(now)
        self.raise_event(
            DeliveryScheduled(
                occurred_at=now,
                order_id=self.id,
                method=self.delivery.method.value,
                scheduled_date=scheduled_date.isoformat(),
                time_window=time_window,
            )
        )

    def dispatch(self, now: datetime) -> None:
        """The car leaves for the buyer (home delivery only, once scheduled)."""
        if self.delivery.method is not DeliveryMethod.DELIVERY or self.delivery.status is not DeliveryStatus.SCHEDULED:
            raise IllegalTransition(self.status.value, OrderStep.DISPATCH.value)
        self._move(OrderStep.DISPATCH, now)
        self.delivery = attrs.evolve(self.delivery, status=DeliveryStatus.IN_TRANSIT)
        self.raise_event(VehicleDispatched(occurred_at=now, order_id=self.id))

    def deliver(self, now: datetime) -> None:
        """The buyer has the car: from in_transit, or straight from pending_delivery for a pickup."""
        step = OrderStep.HAND_OVER if self.delivery.method is DeliveryMethod.PICKUP else OrderStep.DELIVER
        self._move(step, now)
        self.delivery = attrs.evolve(self.delivery, status=DeliveryStatus.DELIVERED)
        self.delivered_at = now
        self.raise_event(VehicleDelivered(occurred_at=now, order_id=self.id, delivered_at=now))

    def return_window_closes_at(self, window: timedelta) -> datetime | None:
        """When the buyer can no longer return the car: the end of the ``window.days``-th local
        day after the delivery day, in the buyer's province (a window counts whole days there)."""
        if self.delivered_at is None:
            return None
        return end_of_local_days(self.delivered_at, window.days, self.pricing.province)

    def complete(self, now: datetime) -> None:
        """The purchase is final."""
        self._move(OrderStep.COMPLETE, now)
        self.completed_at = now
        self.raise_event(
            PurchaseCompleted(
                occurred_at=now, order_id=self.id, vehicle_id=self.vehicle_id, customer_id=self.customer_id
            )
        )

    def cancel(self, reason: str, now: datetime) -> None:
        """Cancel before the car leaves; the caller refunds what was paid and releases the car."""
        self._move(OrderStep.CANCEL, now)
        self.closed_reason = reason
        self.raise_event(OrderCancelled(occurred_at=now, order_id=self.id, reason=reason))

    def return_vehicle(self, reason: str, window: timedelta, now: datetime) -> None:
        """The buyer brings the car back inside the return window."""
        closes = self.return_window_closes_at(window)
        if self.status is S.DELIVERED and closes is not None and now >= closes:
            raise IllegalTransition("delivered (return window closed)", OrderStep.RETURN.value)
        self._move(OrderStep.RETURN, now)
        self.closed_reason = reason
        self.raise_event(OrderReturned(occurred_at=now, order_id=self.id, reason=reason))

    # -- plumbing -----------------------------------------------------------------------

    def _move(self, step: OrderStep, now: datetime) -> None:
        self.status = next_status(self.status, step)
        self._touch(now)

    def _touch(self, now: datetime) -> None:
        self.updated_at = now
