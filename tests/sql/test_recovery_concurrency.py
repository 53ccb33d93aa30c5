"""The recovery job run by several workers at once: every stale intent settled exactly once.

A crash leaves a batch of expired holds with their refunds opened but never sent; four recovery
jobs then start together (threads, each with its own units of work, as separate processes would
have). Each refund must reach the gateway exactly once — the lease on a pending refund, not the
gateway's idempotency, is what keeps two jobs from sending it together — and the audit must be
clean afterwards. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import attrs
import pytest

from adapters.system.clock import FixedClock
from checkout_core.model.payments import RefundStatus
from checkout_core.model.vin import with_check_digit
from checkout_core.money import Money
from checkout_core.ports.payments import RefundResult
from checkout_core.usecases.context import SYSTEM, Actor
from checkout_core.usecases.ledger_audit import audit_ledger
from checkout_core.usecases.recovery import recover_payments
from checkout_core.usecases.reservations import expire_due_reservations, reserve_vehicle
from entrypoints.bootstrap import App
from tests.faults import Crash, FaultPlan, faulty

HOLDS = 12
JOBS = 4


class CountingGateway:
    """The app's gateway, counting refund calls per idempotency key (thread-safe)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str, reason: str) -> RefundResult:
        with self._lock:
            self.calls[idempotency_key] += 1
        return self._inner.refund(  # type: ignore[attr-defined, no-any-return]  # the wrapped gateway
            charge_ref=charge_ref, amount=amount, idempotency_key=idempotency_key, reason=reason
        )

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def _many_holds(app: App) -> None:
    with app.ctx.uow() as uow:
        car = uow.vehicles.get("veh_abc123")
        assert car is not None
        for n in range(HOLDS):
            uow.vehicles.upsert(attrs.evolve(car, id=f"veh_extra_{n:02d}", vin=with_check_digit(f"1HGCM82633A{n:06d}")))
        uow.commit()
    for n in range(HOLDS):
        reserve_vehicle(app.ctx, Actor(f"cus_{n:02d}"), vehicle_id=f"veh_extra_{n:02d}", payment_token="tok_visa")


def test_several_recovery_jobs_at_once_send_each_refund_once(app_on_sql: App, clock: FixedClock) -> None:
    _many_holds(app_on_sql)
    clock.advance(timedelta(hours=73))
    with pytest.raises(Crash):  # the sweep committed the expiries and their refunds, then died
        expire_due_reservations(faulty(app_on_sql.ctx, FaultPlan(crash_at=1)))
    clock.advance(app_on_sql.ctx.policy.recovery_grace + timedelta(seconds=1))

    counting = CountingGateway(app_on_sql.ctx.gateway)
    ctx = attrs.evolve(app_on_sql.ctx, gateway=counting)
    start = threading.Barrier(JOBS)
    errors: list[BaseException] = []

    def job() -> None:
        try:
            start.wait(timeout=10)
            recover_payments(ctx, batch_size=HOLDS)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=job) for _ in range(JOBS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert errors == []
    assert len(counting.calls) == HOLDS
    assert set(counting.calls.values()) == {1}, counting.calls  # each refund sent by one job only
    with app_on_sql.ctx.uow() as uow:
        pending = uow.ledger.refunds_for(status=RefundStatus.PENDING, limit=100)
        refunds = [
            r
            for n in range(HOLDS)
            for p in uow.ledger.payments_for(reservation_id=_reservation_of(uow, f"veh_extra_{n:02d}"))
            for r in uow.ledger.refunds_for(p.id)
        ]
    assert pending == []
    assert len(refunds) == HOLDS and {r.status for r in refunds} == {RefundStatus.SUCCEEDED}
    assert audit_ledger(app_on_sql.ctx, SYSTEM).is_clean


def _reservation_of(uow: object, vehicle_id: str) -> str:
    listing = uow.reservations.list(limit=100)  # type: ignore[attr-defined]  # a unit of work
    return next(r.id for r in listing if r.vehicle_id == vehicle_id)
