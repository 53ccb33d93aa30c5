"""Payment gateway webhooks: a delivery's raw bytes → a verified :class:`GatewayEvent`.

Separate from :class:`~checkout_core.ports.payments.PaymentGateway` because a server may
receive one gateway's events while charging through another (the sandbox in tests), and
because verifying a delivery needs only the endpoint secret, not an API client.

:class:`ProcessedEventStore` remembers which events were handled, so each is handled once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import attrs

from checkout_core.errors import ValidationFailed

if TYPE_CHECKING:
    from checkout_core.usecases.payment_events import GatewayEvent


class GatewayEventRejected(ValidationFailed):
    """A delivery that is not a genuine, recent event of the gateway (bad or stale signature,
    not an event). Its message names what failed, never the secret or the signature."""


class GatewayEvents(Protocol):
    """Verifies and parses the gateway's webhook deliveries (adapter: Stripe's signed events)."""

    def parse(self, payload: bytes, signature_header: str) -> GatewayEvent:
        """The event in ``payload`` (the raw request body: the signature covers the exact bytes)
        if ``signature_header`` proves the gateway sent it; :class:`GatewayEventRejected` if not."""
        ...


@attrs.frozen(kw_only=True)
class ProcessedEvent:
    """The record kept per gateway event id."""

    id: str
    type: str
    claimed_at: datetime
    outcome: str | None = None  # None while being handled
    completed_at: datetime | None = None


class ProcessedEventStore(Protocol):
    """Which gateway events were handled. Production needs a table (see docs/payments.md)."""

    def claim(self, event_id: str, event_type: str, now: datetime, lease: timedelta) -> bool:
        """Start handling ``event_id``: True if nobody handled it and nobody is handling it now
        (a claim older than ``lease`` without completion counts as abandoned)."""
        ...

    def complete(self, event_id: str, outcome: str, now: datetime) -> None:
        """The event was handled with ``outcome``; later claims of it return False."""
        ...

    def release(self, event_id: str) -> None:
        """Handling failed or was deferred: forget the claim so a redelivery is handled."""
        ...

    def get(self, event_id: str) -> ProcessedEvent | None:
        """The record of ``event_id``, if any."""
        ...
