"""Refunds, recorded in our ledger before and after the gateway call."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from checkout_core.errors import Conflict, NotFound, PaymentGatewayUnavailable, RefundNotAllowed, ValidationFailed
from checkout_core.events import RefundIssued
from checkout_core.model.order import Order
from checkout_core.model.payments import Payment, PaymentMethod, PaymentPurpose, Refund, RefundReason, RefundStatus
from checkout_core.money import Money
from checkout_core.ports.payments import RefundOutcome, RefundResult
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Context

_OUTCOME_TO_STATUS = {
    RefundOutcome.SUCCEEDED: RefundStatus.SUCCEEDED,
    RefundOutcome.PENDING: RefundStatus.PENDING,
    RefundOutcome.FAILED: RefundStatus.FAILED,
}


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
        _book_on_order(uow, payment, wanted, now)
        uow.commit()
    return _send_refund(ctx, payment, refund)


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
        _book_on_order(uow, payment, refund.amount, now, order)  # deposits of a lapsed hold have no order
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
    _book_on_order(uow, payment, amount, now, order)
    return refund


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
            (_settled(refund, _OUTCOME_TO_STATUS[result.status], result.ref, result.failure_code, now), payment)
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
            _record_refund_outcome(
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
        _book_on_order(uow, fresh, -amount, now)


def _issued(refund: Refund, payment: Payment, now: datetime) -> RefundIssued:
    return RefundIssued(
        occurred_at=now,
        reservation_id=payment.reservation_id,
        order_id=payment.order_id,
        payment_id=payment.id,
        amount=refund.amount.cents,
    )


def _existing(uow: UnitOfWork, payment_id: str, key: str) -> Refund | None:
    return next((r for r in uow.ledger.refunds_for(payment_id) if r.idempotency_key == key), None)


def _send_refund(ctx: Context, payment: Payment, refund: Refund) -> Refund:
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
    return _record_refund_outcome(
        ctx, refund, payment, _OUTCOME_TO_STATUS[result.status], result.ref, result.failure_code
    )


def record_refund_outcome(
    ctx: Context, refund_id: str, status: RefundStatus, gateway_ref: str | None, failure_code: str | None
) -> Refund:
    """Record what the gateway says about one of our refunds (webhooks, polling). A refund that is
    no longer pending is left as it is and returned."""
    refund, payment = _refund_and_payment(ctx, refund_id)
    if refund.status is not RefundStatus.PENDING:
        return refund
    return _record_refund_outcome(ctx, refund, payment, status, gateway_ref, failure_code)


def _record_refund_outcome(
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


def _refund_and_payment(ctx: Context, refund_id: str) -> tuple[Refund, Payment]:
    """A refund and the payment it gives back (NotFound for an unknown refund)."""
    with ctx.uow() as uow:
        refund = uow.ledger.get_refund(refund_id)
        payment = uow.ledger.get_payment(refund.payment_id) if refund is not None else None
    if refund is None or payment is None:
        raise NotFound(f"refund {refund_id} not found")
    return refund, payment


def _book_on_order(uow: UnitOfWork, payment: Payment, amount: Money, now: datetime, held: Order | None = None) -> None:
    """Keep the order's refunded total in step with the ledger (issued refunds count at once).
    A duplicate charge was never counted on its order, so its refund is not either. ``held``:
    the order as the caller holds it in ``uow`` (booked on that object; the caller saves it)."""
    if payment.order_id is None or payment.purpose is PaymentPurpose.DUPLICATE:
        return
    if held is not None and held.id == payment.order_id:
        held.record_refund(amount, now)
        return
    order = uow.orders.get(payment.order_id, for_update=True)
    if order is not None:
        order.record_refund(amount, now)
        uow.orders.save(order)


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
                done = _send_refund(ctx, payment, refund)
            else:
                result = ctx.gateway.get_refund(refund.gateway_ref)
                done = _record_refund_outcome(
                    ctx, refund, payment, _OUTCOME_TO_STATUS[result.status], result.ref, result.failure_code
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
    refund, payment = _refund_and_payment(ctx, refund_id)
    if payment.method is not PaymentMethod.BANK_TRANSFER:
        raise RefundNotAllowed(f"refund {refund_id} is a card refund: the gateway settles it")
    if refund.status is not RefundStatus.PENDING:
        raise Conflict(f"refund {refund_id} is already {refund.status.value}")
    status = RefundStatus.SUCCEEDED if sent else RefundStatus.FAILED
    settled = _record_refund_outcome(ctx, refund, payment, status, reference, None if sent else "returned_by_bank")
    if settled.status is not status:
        raise Conflict(f"refund {refund_id} is already {settled.status.value}")
    return settled


def validate_refund_amount(cents: int | None) -> Money | None:
    """A refund amount from a caller: positive cents, or None for everything refundable."""
    if cents is None:
        return None
    if cents <= 0:
        raise ValidationFailed("a refund amount must be a positive number of cents", field="amount")
    return Money(cents)
