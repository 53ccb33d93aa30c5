"""Publishing stored events to a message broker (the outbox relay's port)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from checkout_core.ports.repositories import StoredEvent


class EventPublisher(Protocol):
    """Delivers events to a broker at least once. Each message carries the event id so that
    consumers (and brokers that deduplicate, like JetStream) can drop repeats."""

    def publish(self, events: Sequence[StoredEvent]) -> None:
        """Publish all ``events``, in order; raise if any was not acknowledged."""
        ...
