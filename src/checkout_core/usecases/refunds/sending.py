"""Sending refunds to the gateway after their intent committed, and recording its answers (also
those of webhooks and polling) only over a still-pending refund."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from checkout_core.errors import Conflict, NotFound, PaymentGatewayUnavailable, RefundNotAllowed
from checkout_core.events import RefundIssued
from checkout_core.model.payments import Payment, PaymentMethod, Refund, RefundStatus
from checkout_core.money import Money
from checkout_core.ports.payments import RefundOutcome, RefundResult
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Context
from checkout_core.usecases.refunds.booking import book_on_order

OUTCOME_TO_STATUS = {
    RefundOutcome.SUCCEEDED: RefundStatus.SUCCEEDED,
    RefundOutcome.PENDING: RefundStatus.PENDING,
    RefundOutcome.FAILED: RefundStatus.FAILED,
}


class _NotAllRecorded(Exception):
    """Some refund of a batch was settled meanwhile: record that batch one by one instead."""


def send_refunds(ctx: Context, opened: Sequence[tuple[Refund, Payment]]) -> list[Refund]:
    """Send refunds opened by :func:`open_refunds` (after its commit) and record every answer in one
    transaction. A refund the gateway could not be asked about (or refused), a bank transfer and a
    payment without a gateway charge stay pending (``settle_pending_refunds`` follows them up with the
    same key). A refund settled meanwhile (webhook, settler) makes the batch fall back to recording
    each answer on its own, over still-pending refunds only."""
    now = ctx.clock.now()
    answered: list[tuple[Refund, Payment]] = []
    results: list[Refund] = []
    for refund, payment in opened:
        if payment.method is PaymentMethod.BANK_TRANSFER or payment.gateway_ref is None:
            results.append(refund)
            continue
        try:
            result = _ask_gateway(ctx, payment.gateway_ref, refund)
        except (PaymentGatewayUnavailable, RefundNotAllowed):
            # Left pending (settle_pending_refunds retries with the same key).
            results.append(refund)
            continue
        answered.append(
            (_settled(refund, OUTCOME_TO_STATUS[result.status], result.ref, result.failure_code, now), payment)
        )
    if not answered:
        return results
    try:
        with ctx.uow() as uow:
            written = uow.ledger.save_refunds([r for r, _ in answered], expected_status=RefundStatus.PENDING)
            if written != len(answered):
                raise _NotAllRecorded  # rolls this transaction back
            for refund, payment in answered:
                if refund.status is RefundStatus.FAILED:
                    _release(uow, payment, refund.amount, now)
                elif refund.status is RefundStatus.SUCCEEDED:
                    uow.emit(_issued(refund, payment, now))
            uow.commit()
    except (_NotAllRecorded, Conflict):
        # Rare: a webhook or settle_pending_refunds got to one of them first. The single-refund
        # path writes each answer only over a still-pending refund.
        return results + [
            record_outcome(
                ctx, attrs.evolve(r, status=RefundStatus.PENDING), p, r.status, r.gateway_ref, r.failure_code
            )
            for r, p in answered
        ]
    return results + [r for r, _ in answered]


def _ask_gateway(ctx: Context, charge_ref: str, refund: Refund) -> RefundResult:
    """The one gateway refund call, always with the refund's own idempotency key."""
    return ctx.gateway.refund(
        charge_ref=charge_ref, amount=refund.amount, idempotency_key=refund.idempotency_key, reason=refund.reason
    )


def _settled(
    refund: Refund, status: RefundStatus, gateway_ref: str | None, failure_code: str | None, now: datetime
) -> Refund:
    """The refund as the gateway answered it (keeping an earlier gateway id if none came back)."""
    return attrs.evolve(
        refund, status=status, gateway_ref=gateway_ref or refund.gateway_ref, failure_code=failure_code, updated_at=now
    )


def _release(uow: UnitOfWork, payment: Payment, amount: Money, now: datetime) -> None:
    """Undo the reservation of a failed refund's amount on its payment."""
    fresh = uow.ledger.get_payment(payment.id)
    if fresh is not None:
        fresh.refunded = fresh.refunded - amount
        uow.ledger.save_payment(fresh)
        book_on_order(uow, fresh, -amount, now)


def _issued(refund: Refund, payment: Payment, now: datetime) -> RefundIssued:
    return RefundIssued(
        occurred_at=now,
        reservation_id=payment.reservation_id,
        order_id=payment.order_id,
        payment_id=payment.id,
        amount=refund.amount.cents,
    )


def send_refund(ctx: Context, payment: Payment, refund: Refund) -> Refund:
    if payment.method is PaymentMethod.BANK_TRANSFER:
        # Bank transfers are returned by the treasury team by wire; the ledger entry is what
        # they work from, so it stays pending until they mark it done.
        return refund
    if payment.gateway_ref is None:
        raise RefundNotAllowed(f"payment {payment.id} has no gateway charge to refund")
    try:
        result = _ask_gateway(ctx, payment.gateway_ref, refund)
    except PaymentGatewayUnavailable:
        return refund  # stays pending; settle_pending_refunds retries with the same key
    return record_outcome(ctx, refund, payment, OUTCOME_TO_STATUS[result.status], result.ref, result.failure_code)


def record_refund_outcome(
    ctx: Context, refund_id: str, status: RefundStatus, gateway_ref: str | None, failure_code: str | None
) -> Refund:
    """Record what the gateway says about one of our refunds (webhooks, polling). A refund that is
    no longer pending is left as it is and returned."""
    refund, payment = refund_and_payment(ctx, refund_id)
    if refund.status is not RefundStatus.PENDING:
        return refund
    return record_outcome(ctx, refund, payment, status, gateway_ref, failure_code)


def record_outcome(
    ctx: Context,
    refund: Refund,
    payment: Payment,
    status: RefundStatus,
    gateway_ref: str | None,
    failure_code: str | None,
) -> Refund:
    """Write the gateway's answer (only over a still-pending refund: a webhook may have been first)."""
    now = ctx.clock.now()
    settled = _settled(refund, status, gateway_ref, failure_code, now)
    try:
        with ctx.uow() as uow:
            if not uow.ledger.save_refunds([settled], expected_status=RefundStatus.PENDING):
                raise Conflict(f"refund {refund.id} was settled by someone else")
            if status is RefundStatus.FAILED:
                _release(uow, payment, refund.amount, now)
            elif status is RefundStatus.SUCCEEDED:
                uow.emit(_issued(refund, payment, now))
            uow.commit()
    except Conflict:
        with ctx.uow() as uow:
            current = uow.ledger.get_refund(refund.id)
        if current is None:
            raise NotFound(f"refund {refund.id} not found") from None
        return current
    return settled


def refund_and_payment(ctx: Context, refund_id: str) -> tuple[Refund, Payment]:
    """A refund and the payment it gives back (NotFound for an unknown refund)."""
    with ctx.uow() as uow:
        refund = uow.ledger.get_refund(refund_id)
        payment = uow.ledger.get_payment(refund.payment_id) if refund is not None else None
    if refund is None or payment is None:
        raise NotFound(f"refund {refund_id} not found")
    return refund, payment
