"""The order's refunded total, kept in step with the ledger as refunds open, fail or go out."""

from __future__ import annotations

from datetime import datetime

from checkout_core.model.order import Order
from checkout_core.model.payments import Payment, PaymentPurpose
from checkout_core.money import Money
from checkout_core.ports.unit_of_work import UnitOfWork


def book_on_order(uow: UnitOfWork, payment: Payment, amount: Money, now: datetime, held: Order | None = None) -> None:
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
