"""The CPU a request spends in metrics and logging (tracing off).

Two measurements, in one process:

* the observe layer's own work, timed alone (best of 5 × 20 000): the Prometheus request counter
  and latency histogram, and one JSON access-log line written to /dev/null;
* whole requests (``GET /api/v1/reservations/:id`` through Litestar's test client) with and
  without the observe layer, in alternating rounds; the median of the rounds' per-request CPU.
  On a shared machine this figure is noisy; the first is the precise one, and the second gives
  the request's CPU to compare it with.

``uv run python -m bench.observability_overhead``"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from litestar.testing import TestClient

from checkout_core.demo import load_demo
from checkout_core.usecases.context import Actor, Role
from entrypoints.bootstrap import bootstrap_in_memory
from entrypoints.http.app import create_app
from entrypoints.http.observe import log_access
from entrypoints.observability.logs import JsonFormatter
from entrypoints.observability.metrics import metrics

ROUNDS = 10
PER_ROUND = 200
ROUTE = "/api/v1/reservations/{reservation_id}"


def cpu_per_call(work: Callable[[], object], calls: int = 20_000) -> float:
    """Best of five: CPU µs per call."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            work()
        best = min(best, (time.process_time() - started) / calls * 1e6)
    return best


def main() -> None:
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    logging.getLogger("checkout").setLevel(logging.INFO)
    logging.getLogger("checkout.events").setLevel(logging.WARNING)
    app = bootstrap_in_memory()
    load_demo(app.ctx.uow)
    asgi = create_app(app)

    recorder = metrics()
    actor = Actor("cus_demo")
    metric_us = cpu_per_call(
        lambda: (
            recorder.http_requests.labels(ROUTE, "GET", "200").inc(),
            recorder.http_latency.labels(ROUTE, "GET").observe(0.001),
        )
    )
    log_us = cpu_per_call(lambda: log_access("0123456789abcdef", "GET", ROUTE, 200, 0.001, actor))

    observed = asgi.asgi_handler
    plain = observed.__wrapped__  # type: ignore[attr-defined]
    token = app.tokens.issue("cus_demo", Role.CUSTOMER, now=datetime.now(UTC))
    headers = {"Authorization": f"Bearer {token}"}
    rounds: dict[str, list[float]] = {"with": [], "without": []}
    with TestClient(asgi) as client:
        rid = client.post(
            "/api/v1/reservations",
            json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}},
            headers={**headers, "Idempotency-Key": "bench"},
        ).json()["reservationId"]
        for _ in range(ROUNDS):
            for name, handler_app in (("without", plain), ("with", observed)):
                asgi.asgi_handler = handler_app
                started = time.process_time()
                for _ in range(PER_ROUND):
                    client.get(f"/api/v1/reservations/{rid}", headers=headers)
                rounds[name].append((time.process_time() - started) / PER_ROUND * 1e6)
    without, with_ = statistics.median(rounds["without"]), statistics.median(rounds["with"])
    layer = metric_us + log_us
    print(f"observe layer alone: metrics {metric_us:.1f} µs + access log {log_us:.1f} µs = {layer:.1f} µs CPU/request")
    print(f"GET /api/v1/reservations/:id (median of {ROUNDS} rounds × {PER_ROUND}, in-process test client):")
    print(f"  without the layer: {without:.0f} µs CPU/request; with it: {with_:.0f} µs")
    print(f"  the layer's share of a request: {100 * layer / without:.1f} % (budget 5 %)")


if __name__ == "__main__":
    main()
