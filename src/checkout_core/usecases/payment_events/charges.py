"""Charge events: what the gateway says happened to a charge, settled by the saga's own steps."""

from __future__ import annotations

import logging

from checkout_core.model.payments import Payment, PaymentMethod, PaymentPurpose, PaymentStatus, RefundReason
from checkout_core.ports.payments import ChargeResult, ChargeStatus

# The saga's own settle steps: a webhook runs the very same (idempotent, conditional) code as the
# API call and the recovery jobs, so whichever comes first decides and the others change nothing.
from checkout_core.usecases.charges import apply_charge, refund_duplicate_charge, settle_late_charge
from checkout_core.usecases.context import Context
from checkout_core.usecases.order_payments import settle_order_charge
from checkout_core.usecases.payment_events.finding import _find_payment, _is_other_charge, _load_payment
from checkout_core.usecases.payment_events.model import EventOutcome, GatewayEvent
from checkout_core.usecases.reservations import settle_deposit

log = logging.getLogger("checkout.payments.events")


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
        settle_late_charge(ctx, stored.id, result, reason=RefundReason.LATE_PAYMENT)
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
