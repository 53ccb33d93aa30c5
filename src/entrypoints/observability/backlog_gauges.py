"""The database gauges of a scrape: the outbox backlog and the age of its oldest row, holds
overdue for expiry, agreements waiting for a worker, refunds and card payments pending past the
recovery grace period.

Read at scrape time, not kept per process, so every worker answers the same and a dead sweeper
shows as a growing number rather than a silent one. The reading is cached for a few seconds:
several Prometheus servers (or a dashboard's refresh) scraping every worker cost one set of
queries per interval."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from checkout_core.model.payments import RefundStatus
from checkout_core.ports.backlog import Backlog
from entrypoints.bootstrap import App

log = logging.getLogger("checkout.metrics")

#: Seconds a reading is reused.
CACHE_SECONDS = 5.0

#: Gauge name → (help, the Backlog attribute it shows).
GAUGES: dict[str, tuple[str, str]] = {
    "checkout_outbox_unpublished": ("Outbox events not yet published to the broker.", "outbox_unpublished"),
    "checkout_outbox_oldest_unpublished_age_seconds": (
        "Age of the oldest unpublished outbox event (0 when none).",
        "outbox_oldest_age_seconds",
    ),
    "checkout_reservations_overdue_for_expiry": (
        "Active reservations past their expiry time (the expiry sweeper is behind).",
        "holds_overdue",
    ),
    "checkout_agreements_waiting": (
        "Orders whose agreement a documents worker has yet to render.",
        "agreements_waiting",
    ),
    "checkout_refunds_pending_past_grace": (
        "Refunds pending for longer than the recovery grace period.",
        "refunds_pending_past_grace",
    ),
    "checkout_payments_pending_past_grace": (
        "Card payments (intents) pending for longer than the recovery grace period.",
        "payments_pending_past_grace",
    ),
}


RECENT_REFUNDS = "checkout_refunds_last_24h"
REFUND_STATUSES = tuple(str(status) for status in RefundStatus)


class BacklogGauges:
    """A scrape-time collector over ``app.backlog`` (nothing in memory, where there is none)."""

    def __init__(self, app: App, *, clock: Callable[[], float]) -> None:
        self._app = app
        self._clock = clock
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._reading: Backlog | None = None
        self._failed = False

    def _read(self) -> tuple[Backlog | None, bool]:
        backlog = self._app.backlog
        if backlog is None:
            return None, False
        with self._lock:
            if self._clock() - self._read_at >= CACHE_SECONDS:
                try:
                    self._reading = backlog.read(self._app.ctx.clock.now(), self._app.ctx.policy.recovery_grace)
                    self._failed = False
                except Exception as error:
                    # A scrape must still answer (the request metrics matter most when the
                    # database is in trouble); the failure is a gauge of its own.
                    log.warning("backlog gauges not read (%s)", type(error).__name__)
                    self._reading, self._failed = None, True
                self._read_at = self._clock()
            return self._reading, self._failed

    def collect(self) -> Sequence[Any]:
        """The gauge families, read now (or a few seconds ago)."""
        from prometheus_client.core import GaugeMetricFamily

        reading, failed = self._read()
        families: list[Any] = []
        if self._app.backlog is not None:
            up = GaugeMetricFamily("checkout_backlog_read_ok", "1 if the backlog gauges were read from the database.")
            up.add_metric([], 0.0 if failed else 1.0)
            families.append(up)
        if reading is None:
            return families
        for name, (help_text, attribute) in GAUGES.items():
            family = GaugeMetricFamily(name, help_text)
            family.add_metric([], float(getattr(reading, attribute)))
            families.append(family)
        refunds = GaugeMetricFamily(
            RECENT_REFUNDS, "Refunds opened in the last 24 hours, by status.", labels=["status"]
        )
        counted = dict(reading.recent_refunds)
        for status in REFUND_STATUSES:  # every status, at 0 too, so a rate of failures is never "no data"
            refunds.add_metric([status], float(counted.pop(status, 0)))
        for status, count in counted.items():
            refunds.add_metric([status], float(count))
        families.append(refunds)
        return families
