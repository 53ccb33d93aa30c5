"""Reading orders: the caller's own (or, for staff, any), and their stored documents."""

from __future__ import annotations

from collections.abc import Sequence

from checkout_core.errors import NotFound
from checkout_core.model.order import DocumentRecord, Order, OrderStatus
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.document_integrity import reporting_damage


def load_order(uow: UnitOfWork, actor: Actor, order_id: str, *, for_update: bool = False) -> Order:
    """The order if the caller may see it; NotFound otherwise (never reveal others' orders)."""
    return visible_order(uow.orders.get(order_id, for_update=for_update), actor, order_id)


def visible_order(order: Order | None, actor: Actor, order_id: str) -> Order:
    """``order`` if the caller may see it; NotFound otherwise, the same for a missing order and
    another customer's (never reveal that it exists)."""
    if order is None or not actor.may_see(order.customer_id):
        raise NotFound(f"order {order_id} not found")
    return order


def list_orders(
    ctx: Context,
    actor: Actor,
    *,
    status: OrderStatus | None = None,
    advisor_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Order]:
    """Orders the caller may see, newest first."""
    with ctx.uow() as uow:
        return uow.orders.list(
            customer_id=None if actor.is_staff else actor.id,
            status=status,
            advisor_id=advisor_id,
            limit=limit,
            offset=offset,
        )


def document_record(ctx: Context, actor: Actor, order_id: str, document_id: str) -> DocumentRecord:
    """A stored document's record (not its bytes), for the order's owner and advisors only:
    what a presigned download link is made from."""
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id)
    record = next((d for d in order.documents if d.id == document_id), None)
    if record is None:
        raise NotFound(f"document {document_id} not found")
    return record


def document_bytes(ctx: Context, actor: Actor, order_id: str, document_id: str) -> tuple[DocumentRecord, bytes]:
    """A stored document of an order, for its owner and advisors only."""
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id)
    record = next((d for d in order.documents if d.id == document_id), None)
    if record is None:
        raise NotFound(f"document {document_id} not found")
    with reporting_damage(ctx, order.id):
        return record, ctx.documents.get(record.storage_key)
