"""Disputes (chargebacks): opened and closed as the gateway reports them."""

from __future__ import annotations

import logging
from typing import Any

from checkout_core.errors import NotFound
from checkout_core.events import DisputeClosed, PaymentDisputed
from checkout_core.model.payments import Dispute, DisputeStatus, Payment, PaymentStatus
from checkout_core.ports.payments import ChargeResult, ChargeStatus
from checkout_core.usecases.context import Context
from checkout_core.usecases.payment_events.charges import _settle_charge
from checkout_core.usecases.payment_events.finding import _find_payment_asking_gateway
from checkout_core.usecases.payment_events.model import EventOutcome, GatewayEvent

log = logging.getLogger("checkout.payments.events")


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
        existing = next(iter(uow.ledger.disputes(gateway_ref=event.object_ref)), None)
    if existing is None:  # cannot happen: the insert was skipped because this row exists
        raise NotFound(f"dispute {event.object_ref} not found")
    return existing


def list_disputes(ctx: Context, *, status: DisputeStatus | None = None, limit: int = 100) -> list[Dispute]:
    """Chargebacks (of one status), oldest first: what advisors and finance follow up."""
    with ctx.uow() as uow:
        return list(uow.ledger.disputes(status=status, limit=limit))
