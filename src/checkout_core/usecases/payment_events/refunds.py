"""Refund events: our ledger brought in line with the refunds the gateway reports."""

from __future__ import annotations

import logging

from checkout_core.errors import Conflict, NotFound
from checkout_core.events import RefundIssued
from checkout_core.model.payments import PaymentMethod, Refund, RefundReason, RefundStatus
from checkout_core.usecases.context import Context
from checkout_core.usecases.payment_events.charges import _ensure_succeeded
from checkout_core.usecases.payment_events.finding import _find_payment_asking_gateway
from checkout_core.usecases.payment_events.model import EventOutcome, GatewayEvent, GatewayRefund
from checkout_core.usecases.refunds import record_refund_outcome

log = logging.getLogger("checkout.payments.events")


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
        return before  # settling the late charge opened its refund in the same transaction
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
        known = uow.ledger.get_refund(gateway_ref=event.object_ref)
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
        return before  # settling the late charge opened its refund in the same transaction
    return outcome


def _apply_gateway_refund(ctx: Context, payment_id: str, refund: GatewayRefund) -> EventOutcome:
    """Bring our ledger in line with one refund the gateway reports."""
    status = _refund_status(refund.status)
    with ctx.uow() as uow:
        ours = uow.ledger.get_refund(gateway_ref=refund.ref)
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
        if not uow.ledger.save_refunds([ours]):
            raise Conflict(f"refund {ours.id} does not exist")
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
        if uow.ledger.get_refund(gateway_ref=refund.ref) is not None:
            return EventOutcome.NO_CHANGE  # a parallel delivery recorded it a moment ago
        recorded = Refund(
            id=ctx.ids.new("rfd"),
            payment_id=payment.id,
            amount=refund.amount,
            status=status,
            idempotency_key=f"gateway:{refund.ref}",
            reason=RefundReason.REFUNDED_AT_GATEWAY.value,
            created_at=now,
            updated_at=now,
            gateway_ref=refund.ref,
            failure_code=refund.failure_code,
        )
        if not uow.ledger.add_refunds([recorded]):
            raise Conflict(f"a refund with key {recorded.idempotency_key} exists")  # a parallel delivery
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
