"""One expiry sweeper process for :mod:`bench.expiry`.

It builds the App with the production composition root from ``CHECKOUT_*`` (as
``checkout reservations expire`` does), wraps the payment gateway to time its calls, says
``ready`` on stdout, waits for the start file, runs ``expire_due_reservations`` once and prints
one JSON line: how many it expired, when it started and finished (wall clock, comparable across
processes), its own CPU time and how long it spent in the gateway.

Run: ``python -m bench.expiry_worker START_FILE [--batch-size N]``."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import attrs

from checkout_core.money import Money
from checkout_core.ports.payments import ChargeResult, GatewayRecord, PaymentGateway, RefundResult
from checkout_core.usecases.reservations import expire_due_reservations
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import load_settings


class TimedGateway:
    """A PaymentGateway that forwards every call and adds up the time spent in them."""

    def __init__(self, inner: PaymentGateway) -> None:
        self._inner = inner
        self.name = inner.name
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def _timed(self, started: float) -> None:
        with self._lock:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def charge(
        self, *, amount: Money, source: str, idempotency_key: str, description: str, metadata: Mapping[str, str]
    ) -> ChargeResult:
        """Forwarded."""
        started = time.perf_counter()
        try:
            return self._inner.charge(
                amount=amount,
                source=source,
                idempotency_key=idempotency_key,
                description=description,
                metadata=metadata,
            )
        finally:
            self._timed(started)

    def find_charge(self, *, idempotency_key: str, ledger_id: str) -> ChargeResult | None:
        """Forwarded."""
        started = time.perf_counter()
        try:
            return self._inner.find_charge(idempotency_key=idempotency_key, ledger_id=ledger_id)
        finally:
            self._timed(started)

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str, reason: str) -> RefundResult:
        """Forwarded."""
        started = time.perf_counter()
        try:
            return self._inner.refund(
                charge_ref=charge_ref, amount=amount, idempotency_key=idempotency_key, reason=reason
            )
        finally:
            self._timed(started)

    def get_refund(self, refund_ref: str) -> RefundResult:
        """Forwarded."""
        started = time.perf_counter()
        try:
            return self._inner.get_refund(refund_ref)
        finally:
            self._timed(started)

    def activity(self, since: datetime, until: datetime) -> Iterable[GatewayRecord]:
        """Forwarded (not timed: not on the sweep's path)."""
        return self._inner.activity(since, until)


def main() -> None:
    """See the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("start_file", type=Path)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    app = bootstrap(load_settings())
    try:
        gateway = TimedGateway(app.ctx.gateway)
        ctx = attrs.evolve(app.ctx, gateway=gateway)
        print("ready", flush=True)
        while not args.start_file.exists():
            time.sleep(0.005)
        started, cpu = time.time(), time.process_time()
        expired = expire_due_reservations(ctx, batch_size=args.batch_size)
        finished, cpu = time.time(), time.process_time() - cpu
        report = {
            "expired": expired,
            "started": started,
            "finished": finished,
            "seconds": finished - started,
            "gateway_seconds": gateway.seconds,
            "gateway_calls": gateway.calls,
            "cpu_seconds": cpu,
        }
        print(json.dumps(report), flush=True)
    finally:
        app.close()


if __name__ == "__main__":
    main()
