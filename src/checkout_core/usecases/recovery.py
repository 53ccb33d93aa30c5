"""The one recovery job for every flow that moves money: it settles each intent left stale past
``Policy.recovery_grace`` — deposits, card payments, refunds owed but never opened, pending card
refunds. Idempotent and safe in several processes at once; see docs/payments.md, "The recovery
job"."""

from __future__ import annotations

import attrs

from checkout_core.model.order import CLOSED_STATUSES, OrderStatus
from checkout_core.model.payments import Payment, PaymentPurpose, RefundReason
from checkout_core.model.reservation import RELEASED_STATUSES, ReservationStatus
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Context
from checkout_core.usecases.order_payments import recover_pending_card_payments
from checkout_core.usecases.refunds import open_refunds, send_refunds, settle_pending_refunds
from checkout_core.usecases.reservations import recover_pending_deposits

#: Payments that are never kept.
NEVER_KEPT = (PaymentPurpose.DUPLICATE,)

#: Why the money is owed, by what ended (the refund's reason and key suffix, as the flows use).
_REASONS: dict[ReservationStatus | OrderStatus, RefundReason] = {
    ReservationStatus.FAILED: RefundReason.LATE_PAYMENT,
    ReservationStatus.CANCELLED: RefundReason.RESERVATION_CANCELLED,
    ReservationStatus.EXPIRED: RefundReason.RESERVATION_EXPIRED,
    OrderStatus.CANCELLED: RefundReason.ORDER_CANCELLED,
    OrderStatus.RETURNED: RefundReason.ORDER_RETURNED,
}


@attrs.frozen(kw_only=True)
class RecoveryReport:
    """What one recovery run settled."""

    deposits_settled: int
    card_payments_settled: int
    refunds_opened: int
    refunds_settled: int

    @property
    def total(self) -> int:
        """Everything this run changed."""
        return self.deposits_settled + self.card_payments_settled + self.refunds_opened + self.refunds_settled


def recover_payments(ctx: Context, *, batch_size: int = 100) -> RecoveryReport:
    """Settle every stale money intent of every flow (see the module docstring), oldest first,
    up to ``batch_size`` of each kind per run."""
    deposits = recover_pending_deposits(ctx, batch_size=batch_size)
    cards = recover_pending_card_payments(ctx, batch_size=batch_size)
    opened = open_owed_refunds(ctx, batch_size=batch_size)
    settled = settle_pending_refunds(ctx, batch_size, older_than=ctx.clock.now() - ctx.policy.recovery_grace)
    return RecoveryReport(
        deposits_settled=deposits, card_payments_settled=cards, refunds_opened=opened, refunds_settled=settled
    )


def open_owed_refunds(ctx: Context, *, batch_size: int = 100) -> int:
    """Open (and send) the refunds owed for money still held whose reason is gone. Each payment's
    refund is opened in a transaction of its own, under ``<payment id>:<reason>`` — the key the
    flow itself would have used — so two jobs at once open it once. Returns how many were opened."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        owed = uow.ledger.owed_payments(
            batch_size,
            reservation_statuses=sorted(RELEASED_STATUSES),
            order_statuses=sorted(CLOSED_STATUSES),
            purposes=NEVER_KEPT,
        )
    opened_count = 0
    for candidate in owed:
        with ctx.uow() as uow:
            payment = uow.ledger.get_payment(candidate.id)
            if payment is None or payment.refundable.cents <= 0:
                continue
            reason = _reason(uow, payment)
            opened = open_refunds(ctx, uow, [payment], reason, now)
            uow.commit()
        send_refunds(ctx, opened)
        opened_count += len(opened)
    return opened_count


def _reason(uow: UnitOfWork, payment: Payment) -> RefundReason:
    """The reason the money is owed, as the flow that owed it names it."""
    if payment.purpose is PaymentPurpose.DUPLICATE:
        return RefundReason.DUPLICATE_CHARGE
    if payment.order_id is not None:
        order = uow.orders.get(payment.order_id)
        if order is not None and order.status in _REASONS:
            return _REASONS[order.status]
    if payment.reservation_id is not None:
        reservation = uow.reservations.get(payment.reservation_id)
        if reservation is not None and reservation.status in _REASONS:
            return _REASONS[reservation.status]
    return RefundReason.OWED
