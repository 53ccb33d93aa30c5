"""Refunds still pending: card refunds followed up at the gateway by the recovery job (leased, so
several jobs never send one twice), and bank-transfer refunds settled by treasury."""

from __future__ import annotations

from datetime import datetime

from checkout_core.errors import Conflict, PaymentGatewayUnavailable, RefundNotAllowed, ValidationFailed
from checkout_core.model.payments import Payment, PaymentMethod, Refund, RefundStatus
from checkout_core.usecases.context import Context
from checkout_core.usecases.refunds.sending import OUTCOME_TO_STATUS, record_outcome, refund_and_payment, send_refund


def settle_pending_refunds(ctx: Context, limit: int = 100, *, older_than: datetime | None = None) -> int:
    """Follow pending card refunds to the end: resend (same key) those never answered, poll the
    others. ``older_than``: only refunds untouched since then (the recovery job passes now less
    the grace, so that a refund an API call is sending right now is left to it). Each refund is
    leased first (a conditional update of its ``updated_at``), so recovery jobs running at once in
    several processes never send the same refund together. Returns how many were settled."""
    with ctx.uow() as uow:
        candidates = uow.ledger.refunds_for(
            status=RefundStatus.PENDING, method=PaymentMethod.CARD, updated_before=older_than, limit=limit
        )
        pending = [(r, uow.ledger.get_payment(r.payment_id)) for r in candidates]
    settled = 0
    for refund, payment in pending:
        if payment is None or payment.gateway_ref is None:
            continue  # a card payment never charged has nothing to refund at the gateway
        with ctx.uow() as uow:
            leased = uow.ledger.lease_refund(refund.id, seen=refund.updated_at, now=ctx.clock.now())
            uow.commit()
        if not leased:
            continue  # another recovery job (or the API) has just touched it
        try:
            if refund.gateway_ref is None:
                done = send_refund(ctx, payment, refund)
            else:
                result = ctx.gateway.get_refund(refund.gateway_ref)
                done = record_outcome(
                    ctx, refund, payment, OUTCOME_TO_STATUS[result.status], result.ref, result.failure_code
                )
        except (PaymentGatewayUnavailable, RefundNotAllowed):
            continue
        if done.status is not RefundStatus.PENDING:
            settled += 1
    return settled


def pending_bank_refunds(ctx: Context, limit: int = 100) -> list[tuple[Refund, Payment]]:
    """Refunds of bank-transfer payments still waiting for treasury to wire them, oldest first."""
    with ctx.uow() as uow:
        refunds = uow.ledger.refunds_for(status=RefundStatus.PENDING, method=PaymentMethod.BANK_TRANSFER, limit=limit)
        # One read per payment, not per refund: partial refunds of one transfer share it.
        payments = {pid: uow.ledger.get_payment(pid) for pid in dict.fromkeys(r.payment_id for r in refunds)}
    return [(r, p) for r in refunds if (p := payments[r.payment_id]) is not None]


def settle_bank_refund(ctx: Context, refund_id: str, *, sent: bool, bank_reference: str) -> Refund:
    """Record what treasury did with a pending bank-transfer refund: ``sent`` (the money left,
    ``bank_reference`` is the wire's reference; ``RefundIssued``) or returned (the wire bounced:
    the refund fails and its amount is refundable again). Card refunds are settled by the gateway,
    never by hand; a refund already settled is a Conflict naming its status."""
    reference = bank_reference.strip()
    if not reference or len(reference) > 255:
        raise ValidationFailed("a bank reference of 1 to 255 characters is required", field="bankReference")
    refund, payment = refund_and_payment(ctx, refund_id)
    if payment.method is not PaymentMethod.BANK_TRANSFER:
        raise RefundNotAllowed(f"refund {refund_id} is a card refund: the gateway settles it")
    if refund.status is not RefundStatus.PENDING:
        raise Conflict(f"refund {refund_id} is already {refund.status.value}")
    status = RefundStatus.SUCCEEDED if sent else RefundStatus.FAILED
    settled = record_outcome(ctx, refund, payment, status, reference, None if sent else "returned_by_bank")
    if settled.status is not status:
        raise Conflict(f"refund {refund_id} is already {settled.status.value}")
    return settled
