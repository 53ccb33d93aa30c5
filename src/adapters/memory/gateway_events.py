""":class:`~checkout_core.ports.gateway_events.ProcessedEventStore` in memory."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import attrs

from checkout_core.ports.gateway_events import ProcessedEvent


class MemoryProcessedEvents:
    """:class:`ProcessedEventStore` in memory (tests, single-process embedded use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, ProcessedEvent] = {}

    def claim(self, event_id: str, event_type: str, now: datetime, lease: timedelta) -> bool:
        """See :meth:`ProcessedEventStore.claim`."""
        with self._lock:
            row = self._rows.get(event_id)
            if row is not None and (row.outcome is not None or now - row.claimed_at < lease):
                return False
            self._rows[event_id] = ProcessedEvent(id=event_id, type=event_type, claimed_at=now)
            return True

    def complete(self, event_id: str, outcome: str, now: datetime) -> None:
        """See :meth:`ProcessedEventStore.complete`."""
        with self._lock:
            row = self._rows[event_id]
            self._rows[event_id] = attrs.evolve(row, outcome=outcome, completed_at=now)

    def release(self, event_id: str) -> None:
        """See :meth:`ProcessedEventStore.release`."""
        with self._lock:
            row = self._rows.get(event_id)
            if row is not None and row.outcome is None:
                del self._rows[event_id]

    def get(self, event_id: str) -> ProcessedEvent | None:
        """See :meth:`ProcessedEventStore.get`."""
        with self._lock:
            return self._rows.get(event_id)
