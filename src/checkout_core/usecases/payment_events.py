"""What the gateway tells us on its own (Stripe webhooks), applied to our ledger.

An entrypoint verifies the delivery (for Stripe: the ``Stripe-Signature`` header, see
``adapters.payments.stripe_gateway.parse_stripe_event``), turns it into a :class:`GatewayEvent`
and calls :func:`handle_gateway_event`. Everything below is pure core: no transport, no SDK.

Three properties hold whatever the gateway does:

- **Each event id is handled once.** A :class:`ProcessedEventStore` records the ids; a duplicate
  delivery returns ``duplicate`` and changes nothing.
- **Order does not matter.** Handlers apply *facts* ("this charge succeeded", "refund re_… of
  $40 succeeded") that only move records forward: a pending payment may become succeeded or
  failed, a failed one may still become succeeded (money the gateway took is a fact), a succeeded
  one never goes back. A refund event that arrives before the charge's ``succeeded`` event first
  applies the success it implies, so both orders end in the same state.
- **The API call and its webhook settle to one state.** Deposits are settled by the same
  idempotent saga step recovery uses (``reservations.settle_deposit``); order payments whose API
  call is still in flight are left to that call (``deferred``: the endpoint answers non-2xx and
  the gateway delivers again later); either would be right, since recording is conditional.
- **A second charge for one ledger row is refunded.** It gets a ledger row of its own (purpose
  ``duplicate``) and a refund opened in the same transaction (``charges.refund_duplicate_charge``).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from checkout_core.errors import NotFound
from checkout_core.events import DisputeClosed, PaymentDisputed, RefundIssued
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
from checkout_core.money import Money
from checkout_core.ports.payments import ChargeResult, ChargeStatus
from checkout_core.ports.unit_of_work import UnitOfWork

# The saga's own settle steps: a webhook runs the very same (idempotent, conditional) code as the
# API call and the recovery jobs, so whichever comes first decides and the others change nothing.
from checkout_core.usecases.charges import apply_charge, refund_duplicate_charge, settle_late_charge
from checkout_core.usecases.context import Context
from checkout_core.usecases.order_payments import settle_order_charge
from checkout_core.usecases.refunds import record_refund_outcome, refund_payment
from checkout_core.usecases.reservations import settle_deposit

log = logging.getLogger("checkout.payments.events")

# -- the events we understand ---------------------------------------------------------------

PAYMENT_INTENT_SUCCEEDED = "payment_intent.succeeded"
PAYMENT_INTENT_FAILED = "payment_intent.payment_failed"
PAYMENT_INTENT_CANCELED = "payment_intent.canceled"
CHARGE_REFUNDED = "charge.refunded"
CHARGE_DISPUTE_CREATED = "charge.dispute.created"
CHARGE_DISPUTE_CLOSED = "charge.dispute.closed"
#: Per-refund events (the Refund object itself, with our idempotency key in its metadata).
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})

HANDLED_EVENT_TYPES = frozenset(
    {
        PAYMENT_INTENT_SUCCEEDED,
        PAYMENT_INTENT_FAILED,
        PAYMENT_INTENT_CANCELED,
        CHARGE_REFUNDED,
        CHARGE_DISPUTE_CREATED,
        CHARGE_DISPUTE_CLOSED,
        *REFUND_EVENTS,
    }
)

#: How long a claimed event id stays claimed without being completed before another delivery
#: may take it over (the process that claimed it is presumed dead).
DEFAULT_CLAIM_LEASE = timedelta(minutes=5)

#: At most this many unanswered pending payments are looked up at the gateway per event.
_UNANSWERED_LIMIT = 50


def _copy_mapping(value: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()}


@attrs.frozen(kw_only=True)
class GatewayRefund:
    """One refund as an event reports it."""

    ref: str
    amount: Money
    #: The gateway's status word: ``succeeded``, ``pending``, ``requires_action``, ``failed``, ``canceled``.
    status: str
    #: Our idempotency key, which our adapters put in the refund's metadata.
    idempotency_key: str | None = None
    failure_code: str | None = None


@attrs.frozen(kw_only=True)
class GatewayEvent:
    """A verified, parsed gateway event: transport-free, so any gateway adapter can produce one."""

    #: The gateway's event id (``evt_…``): the unit of "handled once".
    id: str
    #: The gateway's event type, e.g. ``payment_intent.succeeded``.
    type: str
    #: The id of the object the event is about (PaymentIntent, Charge, Refund or Dispute id).
    object_ref: str
    #: PaymentIntent events: its amount. ``charge.refunded``: the charge's *cumulative* amount
    #: refunded (a state, so redelivery and reordering are harmless). Refund and dispute events:
    #: the refund's or the dispute's amount. None when the gateway did not say (or not in CAD).
    amount: Money | None
    #: The object's status in the gateway's own words.
    status: str | None
    #: When the gateway created the event.
    created: datetime
    #: The object's metadata (ours carry ``ledger_id`` and ``idempotency_key``).
    metadata: Mapping[str, str] = attrs.field(factory=dict, converter=_copy_mapping, hash=False)
    #: The PaymentIntent the object belongs to: what our ledger keeps as ``gateway_ref``.
    payment_ref: str | None = None
    #: Decline or failure code, when the object failed.
    failure_code: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    #: ``charge.refunded``: the charge's refunds, when the payload lists them.
    refunds: tuple[GatewayRefund, ...] = ()


class EventOutcome(enum.StrEnum):
    """What handling an event did (returned to the endpoint, which logs it and picks a status)."""

    DUPLICATE = "duplicate"  # this event id was handled before
    IGNORED = "ignored"  # a type we do not act on, or a payment the gateway does not own
    UNKNOWN_PAYMENT = "unknown_payment"  # no ledger row for it: left to reconciliation
    DUPLICATE_CHARGE = "duplicate_charge"  # a second successful charge for one ledger row
    DEFERRED = "deferred"  # the API call is still in flight; deliver again later (non-2xx)
    NO_CHANGE = "no_change"  # the ledger already says so
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    LATE_PAYMENT_REFUNDED = "late_payment_refunded"  # money arrived for something that no longer wants it
    REFUND_RECORDED = "refund_recorded"
    REFUND_FAILED = "refund_failed"  # a refund the gateway reported succeeded has failed after all
    REFUND_UNMATCHED = "refund_unmatched"  # the gateway refunded more than our ledger can explain
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_CLOSED = "dispute_closed"

    @property
    def wants_redelivery(self) -> bool:
        """True when the endpoint should answer non-2xx so the gateway delivers the event again."""
        return self is EventOutcome.DEFERRED


# -- remembering which events were handled ----------------------------------------------------


@attrs.frozen(kw_only=True)
class ProcessedEvent:
    """The record kept per gateway event id."""

    id: str
    type: str
    claimed_at: datetime
    outcome: str | None = None  # None while being handled
    completed_at: datetime | None = None


class ProcessedEventStore(Protocol):
    """Which gateway events were handled. Production needs a table (see docs/payments.md)."""

    def claim(self, event_id: str, event_type: str, now: datetime, lease: timedelta) -> bool:
        """Start handling ``event_id``: True if nobody handled it and nobody is handling it now
        (a claim older than ``lease`` without completion counts as abandoned)."""
        ...

    def complete(self, event_id: str, outcome: str, now: datetime) -> None:
        """The event was handled with ``outcome``; later claims of it return False."""
        ...

    def release(self, event_id: str) -> None:
        """Handling failed or was deferred: forget the claim so a redelivery is handled."""
        ...

    def get(self, event_id: str) -> ProcessedEvent | None:
        """The record of ``event_id``, if any."""
        ...


class MemoryProcessedEvents:
    """:class:`ProcessedEventStore` in memory (tests, single-process embedded use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, ProcessedEvent] = {}

    def claim(self, event_id: str, event_type: str, now: datetime, lease: timedelta) -> bool:
        """See :meth:`ProcessedEventStore.claim`."""
        with self._lock:
            row = self._rows.get(event_id)
            if row is not None and (row.outcome is not None or now - row.claimed_at < lease):
                return False
            self._rows[event_id] = ProcessedEvent(id=event_id, type=event_type, claimed_at=now)
            return True

    def complete(self, event_id: str, outcome: str, now: datetime) -> None:
        """See :meth:`ProcessedEventStore.complete`."""
        with self._lock:
            row = self._rows[event_id]
            self._rows[event_id] = attrs.evolve(row, outcome=outcome, completed_at=now)

    def release(self, event_id: str) -> None:
        """See :meth:`ProcessedEventStore.release`."""
        with self._lock:
            row = self._rows.get(event_id)
            if row is not None and row.outcome is None:
                del self._rows[event_id]

    def get(self, event_id: str) -> ProcessedEvent | None:
        """See :meth:`ProcessedEventStore.get`."""
        with self._lock:
            return self._rows.get(event_id)


# -- the entry point ---------------------------------------------------------------------------


def handle_gateway_event(
    ctx: Context,
    event: GatewayEvent,
    *,
    processed: ProcessedEventStore | None = None,
    lease: timedelta = DEFAULT_CLAIM_LEASE,
) -> EventOutcome:
    """Apply a verified gateway event to our ledger, reservations and orders; return the outcome
    (an :class:`EventOutcome`, which is a ``str``).

    With ``processed`` each event id is handled at most once (``duplicate`` otherwise). Without
    it the handlers' own idempotency still keeps the ledger right, but every delivery is looked at.
    A ``deferred`` outcome (see :class:`EventOutcome`) is not recorded as handled. Errors (e.g.
    PaymentGatewayUnavailable while following a refund) propagate after the claim is released,
    so the gateway's next delivery tries again.
    """
    if processed is not None and not processed.claim(event.id, event.type, ctx.clock.now(), lease):
        return EventOutcome.DUPLICATE
    try:
        outcome = _dispatch(ctx, event)
    except BaseException:
        if processed is not None:
            processed.release(event.id)
        raise
    if processed is not None:
        if outcome.wants_redelivery:
            processed.release(event.id)
        else:
            processed.complete(event.id, outcome.value, ctx.clock.now())
    return outcome


def _dispatch(ctx: Context, event: GatewayEvent) -> EventOutcome:
    if event.type == PAYMENT_INTENT_SUCCEEDED:
        return _on_payment_intent(ctx, event, ChargeStatus.SUCCEEDED)
    if event.type == PAYMENT_INTENT_FAILED:
        return _on_payment_intent(ctx, event, ChargeStatus.FAILED)
    if event.type == PAYMENT_INTENT_CANCELED:
        return _on_payment_intent(ctx, event, ChargeStatus.FAILED, default_code="canceled")
    if event.type == CHARGE_REFUNDED:
        return _on_charge_refunded(ctx, event)
    if event.type in REFUND_EVENTS:
        return _on_refund(ctx, event)
    if event.type == CHARGE_DISPUTE_CREATED:
        return _on_dispute(ctx, event)
    if event.type == CHARGE_DISPUTE_CLOSED:
        return _on_dispute_closed(ctx, event)
    return EventOutcome.IGNORED


# -- finding our payment -------------------------------------------------------------------------


def _find_payment(uow: UnitOfWork, event: GatewayEvent) -> Payment | None:
    """Our payment for the event: by the gateway's id first, then by the metadata we sent (the
    webhook can beat the API answer, when our row has no gateway id yet)."""
    if event.payment_ref:
        payment = uow.ledger.payment_by_gateway_ref(event.payment_ref)
        if payment is not None:
            return payment
    ledger_id = event.metadata.get("ledger_id")
    if ledger_id:
        payment = uow.ledger.get_payment(ledger_id)
        if payment is not None:
            return payment
    key = event.metadata.get("idempotency_key")
    return uow.ledger.payment_by_key(key) if key else None


def _find_payment_asking_gateway(ctx: Context, event: GatewayEvent) -> Payment | None:
    """:func:`_find_payment`, and failing that, the one pending card payment of ours that the
    gateway says is behind ``event.payment_ref``.

    Refund and dispute objects do not carry our ledger id, so when the answer to the charge was
    lost (our row has no gateway id yet) and such an event comes first, only the gateway can
    tie the two together. Pending payments without a gateway id are few (calls in flight and
    crash leftovers), so asking about each is cheap."""
    with ctx.uow() as uow:
        payment = _find_payment(uow, event)
        if payment is not None or not event.payment_ref:
            return payment
        unanswered = [
            p
            # ``older_than`` is exclusive: one second ahead takes every pending row, however recent.
            for p in uow.ledger.pending_payments(ctx.clock.now() + timedelta(seconds=1), _UNANSWERED_LIMIT)
            if p.method is PaymentMethod.CARD and p.gateway_ref is None
        ]
    for candidate in unanswered:
        found = ctx.gateway.find_charge(idempotency_key=candidate.idempotency_key, ledger_id=candidate.id)
        if found is not None and found.ref == event.payment_ref:
            return candidate
    return None


def _is_other_charge(payment: Payment, event: GatewayEvent) -> bool:
    """Our row already points at another gateway object than this event's: a second charge was
    made for one ledger row (a retry that the gateway did not deduplicate)."""
    return bool(payment.gateway_ref and event.payment_ref and payment.gateway_ref != event.payment_ref)


def _load_payment(ctx: Context, payment_id: str) -> Payment:
    with ctx.uow() as uow:
        payment = uow.ledger.get_payment(payment_id)
    if payment is None:
        raise NotFound(f"payment {payment_id} not found")
    return payment


# -- charges -------------------------------------------------------------------------------------


def _on_payment_intent(
    ctx: Context, event: GatewayEvent, status: ChargeStatus, *, default_code: str = "payment_failed"
) -> EventOutcome:
    with ctx.uow() as uow:
        payment = _find_payment(uow, event)
    if payment is None:
        log.warning("gateway event %s: no ledger payment for %s", event.id, event.object_ref)
        return EventOutcome.UNKNOWN_PAYMENT
    if payment.method is not PaymentMethod.CARD:
        return EventOutcome.IGNORED
    if _is_other_charge(payment, event):
        if status is not ChargeStatus.SUCCEEDED:
            return EventOutcome.NO_CHANGE
        log.warning("gateway event %s: second charge %s for payment %s", event.id, event.payment_ref, payment.id)
        refund_duplicate_charge(
            ctx,
            payment.id,
            ChargeResult(
                ref=event.payment_ref or event.object_ref,
                status=ChargeStatus.SUCCEEDED,
                amount=event.amount or payment.amount,
                card_brand=event.card_brand,
                card_last4=event.card_last4,
            ),
        )
        return EventOutcome.DUPLICATE_CHARGE
    result = ChargeResult(
        ref=event.payment_ref or event.object_ref,
        status=status,
        amount=payment.amount,
        decline_code=None if status is ChargeStatus.SUCCEEDED else (event.failure_code or default_code),
        card_brand=event.card_brand,
        card_last4=event.card_last4,
    )
    return _settle_charge(ctx, payment, result)


def _settle_charge(ctx: Context, payment: Payment, result: ChargeResult) -> EventOutcome:
    """Record what the gateway says happened to the charge behind ``payment``.

    Returns LATE_PAYMENT_REFUNDED when the charge succeeded but nothing holds the money any more
    (the reservation was released, the order closed): the caller then gives the money back."""
    if result.status is ChargeStatus.PENDING or payment.status is PaymentStatus.SUCCEEDED:
        return EventOutcome.NO_CHANGE  # nothing final yet / money taken is final
    if result.status is ChargeStatus.FAILED and payment.status is PaymentStatus.FAILED:
        return EventOutcome.NO_CHANGE
    if payment.purpose is PaymentPurpose.DEPOSIT and payment.reservation_id is not None:
        return _settle_deposit(ctx, payment, payment.reservation_id, result)
    return _settle_order_payment(ctx, payment, result)


def _settle_deposit(ctx: Context, payment: Payment, reservation_id: str, result: ChargeResult) -> EventOutcome:
    if payment.status is PaymentStatus.PENDING:
        # The saga's own step 3: confirms or releases the car, and is a no-op if the API call
        # (or recovery) settled the reservation first. For a webhook a decline is the news, not
        # an error, so its PaymentDeclined is not raised further.
        settle_deposit(ctx, reservation_id, result)
    stored = _load_payment(ctx, payment.id)
    if result.status is ChargeStatus.SUCCEEDED:
        if stored.status is PaymentStatus.SUCCEEDED:
            return EventOutcome.PAYMENT_SUCCEEDED
        # The reservation was settled without this money: declined, or released by recovery
        # before the gateway showed the charge. The success and its refund in one transaction.
        settle_late_charge(ctx, stored.id, result, reason="late_payment")
        return EventOutcome.LATE_PAYMENT_REFUNDED
    if stored.status is PaymentStatus.PENDING:
        _mark_payment(ctx, stored.id, result)
    return EventOutcome.PAYMENT_FAILED


def _settle_order_payment(ctx: Context, payment: Payment, result: ChargeResult) -> EventOutcome:
    now = ctx.clock.now()
    if (
        payment.status is PaymentStatus.PENDING
        and payment.gateway_ref is None
        and now - payment.updated_at < ctx.policy.recovery_grace
    ):
        # pay_by_card is still waiting for this very answer and will record it itself (either
        # would be right: recording is conditional). Asking for a later delivery keeps the
        # webhook from racing the request's own answer for no gain.
        return EventOutcome.DEFERRED
    before = payment.status
    stored = settle_order_charge(ctx, payment.id, result)
    if stored.status is before or (before is PaymentStatus.SUCCEEDED):
        return EventOutcome.NO_CHANGE
    if stored.status is PaymentStatus.FAILED:
        return EventOutcome.PAYMENT_FAILED
    with ctx.uow() as uow:
        order = uow.orders.get(stored.order_id) if stored.order_id else None
    if order is None or order.is_closed:
        return EventOutcome.LATE_PAYMENT_REFUNDED
    return EventOutcome.PAYMENT_SUCCEEDED


def _mark_payment(ctx: Context, payment_id: str, result: ChargeResult) -> None:
    with ctx.uow() as uow:
        payment = uow.ledger.get_payment(payment_id)
        if payment is None or payment.status is PaymentStatus.SUCCEEDED:
            return
        apply_charge(payment, result, ctx.clock.now())
        uow.ledger.save_payment(payment)
        uow.commit()


def _give_back(ctx: Context, payment_id: str, *, gateway_refunded: Money | None) -> None:
    """Refund what is left of a payment nothing holds any more. ``gateway_refunded`` is what the
    gateway says it refunded already (when our ledger may not know those refunds by id), so that
    we never ask for more than the charge has left."""
    payment = _load_payment(ctx, payment_id)
    remaining = payment.refundable.cents
    if gateway_refunded is not None:
        remaining = min(remaining, payment.amount.cents - gateway_refunded.cents)
    if remaining > 0:
        refund_payment(
            ctx, payment_id=payment.id, amount=Money(remaining), reason="late_payment", key_suffix="late_payment"
        )
        log.warning("payment %s succeeded after it was released; %d cents refunded", payment.id, remaining)


def _ensure_succeeded(ctx: Context, payment: Payment, event: GatewayEvent) -> EventOutcome:
    """A refund or a dispute implies the charge succeeded: apply that first (out-of-order delivery)."""
    if payment.status is PaymentStatus.SUCCEEDED:
        return EventOutcome.NO_CHANGE
    result = ChargeResult(
        ref=event.payment_ref or payment.gateway_ref or event.object_ref,
        status=ChargeStatus.SUCCEEDED,
        amount=payment.amount,
        card_brand=event.card_brand,
        card_last4=event.card_last4,
    )
    return _settle_charge(ctx, payment, result)


# -- refunds -------------------------------------------------------------------------------------


def _refund_status(status: str | None) -> RefundStatus:
    if status == "succeeded":
        return RefundStatus.SUCCEEDED
    if status in ("failed", "canceled"):
        return RefundStatus.FAILED
    return RefundStatus.PENDING  # pending, requires_action, or not said


def _on_charge_refunded(ctx: Context, event: GatewayEvent) -> EventOutcome:
    payment = _find_payment_asking_gateway(ctx, event)
    if payment is None or payment.method is not PaymentMethod.CARD:
        return EventOutcome.UNKNOWN_PAYMENT
    before = _ensure_succeeded(ctx, payment, event)
    if before is EventOutcome.DEFERRED:
        return before
    outcomes = [_apply_gateway_refund(ctx, payment.id, refund) for refund in event.refunds]
    if not event.refunds:
        # Newer API versions do not list the refunds on the charge: follow the ones we know.
        outcomes.append(_follow_pending_refunds(ctx, payment.id))
    if before is EventOutcome.LATE_PAYMENT_REFUNDED:
        _give_back(ctx, payment.id, gateway_refunded=event.amount)
        return before
    if event.amount is not None:
        with ctx.uow() as uow:
            known = sum(
                r.amount.cents for r in uow.ledger.refunds_for(payment.id) if r.status is not RefundStatus.FAILED
            )
        if event.amount.cents > known:
            log.warning(
                "gateway event %s: %d cents refunded at the gateway, %d in our ledger for payment %s",
                event.id,
                event.amount.cents,
                known,
                payment.id,
            )
            return EventOutcome.REFUND_UNMATCHED
    return _strongest(outcomes)


def _on_refund(ctx: Context, event: GatewayEvent) -> EventOutcome:
    if event.amount is None:
        return EventOutcome.IGNORED
    with ctx.uow() as uow:
        known = uow.ledger.refund_by_gateway_ref(event.object_ref)
        payment = uow.ledger.get_payment(known.payment_id) if known is not None else None
    if payment is None:
        payment = _find_payment_asking_gateway(ctx, event)
    if payment is None or payment.method is not PaymentMethod.CARD:
        return EventOutcome.UNKNOWN_PAYMENT
    refund = GatewayRefund(
        ref=event.object_ref,
        amount=event.amount,
        status=event.status or "pending",
        idempotency_key=event.metadata.get("idempotency_key"),
        failure_code=event.failure_code,
    )
    before = _ensure_succeeded(ctx, payment, event)
    if before is EventOutcome.DEFERRED:
        return before
    outcome = _apply_gateway_refund(ctx, payment.id, refund)
    if before is EventOutcome.LATE_PAYMENT_REFUNDED:
        _give_back(ctx, payment.id, gateway_refunded=None)
        return before
    return outcome


def _apply_gateway_refund(ctx: Context, payment_id: str, refund: GatewayRefund) -> EventOutcome:
    """Bring our ledger in line with one refund the gateway reports."""
    status = _refund_status(refund.status)
    with ctx.uow() as uow:
        ours = uow.ledger.refund_by_gateway_ref(refund.ref)
        if ours is None and refund.idempotency_key:
            # Our own refund whose API answer has not been recorded yet.
            ours = next(
                (r for r in uow.ledger.refunds_for(payment_id) if r.idempotency_key == refund.idempotency_key), None
            )
    if ours is None:
        return _record_outside_refund(ctx, payment_id, refund, status)
    if ours.status is RefundStatus.PENDING:
        if status is RefundStatus.PENDING:
            if ours.gateway_ref is not None:
                return EventOutcome.NO_CHANGE
            record_refund_outcome(ctx, ours.id, RefundStatus.PENDING, refund.ref, None)
            return EventOutcome.REFUND_RECORDED
        # The refunds use case's own step: status, gateway id, the payment's refunded total
        # and the RefundIssued event, and nothing if the API answer already settled it.
        record_refund_outcome(ctx, ours.id, status, refund.ref, refund.failure_code)
        return EventOutcome.REFUND_RECORDED
    if ours.status is RefundStatus.SUCCEEDED and status is RefundStatus.FAILED:
        return _refund_failed_after_success(ctx, ours.id, refund)
    return EventOutcome.NO_CHANGE


def _refund_failed_after_success(ctx: Context, refund_id: str, refund: GatewayRefund) -> EventOutcome:
    """Rarely a refund the gateway reported succeeded fails later (a closed card account): the
    money stays with us, so it is refundable again."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        ours = uow.ledger.get_refund(refund_id)
        if ours is None or ours.status is not RefundStatus.SUCCEEDED:
            return EventOutcome.NO_CHANGE
        ours.status = RefundStatus.FAILED
        ours.failure_code = refund.failure_code or "refund_failed"
        ours.updated_at = now
        uow.ledger.save_refund(ours)
        payment = uow.ledger.get_payment(ours.payment_id)
        if payment is not None:
            payment.refunded = payment.refunded - ours.amount
            payment.updated_at = now
            uow.ledger.save_payment(payment)
            if payment.order_id is not None:
                order = uow.orders.get(payment.order_id, for_update=True)
                if order is not None:
                    order.record_refund(-ours.amount, now)  # the order's refunded total goes back down
                    uow.orders.save(order)
        uow.commit()
    log.warning("refund %s (%s) failed after it had succeeded", refund_id, refund.ref)
    return EventOutcome.REFUND_FAILED


def _record_outside_refund(ctx: Context, payment_id: str, refund: GatewayRefund, status: RefundStatus) -> EventOutcome:
    """A refund made at the gateway, not through us (e.g. in the Stripe dashboard): record it so
    that our ledger still says how much of the payment is left."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        payment = uow.ledger.get_payment(payment_id)
        if payment is None:
            raise NotFound(f"payment {payment_id} not found")
        if uow.ledger.refund_by_gateway_ref(refund.ref) is not None:
            return EventOutcome.NO_CHANGE  # a parallel delivery recorded it a moment ago
        uow.ledger.add_refund(
            Refund(
                id=ctx.ids.new("rfd"),
                payment_id=payment.id,
                amount=refund.amount,
                status=status,
                idempotency_key=f"gateway:{refund.ref}",
                reason="refunded_at_gateway",
                created_at=now,
                updated_at=now,
                gateway_ref=refund.ref,
                failure_code=refund.failure_code,
            )
        )
        if status is not RefundStatus.FAILED:
            payment.refunded = payment.refunded + refund.amount
            payment.updated_at = now
            uow.ledger.save_payment(payment)
            if payment.order_id is not None:
                order = uow.orders.get(payment.order_id, for_update=True)
                if order is not None:
                    order.record_refund(refund.amount, now)
                    uow.orders.save(order)
        if status is RefundStatus.SUCCEEDED:
            uow.emit(
                RefundIssued(
                    occurred_at=now,
                    reservation_id=payment.reservation_id,
                    order_id=payment.order_id,
                    payment_id=payment.id,
                    amount=refund.amount.cents,
                )
            )
        uow.commit()
    log.info("recorded refund %s made at the gateway for payment %s", refund.ref, payment_id)
    return EventOutcome.REFUND_RECORDED


def _follow_pending_refunds(ctx: Context, payment_id: str) -> EventOutcome:
    """Ask the gateway about our pending refunds of this payment (the event did not list them)."""
    with ctx.uow() as uow:
        pending = [r for r in uow.ledger.refunds_for(payment_id) if r.status is RefundStatus.PENDING and r.gateway_ref]
    outcomes: list[EventOutcome] = []
    for refund in pending:
        assert refund.gateway_ref is not None
        answer = ctx.gateway.get_refund(refund.gateway_ref)
        outcomes.append(
            _apply_gateway_refund(
                ctx,
                payment_id,
                GatewayRefund(
                    ref=answer.ref,
                    amount=answer.amount,
                    status=answer.status.value,
                    idempotency_key=refund.idempotency_key,
                    failure_code=answer.failure_code,
                ),
            )
        )
    return _strongest(outcomes)


def _strongest(outcomes: list[EventOutcome]) -> EventOutcome:
    for candidate in (EventOutcome.REFUND_FAILED, EventOutcome.REFUND_RECORDED):
        if candidate in outcomes:
            return candidate
    return EventOutcome.NO_CHANGE


# -- disputes ------------------------------------------------------------------------------------


def _on_dispute(ctx: Context, event: GatewayEvent) -> EventOutcome:
    """A chargeback was opened: record it against our payment (once per gateway dispute, however
    often the event comes) and emit ``PaymentDisputed``. The charge is recorded as succeeded if
    the answer to it was lost; we never refund a disputed charge ourselves (the dispute process
    moves the money, and the gateway's balance shows it to reconciliation)."""
    payment = _disputed_payment(ctx, event)
    if isinstance(payment, EventOutcome):
        return payment
    _open_dispute(ctx, payment, event)
    log.warning(
        "dispute %s opened on payment %s (%s cents)",
        event.object_ref,
        payment.id,
        event.amount.cents if event.amount is not None else "?",
    )
    return EventOutcome.DISPUTE_OPENED


def _on_dispute_closed(ctx: Context, event: GatewayEvent) -> EventOutcome:
    """The card network decided: ``lost`` (the money went back to the cardholder) or won — Stripe's
    ``won``, and ``warning_closed`` (an inquiry that closed without a chargeback: no money
    moved). A dispute we never heard open is recorded first, then closed."""
    payment = _disputed_payment(ctx, event)
    if isinstance(payment, EventOutcome):
        return payment
    dispute = _open_dispute(ctx, payment, event)
    if dispute.status is not DisputeStatus.OPEN:
        return EventOutcome.NO_CHANGE
    now = ctx.clock.now()
    dispute.close(won=event.status != "lost", now=now)
    with ctx.uow() as uow:
        if not uow.ledger.save_dispute(dispute, expected_status=DisputeStatus.OPEN):
            return EventOutcome.NO_CHANGE  # another delivery closed it first
        uow.emit(DisputeClosed(occurred_at=now, **_dispute_facts(payment, dispute), outcome=dispute.status.value))
        uow.commit()
    log.warning("dispute %s on payment %s closed: %s", dispute.gateway_ref, payment.id, dispute.status.value)
    return EventOutcome.DISPUTE_CLOSED


def _dispute_facts(payment: Payment, dispute: Dispute) -> dict[str, Any]:
    """What both dispute events say about the dispute and the payment it is against."""
    return {
        "reservation_id": payment.reservation_id,
        "order_id": payment.order_id,
        "payment_id": payment.id,
        "dispute_id": dispute.id,
        "amount": dispute.amount.cents,
    }


def _disputed_payment(ctx: Context, event: GatewayEvent) -> Payment | EventOutcome:
    """Our payment behind a dispute event, recorded as succeeded (a dispute implies the charge
    went through); an outcome to answer with instead when there is none yet."""
    payment = _find_payment_asking_gateway(ctx, event)
    if payment is None:
        log.warning("gateway event %s: dispute %s on a charge we do not know", event.id, event.object_ref)
        return EventOutcome.UNKNOWN_PAYMENT
    if payment.status is not PaymentStatus.SUCCEEDED:
        result = ChargeResult(
            ref=event.payment_ref or event.object_ref,
            status=ChargeStatus.SUCCEEDED,
            amount=payment.amount,
        )
        if _settle_charge(ctx, payment, result) is EventOutcome.DEFERRED:
            return EventOutcome.DEFERRED
    return payment


def _open_dispute(ctx: Context, payment: Payment, event: GatewayEvent) -> Dispute:
    """The ledger's dispute for ``event``, opened now (with ``PaymentDisputed``) if it is new."""
    now = ctx.clock.now()
    dispute = Dispute(
        id=ctx.ids.new("dsp"),
        payment_id=payment.id,
        gateway_ref=event.object_ref,
        amount=event.amount if event.amount is not None else payment.amount,
        reason=(event.failure_code or "unspecified")[:100],
        status=DisputeStatus.OPEN,
        opened_at=now,
    )
    with ctx.uow() as uow:
        if uow.ledger.add_dispute(dispute):
            uow.emit(PaymentDisputed(occurred_at=now, **_dispute_facts(payment, dispute), reason=dispute.reason))
            uow.commit()
            return dispute
        existing = uow.ledger.dispute_by_gateway_ref(event.object_ref)
    if existing is None:  # cannot happen: the insert was skipped because this row exists
        raise NotFound(f"dispute {event.object_ref} not found")
    return existing


def list_disputes(ctx: Context, *, status: DisputeStatus | None = None, limit: int = 100) -> list[Dispute]:
    """Chargebacks (of one status), oldest first: what advisors and finance follow up."""
    with ctx.uow() as uow:
        return list(uow.ledger.disputes(status=status, limit=limit))
