"""The Prometheus metrics of the process: HTTP requests, business counters and the job-worker
heartbeat, rendered in the text format by :func:`render`.

prometheus-client (the ``metrics`` extra) is imported on the first use of :func:`metrics`.
Under ``checkout serve --workers N`` each worker process writes its samples to files in
``PROMETHEUS_MULTIPROC_DIR`` (``serve`` sets one up) and a scrape of any worker aggregates all
of them, so the counters do not depend on which worker answered. Gauges read from the database
(:mod:`entrypoints.observability.backlog_gauges`) are not samples of a process: they are read at
scrape time and added to the answer."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from checkout_core.events import DomainEvent
from entrypoints.extras import require_extra

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

#: Latency buckets (seconds): a reservation with a card charge sits around 10–100 ms.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Domain event → (counter, outcome label). Counted after commit, so a rolled-back attempt counts nothing.
EVENT_OUTCOMES: dict[str, tuple[str, str]] = {
    "ReservationConfirmed": ("reservations", "created"),
    "ReservationFailed": ("reservations", "declined"),
    "ReservationExpired": ("reservations", "expired"),
    "ReservationCancelled": ("reservations", "cancelled"),
    "OrderPlaced": ("orders", "placed"),
    "OrderCancelled": ("orders", "cancelled"),
    "PurchaseCompleted": ("orders", "completed"),
    "OrderReturned": ("orders", "returned"),
    "RefundIssued": ("refunds", "issued"),
    "DuplicateChargeRefunded": ("refunds", "duplicate_charge"),
    "PaymentDisputed": ("disputes", "opened"),
    "CardTestingSuspected": ("fraud", "card_testing_suspected"),
    "DocumentIntegrityFailed": ("fraud", "document_integrity_failed"),
}

#: Problem code → refusal reason (``checkout_refusals_total``): the protections an operator watches.
REFUSAL_CODES: dict[str, str] = {
    "too_many_attempts": "rate_limit",
    "card_data_not_accepted": "card_guard",
    "webhook_rejected": "webhook_signature",
}


class Metrics:
    """Every metric the process records (one instance per process: :func:`metrics`)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.http_requests: Counter = Counter(
            "checkout_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
        )
        self.http_latency: Histogram = Histogram(
            "checkout_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
        )
        self.business: Counter = Counter(
            "checkout_business_events",
            "Business outcomes (counted after their transaction commits).",
            ["kind", "outcome"],
        )
        self.refusals: Counter = Counter(
            "checkout_refusals",
            "Requests refused by a protection: rate limits, the card guard, webhook signatures.",
            ["reason"],
        )
        self.problems: Counter = Counter(
            "checkout_http_problems", "problem+json answers by status and stable code.", ["status", "code"]
        )
        self.webhooks: Counter = Counter(
            "checkout_webhook_events",
            "Provider webhook deliveries by provider, event type and verdict.",
            ["provider", "type", "verdict"],
        )
        self.job_passes: Counter = Counter(
            "checkout_job_passes", "Worker passes, by job and result.", ["job", "result"]
        )
        self.job_rows: Counter = Counter("checkout_job_rows", "Rows a worker handled, by job.", ["job"])
        self.job_last_pass: Gauge = Gauge(
            "checkout_job_last_pass_timestamp_seconds",
            "When the worker last finished a pass (Unix time).",
            ["job"],
            multiprocess_mode="max",
        )
        self.job_last_success: Gauge = Gauge(
            "checkout_job_last_success_timestamp_seconds",
            "When the worker last finished a pass without failing.",
            ["job"],
            multiprocess_mode="max",
        )

    def count_events(self, events: Sequence[DomainEvent]) -> None:
        """After-commit event handler: the business counters."""
        for event in events:
            found = EVENT_OUTCOMES.get(event.name)
            if found is not None:
                self.business.labels(*found).inc()

    def count_problem(self, status: int, code: str) -> None:
        """One problem+json answer (and a refusal, for the protections' codes)."""
        self.problems.labels(str(status), code).inc()
        reason = REFUSAL_CODES.get(code)
        if reason is not None:
            self.refusals.labels(reason).inc()


_lock = threading.Lock()
_metrics: Metrics | None = None


def metrics_available() -> bool:
    """Whether prometheus-client is installed (the ``metrics`` extra)."""
    try:
        require_extra("metrics", "Metrics", modules=("prometheus_client",))
    except ImportError:
        return False
    return True


def metrics() -> Metrics:
    """The process's metrics, created on first use."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                require_extra("metrics", "Prometheus metrics (GET /metrics)", modules=("prometheus_client",))
                _metrics = Metrics()
    return _metrics


def count_events(events: Sequence[DomainEvent]) -> None:
    """After-commit event handler for the composition root (a no-op without prometheus-client)."""
    if _metrics is not None or metrics_available():
        metrics().count_events(events)


def count_problem(status: int, code: str) -> None:
    """One problem+json answer (a no-op without prometheus-client)."""
    if _metrics is not None or metrics_available():
        metrics().count_problem(status, code)


def count_webhook(provider: str, event_type: str, verdict: str) -> None:
    """One provider webhook delivery and what became of it (a no-op without prometheus-client)."""
    if _metrics is not None or metrics_available():
        metrics().webhooks.labels(provider, event_type, verdict).inc()


def multiprocess_dir() -> str:
    """``PROMETHEUS_MULTIPROC_DIR`` when the process shares its samples with sibling workers."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


#: Extra collectors for a scrape (the database gauges): callables returning metric families.
ExtraCollector = Callable[[], Sequence[Any]]


def render(extra: Sequence[ExtraCollector] = ()) -> tuple[bytes, str]:
    """(body, content type) of a scrape: this process's metrics (every worker's, in multiprocess
    mode) and the ``extra`` families read now."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
    from prometheus_client.registry import Collector

    metrics()  # the families exist (at zero) from the first scrape on
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # the library leaves it unannotated
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    if extra:

        class _Extra(Collector):
            def collect(self) -> Any:
                for read in extra:
                    yield from read()

        scraped = CollectorRegistry()
        scraped.register(_Extra())
        body += generate_latest(scraped)
    return body, CONTENT_TYPE_LATEST
