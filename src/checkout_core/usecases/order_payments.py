"""Paying an order's balance: by card (through the gateway) and by bank transfer (recorded by an
advisor). Both follow the money rule (design.md, Payments):

- a card payment's intent — a pending ledger row whose gateway key is derived from the business
  operation, the caller's request key — is committed before the gateway is called; the answer is
  recorded after it by :func:`settle_order_charge`, which the API call, the webhooks and the
  recovery job all use, so whichever hears it first decides and the others change nothing;
- money that arrives for more than the order wants (a transfer above the balance, a payment that
  lands after the order was cancelled) is recorded in full, and the refund of the excess is opened
  in the same transaction.
"""

from __future__ import annotations

import base64
import hashlib

from checkout_core.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    PaymentDeclined,
    PaymentGatewayUnavailable,
    ValidationFailed,
)
from checkout_core.model.order import Order, OrderStatus
from checkout_core.model.payments import Payment, PaymentMethod, PaymentPurpose, PaymentStatus, Refund, RefundReason
from checkout_core.money import Money
from checkout_core.ports.payments import ChargeResult, ChargeStatus
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.charges import apply_charge
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.orders import load_order
from checkout_core.usecases.rate_limits import check_charge_allowed, record_decline
from checkout_core.usecases.refunds import open_refund, send_refunds

#: Statuses in which the balance may be paid.
_PAYABLE = (OrderStatus.PENDING_DOCUMENTS, OrderStatus.PENDING_INSURANCE, OrderStatus.PENDING_PAYMENT)


def operation_key(caller_id: str, request_key: str) -> str:
    """The business operation a caller's request key names, as a short opaque token (a digest:
    the key itself — which a client may fill with anything — is never stored or sent on)."""
    digest = hashlib.sha256(f"{caller_id}\n{request_key}".encode()).digest()
    return base64.b32encode(digest[:15]).decode("ascii").lower()


def pay_by_card(
    ctx: Context,
    actor: Actor,
    order_id: str,
    *,
    token: str,
    amount: Money | None = None,
    operation: str | None = None,
) -> Payment:
    """Pay (part of) the balance by card; at most the balance and the card limit.

    ``operation`` names the payment (HTTP: derived from the ``Idempotency-Key``). The gateway key
    is ``<order>:card:<operation>``, so a retry of the same operation — after a crash, a timeout or
    a 5xx — finds the first attempt's ledger row and is answered with its outcome: the card is
    never charged twice. Without ``operation`` each call is a new payment (library callers that
    retry should pass one). Raises PaymentDeclined, PaymentGatewayUnavailable (left pending: a
    retry or the recovery job settles it), ValidationFailed, IllegalTransition, TooManyAttempts
    (the caller is at the card-testing limit of declines: the gateway is not called)."""
    if not token or len(token) > 255:
        raise ValidationFailed("a payment token is required", field="token")
    check_charge_allowed(ctx, actor)
    now = ctx.clock.now()
    key = f"{order_id}:card:{operation or ctx.ids.new('op')}"
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id, for_update=True)
        payment = uow.ledger.get_payment(idempotency_key=key)
        resumed = payment is not None
        if payment is None:
            wanted = _card_amount(ctx, uow, order, amount)
            payment = Payment(
                id=ctx.ids.new("pay"),
                purpose=PaymentPurpose.ORDER,
                method=PaymentMethod.CARD,
                amount=wanted,
                status=PaymentStatus.PENDING,
                idempotency_key=key,
                order_id=order.id,
                created_at=now,
                updated_at=now,
            )
            uow.ledger.add_payment(payment)
            uow.commit()
        elif amount is not None and payment.amount != amount:
            raise ValidationFailed("this payment was first made for another amount", field="amount")
    declined_now = False
    if payment.status is PaymentStatus.PENDING:
        charge = None
        if resumed:
            # The first attempt's answer was lost: ask before charging again (Stripe forgets
            # keys after 24 h, and the emulator ignores them).
            charge = ctx.gateway.find_charge(idempotency_key=key, ledger_id=payment.id)
        if charge is None:
            charge = ctx.gateway.charge(
                amount=payment.amount,
                source=token,
                idempotency_key=key,
                description=f"Payment for order {order.number}",
                metadata={"order_id": order.id, "ledger_id": payment.id},
            )
            declined_now = charge.status is ChargeStatus.FAILED
        payment = settle_order_charge(ctx, payment.id, charge)
    if declined_now:
        record_decline(ctx, actor)  # a card tester's attempt (the decline is recorded first)
    if payment.status is PaymentStatus.FAILED:
        raise PaymentDeclined("the card was declined", decline_code=payment.failure_code)
    return payment


def _card_amount(ctx: Context, uow: UnitOfWork, order: Order, amount: Money | None) -> Money:
    """What a new card payment may take: at most what is due less the card payments still in
    flight (two concurrent payments cannot together pay more than the balance) and the card limit."""
    if order.status not in _PAYABLE:
        raise IllegalTransition(order.status.value, "pay_balance")
    in_flight = sum(
        p.amount.cents
        for p in uow.ledger.payments_for(order_id=order.id)
        if p.status is PaymentStatus.PENDING and p.method is PaymentMethod.CARD
    )
    due = Money(max(0, order.balance_due.cents - in_flight))
    wanted = due if amount is None else amount
    if wanted.cents <= 0 or wanted.cents > due.cents:
        raise ValidationFailed(
            f"the card payment must be between $0.01 and the balance {due.format()}"
            + (" (less the card payments still in progress)" if in_flight else ""),
            field="amount",
        )
    if wanted.cents > ctx.policy.card_payment_limit.cents:
        raise ValidationFailed(
            f"card payments are limited to {ctx.policy.card_payment_limit.format()}; pay the rest by bank transfer",
            field="amount",
        )
    return wanted


def settle_order_charge(ctx: Context, payment_id: str, charge: ChargeResult | None) -> Payment:
    """Record the gateway's answer about an order's card payment (``None``: no charge was ever
    made). One transaction: the ledger row (written only over the state it was read in), the order
    (the payment counted) and, when the money is more than the order wants (it was cancelled
    meanwhile, or paid by other means), the refund of the excess — sent after the commit.

    A pending answer changes nothing. A payment already succeeded never changes; a failed one may
    still become succeeded (money the gateway took is a fact, and it is then refunded if unwanted).
    Returns the payment as it now stands."""
    for _ in range(3):
        now = ctx.clock.now()
        opened: Refund | None = None
        try:
            with ctx.uow() as uow:
                payment = uow.ledger.get_payment(payment_id)
                if payment is None:
                    raise NotFound(f"payment {payment_id} not found")
                if not _news(payment, charge):
                    return payment
                if charge is None:
                    payment.status = PaymentStatus.FAILED
                    payment.failure_code = "charge_not_made"
                    payment.updated_at = now
                else:
                    apply_charge(payment, charge, now)
                if payment.status is PaymentStatus.SUCCEEDED and payment.order_id is not None:
                    order = uow.orders.get(payment.order_id, for_update=True)
                    if order is not None:
                        order.record_payment(payment_id=payment.id, amount=payment.amount, method="card", now=now)
                        opened = refund_excess(ctx, uow, order, payment)
                        uow.orders.save(order)
                uow.ledger.save_payment(payment)
                uow.commit()
        except Conflict:
            continue  # settled concurrently (webhook, recovery): read what was decided
        if opened is not None:
            send_refunds(ctx, [(opened, payment)])
        return payment
    raise Conflict(f"payment {payment_id} keeps changing; try again")


def _news(payment: Payment, charge: ChargeResult | None) -> bool:
    """Whether ``charge`` changes what the ledger says about ``payment``."""
    if payment.status is PaymentStatus.SUCCEEDED:
        return False
    if charge is not None and charge.status is ChargeStatus.PENDING:
        return False
    succeeded = charge is not None and charge.status is ChargeStatus.SUCCEEDED
    return succeeded or payment.status is PaymentStatus.PENDING


def refund_excess(ctx: Context, uow: UnitOfWork, order: Order, payment: Payment) -> Refund | None:
    """Open, inside ``uow``, the refund of what ``order`` now holds beyond what it wants
    (:attr:`Order.excess_paid`), taken from ``payment`` — the money that just came in. The key is
    derived from the order's state (its refunded total), so a replay of the same receipt opens
    nothing new. The caller saves ``payment`` and ``order``."""
    excess = order.excess_paid
    if excess.cents <= 0:
        return None
    reason = RefundReason.ORDER_CLOSED if order.is_closed else RefundReason.OVERPAYMENT
    key = f"{payment.id}:{reason}:{order.refunded.cents}"
    return open_refund(ctx, uow, payment, excess, reason, key, ctx.clock.now(), order=order)


def record_bank_transfer(ctx: Context, actor: Actor, *, reference: str, amount: Money, bank_reference: str) -> Order:
    """An advisor records a received transfer, matched to its order by the reference.

    The money arrived, so it is always recorded — also above the balance, or after the order was
    cancelled, returned or delivered; whatever the order does not want is refunded through the
    bank-refund path treasury works from (a pending refund opened in the same transaction, listed
    by ``checkout payments bank-refunds``). Recording the same bank reference twice changes
    nothing (the ledger key is unique)."""
    actor.require_staff()
    if amount.cents <= 0:
        raise ValidationFailed("the amount received must be positive", field="amount")
    bank_ref = bank_reference.strip()
    if not bank_ref or len(bank_ref) > 200:
        raise ValidationFailed("the bank's transaction reference is required", field="bankReference")
    now = ctx.clock.now()
    key = f"transfer:{bank_ref}"
    with ctx.uow() as uow:
        found = uow.orders.get_by_number(reference.strip().upper())
        if found is None:
            raise NotFound(f"no order has the transfer reference {reference!r}")
        if uow.ledger.get_payment(idempotency_key=key) is not None:
            return found
        order = load_order(uow, actor, found.id, for_update=True)
        payment = Payment(
            id=ctx.ids.new("pay"),
            purpose=PaymentPurpose.ORDER,
            method=PaymentMethod.BANK_TRANSFER,
            amount=amount,
            status=PaymentStatus.SUCCEEDED,
            idempotency_key=key,
            order_id=order.id,
            gateway_ref=bank_ref,
            created_at=now,
            updated_at=now,
        )
        uow.ledger.add_payment(payment)
        order.record_payment(payment_id=payment.id, amount=amount, method=PaymentMethod.BANK_TRANSFER.value, now=now)
        if refund_excess(ctx, uow, order, payment) is not None:
            uow.ledger.save_payment(payment)
        uow.orders.save(order)
        uow.commit()
    return order


def recover_pending_card_payments(ctx: Context, *, batch_size: int = 100) -> int:
    """Settle order card payments left pending by a crash (or a lost answer) for longer than the
    recovery grace: ask the gateway with the same key and record what it says — a charge it never
    made fails the payment, one it made is counted (or refunded, if the order no longer wants it).
    Safe in several processes at once (asking is read-only; recording is conditional)."""
    older_than = ctx.clock.now() - ctx.policy.recovery_grace
    with ctx.uow() as uow:
        stale = [
            p
            for p in uow.ledger.payments_for(status=PaymentStatus.PENDING, created_before=older_than, limit=batch_size)
            if p.purpose is PaymentPurpose.ORDER and p.method is PaymentMethod.CARD
        ]
    settled = 0
    for payment in stale:
        try:
            charge = ctx.gateway.find_charge(idempotency_key=payment.idempotency_key, ledger_id=payment.id)
        except PaymentGatewayUnavailable:
            continue  # asked again on the next run
        if settle_order_charge(ctx, payment.id, charge).status is not PaymentStatus.PENDING:
            settled += 1
    return settled
