"""Stripe's webhook deliveries as :class:`~checkout_core.ports.gateway_events.GatewayEvents`.

Kept apart from :mod:`adapters.payments.stripe_gateway` so building it costs nothing: the Stripe
SDK (~11 MB per worker) is imported on the first delivery, which a sandbox-configured server
never gets."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checkout_core.usecases.payment_events import GatewayEvent


class StripeWebhookEvents:
    """Verifies deliveries with the endpoint secret (``STRIPE_WEBHOOK_SECRET``), 300 s tolerance."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a Stripe webhook endpoint secret is required")
        self._secret = secret

    def __repr__(self) -> str:
        return "StripeWebhookEvents(secret=***)"

    def parse(self, payload: bytes, signature_header: str) -> GatewayEvent:
        """See :meth:`checkout_core.ports.gateway_events.GatewayEvents.parse` (raises ``WebhookRejected``)."""
        from adapters.payments.stripe_gateway import parse_stripe_event

        return parse_stripe_event(payload, signature_header, self._secret)
