"""Recording what the gateway says about a charge, and giving back money that arrived for
something that no longer wants it. Shared by the API calls, the webhooks and the recovery job,
so that whichever hears the answer first records it the same way."""

from __future__ import annotations

from datetime import datetime

from checkout_core.errors import Conflict, NotFound
from checkout_core.events import DuplicateChargeRefunded
from checkout_core.model.payments import Payment, PaymentMethod, PaymentPurpose, PaymentStatus, Refund, RefundReason
from checkout_core.ports.payments import ChargeResult, ChargeStatus
from checkout_core.usecases.context import Context
from checkout_core.usecases.refunds import open_refund, send_refunds


def apply_charge(payment: Payment, charge: ChargeResult, now: datetime) -> None:
    """Write a final gateway answer (succeeded or failed) onto our ledger row."""
    succeeded = charge.status is ChargeStatus.SUCCEEDED
    payment.status = PaymentStatus.SUCCEEDED if succeeded else PaymentStatus.FAILED
    payment.gateway_ref = charge.ref or payment.gateway_ref
    payment.failure_code = None if succeeded else (charge.decline_code or "card_declined")
    payment.card_brand = charge.card_brand or payment.card_brand
    payment.card_last4 = charge.card_last4 or payment.card_last4
    payment.updated_at = now


def settle_late_charge(ctx: Context, payment_id: str, charge: ChargeResult, *, reason: RefundReason) -> Refund | None:
    """A charge succeeded for a payment whose reason is gone (its hold was released before the
    answer came): record the success and open the refund of everything refundable in one
    transaction (the money rule), then send it. Idempotent: the refund's key is
    ``<payment id>:<reason>``, so a second call opens nothing. Returns the refund opened, if any."""
    for _ in range(3):
        now = ctx.clock.now()
        try:
            with ctx.uow() as uow:
                payment = uow.ledger.get_payment(payment_id)
                if payment is None:
                    raise NotFound(f"payment {payment_id} not found")
                if payment.status is not PaymentStatus.SUCCEEDED:
                    apply_charge(payment, charge, now)
                refund = open_refund(ctx, uow, payment, payment.refundable, reason, f"{payment.id}:{reason}", now)
                uow.ledger.save_payment(payment)
                uow.commit()
        except Conflict:
            continue  # settled or refunded concurrently: read it again
        if refund is not None:
            send_refunds(ctx, [(refund, payment)])
        return refund
    raise Conflict(f"payment {payment_id} keeps changing; try again")


def refund_duplicate_charge(ctx: Context, payment_id: str, charge: ChargeResult) -> Refund | None:
    """The gateway reports a second successful charge (``charge.ref``) for our payment
    ``payment_id`` — a retry it did not deduplicate, e.g. after Stripe's 24-hour key window. In one
    transaction: a ledger row of its own for that charge (purpose ``duplicate``: never counted on
    the order, so every charge the gateway took is linked to exactly one ledger row), the refund of
    all of it, and ``DuplicateChargeRefunded`` for the order's timeline; the refund is sent after
    the commit. Idempotent per gateway charge. Returns the refund opened, if any."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        original = uow.ledger.get_payment(payment_id)
        if original is None:
            raise NotFound(f"payment {payment_id} not found")
        if uow.ledger.get_payment(gateway_ref=charge.ref) is not None:
            return None  # recorded by an earlier delivery
        duplicate = Payment(
            id=ctx.ids.new("pay"),
            purpose=PaymentPurpose.DUPLICATE,
            method=PaymentMethod.CARD,
            amount=charge.amount,
            status=PaymentStatus.SUCCEEDED,
            idempotency_key=f"duplicate:{charge.ref}",
            reservation_id=original.reservation_id,
            order_id=original.order_id,
            gateway_ref=charge.ref,
            card_brand=charge.card_brand,
            card_last4=charge.card_last4,
            created_at=now,
            updated_at=now,
        )
        try:
            uow.ledger.add_payment(duplicate)
        except Conflict:
            return None  # a parallel delivery recorded it a moment ago
        reason = RefundReason.DUPLICATE_CHARGE
        refund = open_refund(ctx, uow, duplicate, duplicate.amount, reason, f"{duplicate.id}:{reason}", now)
        uow.ledger.save_payment(duplicate)
        uow.emit(
            DuplicateChargeRefunded(
                occurred_at=now,
                reservation_id=original.reservation_id,
                order_id=original.order_id,
                payment_id=original.id,
                duplicate_payment_id=duplicate.id,
                amount=duplicate.amount.cents,
            )
        )
        uow.commit()
    if refund is not None:
        send_refunds(ctx, [(refund, duplicate)])
    return refund
