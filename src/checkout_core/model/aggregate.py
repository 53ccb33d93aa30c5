"""What every aggregate shares: a list of events raised since it was loaded."""

from __future__ import annotations

import attrs

from checkout_core.events import DomainEvent


@attrs.define(kw_only=True)
class Aggregate:
    """An entity whose changes raise domain events; repositories hand them to the unit of work."""

    pending_events: list[DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    def raise_event(self, event: DomainEvent) -> None:
        """Record a fact about this aggregate, to be stored in the outbox on commit."""
        self.pending_events.append(event)

    def pull_events(self) -> list[DomainEvent]:
        """Take (and forget) the events raised so far."""
        events, self.pending_events = self.pending_events, []
        return events
