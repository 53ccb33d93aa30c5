"""Delivery: scheduling, dispatch, handover, and the advisor's next step for an order."""

from __future__ import annotations

from datetime import date

from checkout_core.errors import IllegalTransition, ValidationFailed
from checkout_core.model.order import DeliveryMethod, Order, OrderStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.orders.changes import _mutate
from checkout_core.usecases.orders.closing import complete_order
from checkout_core.usecases.orders.reading import load_order


def schedule_delivery(ctx: Context, actor: Actor, order_id: str, *, on: date, time_window: str) -> Order:
    """An advisor sets the delivery (or pickup) date and time window."""
    actor.require_staff()
    if not time_window.strip() or len(time_window) > 40:
        raise ValidationFailed("a time window like '10:00 AM - 2:00 PM' is required", field="timeWindow")
    return _mutate(
        ctx, actor, order_id, lambda o, now: o.schedule_delivery(scheduled_date=on, time_window=time_window, now=now)
    )


def dispatch_order(ctx: Context, actor: Actor, order_id: str) -> Order:
    """The car leaves for the buyer."""
    actor.require_staff()
    return _mutate(ctx, actor, order_id, lambda o, now: o.dispatch(now))


def deliver_order(ctx: Context, actor: Actor, order_id: str) -> Order:
    """The buyer has the car (delivered, or picked up); the return window starts."""
    actor.require_staff()
    order = _mutate(ctx, actor, order_id, lambda o, now: o.deliver(now))
    with ctx.uow() as uow:
        uow.vehicles.set_status(order.vehicle_id, VehicleStatus.SOLD)
        uow.commit()
    return order


def advance_order(ctx: Context, actor: Actor, order_id: str) -> Order:
    """Take the next operational step an advisor can take for the order's current status."""
    actor.require_staff()
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id)
    if order.status is OrderStatus.PENDING_DELIVERY and order.delivery.method is DeliveryMethod.DELIVERY:
        return dispatch_order(ctx, actor, order_id)
    if order.status in (OrderStatus.IN_TRANSIT, OrderStatus.PENDING_DELIVERY):
        return deliver_order(ctx, actor, order_id)
    if order.status is OrderStatus.DELIVERED:
        return complete_order(ctx, actor, order_id)
    waiting = {
        OrderStatus.PENDING_DOCUMENTS: "the buyer's signature",
        OrderStatus.PENDING_INSURANCE: "insurance verification (checkout insurance verify)",
        OrderStatus.PENDING_PAYMENT: "the balance to be paid (checkout payments record-transfer)",
    }
    raise IllegalTransition(
        order.status.value + (f", waiting for {waiting[order.status]}" if order.status in waiting else ""),
        "advance",
    )
