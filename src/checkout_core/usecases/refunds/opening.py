"""Opening refunds: the money rule's intent, committed with the change that makes money owed
(the amount reserved on the payment and booked on its order), and an advisor's manual refund."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from checkout_core.errors import Conflict, NotFound, RefundNotAllowed, ValidationFailed
from checkout_core.model.order import Order
from checkout_core.model.payments import Payment, Refund, RefundReason, RefundStatus
from checkout_core.money import Money
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Context
from checkout_core.usecases.refunds.booking import book_on_order
from checkout_core.usecases.refunds.sending import send_refund


def refund_payment(
    ctx: Context, *, payment_id: str, amount: Money | None, reason: RefundReason | str, key_suffix: str = "refund"
) -> Refund:
    """Refund ``amount`` (all that is refundable when None) of a payment: an advisor's manual
    refund, whose ``reason`` may be their own words. Idempotent per ``key_suffix``: a second call
    with the same suffix returns the first refund."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        payment = uow.ledger.get_payment(payment_id)
        if payment is None:
            raise NotFound(f"payment for {payment_id} not found")
        key = f"{payment.id}:{key_suffix}"
        wanted = payment.refundable if amount is None else amount
        if wanted.cents <= 0 or wanted.cents > payment.refundable.cents:
            existing = _existing(uow, payment.id, key)
            if existing is not None:
                return existing  # a replay of a refund that already took the money
            if wanted.cents <= 0:
                raise RefundNotAllowed(f"nothing to refund on payment {payment.id}")
            raise RefundNotAllowed(
                f"refund of {wanted.format()} exceeds the {payment.refundable.format()} still refundable",
                refundable=payment.refundable.cents,
            )
        refund = _new_refund(ctx, payment, wanted, key, reason, now)
        if not uow.ledger.add_refunds([refund]):  # the key exists: a concurrent replay opened it
            existing = _existing(uow, payment.id, key)
            if existing is None:
                raise Conflict(f"a refund with key {key} exists")
            return existing
        # Reserve the amount now (a conditional update), so concurrent refunds never exceed what was paid.
        _reserve(payment, wanted)
        uow.ledger.save_payment(payment)
        book_on_order(uow, payment, wanted, now)
        uow.commit()
    return send_refund(ctx, payment, refund)


def _new_refund(
    ctx: Context, payment: Payment, amount: Money, key: str, reason: RefundReason | str, now: datetime
) -> Refund:
    """A pending refund of ``amount`` of ``payment`` (the same shape for single and batch refunds)."""
    return Refund(
        id=ctx.ids.new("rfd"),
        payment_id=payment.id,
        amount=amount,
        status=RefundStatus.PENDING,
        idempotency_key=key,
        reason=str(reason),  # the plain value, as the ledger stores and reads it back
        created_at=now,
        updated_at=now,
    )


def _reserve(payment: Payment, amount: Money) -> None:
    """Count ``amount`` as refunded on the payment (the caller saves it with a conditional update)."""
    payment.refunded = payment.refunded + amount


def open_refunds(
    ctx: Context,
    uow: UnitOfWork,
    payments: Sequence[Payment],
    reason: RefundReason,
    now: datetime,
    *,
    order: Order | None = None,
) -> list[tuple[Refund, Payment]]:
    """Open, inside ``uow``, a refund of everything still refundable on each payment (key
    ``<payment id>:<reason>``, the key every flow and recovery use for the same debt), in a fixed
    number of statements: one multi-row insert of the refunds and one batched conditional update of
    the payments that reserves the amounts. A refund whose key exists already (a replay) is left out
    and reserves nothing. Payments read in ``uow``; nothing is sent to the gateway here (call
    :func:`send_refunds` after the commit). ``order``: the order these payments belong to, when
    the caller holds it in ``uow`` (its refunded total is kept on that object, which the caller
    saves); otherwise each payment's order is read and saved here."""
    candidates = [
        (_new_refund(ctx, p, p.refundable, f"{p.id}:{reason}", reason, now), p)
        for p in payments
        if p.refundable.cents > 0
    ]
    if not candidates:
        return []
    added = {r.id for r in uow.ledger.add_refunds([r for r, _ in candidates])}
    opened = [(r, p) for r, p in candidates if r.id in added]
    for refund, payment in opened:
        _reserve(payment, refund.amount)
    uow.ledger.save_payment(*[p for _, p in opened])
    for refund, payment in opened:
        book_on_order(uow, payment, refund.amount, now, order)  # deposits of a lapsed hold have no order
    return opened


def open_refund(
    ctx: Context,
    uow: UnitOfWork,
    payment: Payment,
    amount: Money,
    reason: RefundReason,
    key: str,
    now: datetime,
    *,
    order: Order | None = None,
) -> Refund | None:
    """Open, inside ``uow``, one refund of ``amount`` of ``payment`` under ``key`` (the money
    rule's intent: committed with the state change that makes the money owed, sent by
    :func:`send_refunds` after the commit). The amount is reserved on ``payment``, which the
    caller saves in ``uow``; ``order`` as in :func:`open_refunds`. None when ``key`` was opened
    before (a replay) or nothing is refundable."""
    amount = Money(min(amount.cents, payment.refundable.cents))
    if amount.cents <= 0:
        return None
    refund = _new_refund(ctx, payment, amount, key, reason, now)
    if not uow.ledger.add_refunds([refund]):
        return None
    _reserve(payment, amount)
    book_on_order(uow, payment, amount, now, order)
    return refund


def _existing(uow: UnitOfWork, payment_id: str, key: str) -> Refund | None:
    return next((r for r in uow.ledger.refunds_for(payment_id) if r.idempotency_key == key), None)


def validate_refund_amount(cents: int | None) -> Money | None:
    """A refund amount from a caller: positive cents, or None for everything refundable."""
    if cents is None:
        return None
    if cents <= 0:
        raise ValidationFailed("a refund amount must be a positive number of cents", field="amount")
    return Money(cents)
