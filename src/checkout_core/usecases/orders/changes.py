"""One-transaction changes to an order: load it for update, change it, save it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from checkout_core.model.order import Order
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.orders.reading import load_order

_Change = Callable[[Order, datetime], None]


def _mutate(ctx: Context, actor: Actor, order_id: str, change: _Change) -> Order:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id, for_update=True)
        change(order, now)
        uow.orders.save(order)
        uow.commit()
    return order
