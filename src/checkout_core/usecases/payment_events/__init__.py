"""What the gateway tells us on its own (Stripe webhooks), applied to our ledger: an entrypoint
verifies a delivery, turns it into a :class:`GatewayEvent` and calls :func:`handle_gateway_event`.
Each event id is handled once, order does not matter (facts only move forward), and an API call
and its webhook settle to one state; docs/payments.md, "Webhooks", has the rules."""

from __future__ import annotations

from datetime import timedelta

from checkout_core.ports.gateway_events import ProcessedEventStore
from checkout_core.ports.payments import ChargeStatus
from checkout_core.usecases.context import Context
from checkout_core.usecases.payment_events.charges import _on_payment_intent
from checkout_core.usecases.payment_events.disputes import _on_dispute, _on_dispute_closed, list_disputes
from checkout_core.usecases.payment_events.model import (
    CHARGE_DISPUTE_CLOSED,
    CHARGE_DISPUTE_CREATED,
    CHARGE_REFUNDED,
    DEFAULT_CLAIM_LEASE,
    HANDLED_EVENT_TYPES,
    PAYMENT_INTENT_CANCELED,
    PAYMENT_INTENT_FAILED,
    PAYMENT_INTENT_SUCCEEDED,
    REFUND_EVENTS,
    EventOutcome,
    GatewayEvent,
    GatewayRefund,
)
from checkout_core.usecases.payment_events.refunds import _on_charge_refunded, _on_refund

__all__ = [
    "CHARGE_DISPUTE_CLOSED",
    "CHARGE_DISPUTE_CREATED",
    "CHARGE_REFUNDED",
    "DEFAULT_CLAIM_LEASE",
    "HANDLED_EVENT_TYPES",
    "PAYMENT_INTENT_CANCELED",
    "PAYMENT_INTENT_FAILED",
    "PAYMENT_INTENT_SUCCEEDED",
    "REFUND_EVENTS",
    "EventOutcome",
    "GatewayEvent",
    "GatewayRefund",
    "handle_gateway_event",
    "list_disputes",
]


def handle_gateway_event(
    ctx: Context,
    event: GatewayEvent,
    *,
    processed: ProcessedEventStore | None = None,
    lease: timedelta = DEFAULT_CLAIM_LEASE,
) -> EventOutcome:
    """Apply a verified gateway event to our ledger, reservations and orders; return the outcome
    (an :class:`EventOutcome`, which is a ``str``).

    With ``processed`` each event id is handled at most once (``duplicate`` otherwise). Without
    it the handlers' own idempotency still keeps the ledger right, but every delivery is looked at.
    A ``deferred`` outcome (see :class:`EventOutcome`) is not recorded as handled. Errors (e.g.
    PaymentGatewayUnavailable while following a refund) propagate after the claim is released,
    so the gateway's next delivery tries again.
    """
    if processed is not None and not processed.claim(event.id, event.type, ctx.clock.now(), lease):
        return EventOutcome.DUPLICATE
    try:
        outcome = _dispatch(ctx, event)
    except BaseException:
        if processed is not None:
            processed.release(event.id)
        raise
    if processed is not None:
        if outcome.wants_redelivery:
            processed.release(event.id)
        else:
            processed.complete(event.id, outcome.value, ctx.clock.now())
    return outcome


def _dispatch(ctx: Context, event: GatewayEvent) -> EventOutcome:
    if event.type == PAYMENT_INTENT_SUCCEEDED:
        return _on_payment_intent(ctx, event, ChargeStatus.SUCCEEDED)
    if event.type == PAYMENT_INTENT_FAILED:
        return _on_payment_intent(ctx, event, ChargeStatus.FAILED)
    if event.type == PAYMENT_INTENT_CANCELED:
        return _on_payment_intent(ctx, event, ChargeStatus.FAILED, default_code="canceled")
    if event.type == CHARGE_REFUNDED:
        return _on_charge_refunded(ctx, event)
    if event.type in REFUND_EVENTS:
        return _on_refund(ctx, event)
    if event.type == CHARGE_DISPUTE_CREATED:
        return _on_dispute(ctx, event)
    if event.type == CHARGE_DISPUTE_CLOSED:
        return _on_dispute_closed(ctx, event)
    return EventOutcome.IGNORED
