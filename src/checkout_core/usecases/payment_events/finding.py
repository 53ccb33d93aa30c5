"""Finding our ledger payment behind a gateway event."""

from __future__ import annotations

from datetime import timedelta

from checkout_core.errors import NotFound
from checkout_core.model.payments import Payment, PaymentMethod, PaymentStatus
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Context
from checkout_core.usecases.payment_events.model import GatewayEvent

#: At most this many unanswered pending payments are looked up at the gateway per event.
_UNANSWERED_LIMIT = 50


def _find_payment(uow: UnitOfWork, event: GatewayEvent) -> Payment | None:
    """Our payment for the event: by the gateway's id first, then by the metadata we sent (the
    webhook can beat the API answer, when our row has no gateway id yet)."""
    if event.payment_ref:
        payment = uow.ledger.get_payment(gateway_ref=event.payment_ref)
        if payment is not None:
            return payment
    ledger_id = event.metadata.get("ledger_id")
    if ledger_id:
        payment = uow.ledger.get_payment(ledger_id)
        if payment is not None:
            return payment
    key = event.metadata.get("idempotency_key")
    return uow.ledger.get_payment(idempotency_key=key) if key else None


def _find_payment_asking_gateway(ctx: Context, event: GatewayEvent) -> Payment | None:
    """:func:`_find_payment`, and failing that, the one pending card payment of ours that the
    gateway says is behind ``event.payment_ref``.

    Refund and dispute objects do not carry our ledger id, so when the answer to the charge was
    lost (our row has no gateway id yet) and such an event comes first, only the gateway can
    tie the two together. Pending payments without a gateway id are few (calls in flight and
    crash leftovers), so asking about each is cheap."""
    with ctx.uow() as uow:
        payment = _find_payment(uow, event)
        if payment is not None or not event.payment_ref:
            return payment
        unanswered = [
            p
            # ``older_than`` is exclusive: one second ahead takes every pending row, however recent.
            for p in uow.ledger.payments_for(
                status=PaymentStatus.PENDING,
                created_before=ctx.clock.now() + timedelta(seconds=1),
                limit=_UNANSWERED_LIMIT,
            )
            if p.method is PaymentMethod.CARD and p.gateway_ref is None
        ]
    for candidate in unanswered:
        found = ctx.gateway.find_charge(idempotency_key=candidate.idempotency_key, ledger_id=candidate.id)
        if found is not None and found.ref == event.payment_ref:
            return candidate
    return None


def _is_other_charge(payment: Payment, event: GatewayEvent) -> bool:
    """Our row already points at another gateway object than this event's: a second charge was
    made for one ledger row (a retry that the gateway did not deduplicate)."""
    return bool(payment.gateway_ref and event.payment_ref and payment.gateway_ref != event.payment_ref)


def _load_payment(ctx: Context, payment_id: str) -> Payment:
    with ctx.uow() as uow:
        payment = uow.ledger.get_payment(payment_id)
    if payment is None:
        raise NotFound(f"payment {payment_id} not found")
    return payment
