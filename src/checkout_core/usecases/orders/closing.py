"""The end of an order: completion (by an advisor, or when the return window closes),
cancellation and return, with the refunds they make owed."""

from __future__ import annotations

from checkout_core.model.order import CloseReason, Order
from checkout_core.model.payments import PaymentPurpose, RefundReason
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.orders.changes import _Change, _mutate
from checkout_core.usecases.orders.reading import load_order
from checkout_core.usecases.refunds import open_refunds, send_refunds


def complete_order(ctx: Context, actor: Actor, order_id: str) -> Order:
    """An advisor finalises a delivered order (before the return window closes, if the buyer waives it)."""
    actor.require_staff()
    return _mutate(ctx, actor, order_id, lambda o, now: o.complete(now))


def complete_due_orders(ctx: Context, *, batch_size: int = 100) -> int:
    """Complete delivered orders whose return window has closed (a job; safe in parallel)."""
    completed = 0
    while True:
        now = ctx.clock.now()
        with ctx.uow() as uow:
            due = list(uow.orders.claim_due_for_completion(now - ctx.policy.return_window, batch_size))
            for order in due:
                order.complete(now)
                uow.orders.save(order)
            uow.commit()
        completed += len(due)
        if len(due) < batch_size:
            return completed


def cancel_order(ctx: Context, actor: Actor, order_id: str, reason: str | None = None) -> Order:
    """Cancel before dispatch: refund everything paid (deposit included), put the car back on sale.
    Without a ``reason``, who cancelled is the reason (``cancelled_by_customer`` or ``_advisor``)."""
    by = CloseReason.CANCELLED_BY_ADVISOR if actor.is_staff else CloseReason.CANCELLED_BY_CUSTOMER
    why = reason or by.value
    return _close(ctx, actor, order_id, lambda o, now: o.cancel(why, now), RefundReason.ORDER_CANCELLED)


def return_order(ctx: Context, actor: Actor, order_id: str, reason: str | None = None) -> Order:
    """Take the car back inside the return window: refund everything, put the car back on sale."""
    actor.require_staff()
    window = ctx.policy.return_window
    why = reason or CloseReason.RETURNED_BY_CUSTOMER.value
    return _close(ctx, actor, order_id, lambda o, now: o.return_vehicle(why, window, now), RefundReason.ORDER_RETURNED)


def _close(ctx: Context, actor: Actor, order_id: str, change: _Change, refund_reason: RefundReason) -> Order:
    """Cancel or return in ONE transaction with what it makes owed (the money rule): the status,
    the car back on sale and a refund intent for everything still refundable. A crash after the
    commit leaves pending refunds that recovery sends with the same keys; a card payment still in
    flight is refunded when its answer is recorded (the order is closed by then)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id, for_update=True)
        change(order, now)
        uow.vehicles.set_status(order.vehicle_id, VehicleStatus.AVAILABLE)
        payments = [p for p in uow.ledger.payments_for(order_id=order.id) if p.purpose is not PaymentPurpose.DUPLICATE]
        opened = open_refunds(ctx, uow, payments, refund_reason, now, order=order)
        uow.orders.save(order)
        uow.commit()
    send_refunds(ctx, opened)
    return order
