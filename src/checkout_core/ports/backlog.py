"""What is waiting for a worker: the gauges an operator pages on (outbox stuck, sweeper silent,
money intents left pending). Read from the database at scrape time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

import attrs


@attrs.frozen(kw_only=True)
class Backlog:
    """Counts of work left undone, as of one moment."""

    #: Outbox events not yet published to the broker, and the age of the oldest (0 when none).
    outbox_unpublished: int
    outbox_oldest_age_seconds: float
    #: Reservations still active past their expiry: the expiry sweeper is behind or dead.
    holds_overdue: int
    #: Orders whose agreement a documents worker has yet to render.
    agreements_waiting: int
    #: Refunds and card payments (intents) pending for longer than the recovery grace period.
    refunds_pending_past_grace: int
    payments_pending_past_grace: int
    #: Refunds opened in the last 24 hours by status (pending, succeeded, failed): their outcomes
    #: are settled by the gateway's answer or webhook, outside any domain event.
    recent_refunds: tuple[tuple[str, int], ...] = ()


class BacklogReader(Protocol):
    """Cheap counting queries over the indexed status columns."""

    def read(self, now: datetime, grace: timedelta) -> Backlog:
        """The backlog at ``now``; "pending past grace" means pending since before ``now - grace``."""
        ...
