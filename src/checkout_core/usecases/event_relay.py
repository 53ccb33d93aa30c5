"""The outbox relay: publish stored events to a broker, at least once, in order."""

from __future__ import annotations

from checkout_core.ports.events import EventPublisher
from checkout_core.usecases.context import Context


def relay_outbox(ctx: Context, publisher: EventPublisher, *, batch_size: int = 100) -> int:
    """Publish one batch of unpublished events; returns how many were published.

    The batch stays locked (SKIP LOCKED on PostgreSQL) while it is published, so parallel
    relays never publish the same rows concurrently. A crash after publishing but before the
    commit publishes the batch again on restart: at least once, never lost, and every message
    carries its event id for de-duplication."""
    with ctx.uow() as uow:
        batch = list(uow.outbox.claim_unpublished(batch_size))
        if not batch:
            return 0
        publisher.publish(batch)
        uow.outbox.mark_published([e.id for e in batch], ctx.clock.now())
        uow.commit()
    return len(batch)


def relay_all(ctx: Context, publisher: EventPublisher, *, batch_size: int = 100) -> int:
    """Publish batches until the outbox is drained; returns the total published."""
    total = 0
    while True:
        published = relay_outbox(ctx, publisher, batch_size=batch_size)
        total += published
        if published < batch_size:
            return total
