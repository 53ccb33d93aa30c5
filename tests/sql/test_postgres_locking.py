"""PostgreSQL-only guarantees: row locks (``FOR UPDATE``), sweeps that skip each other's rows
(``SKIP LOCKED``), the reservation status check on save, and lock errors surfacing as Conflict.

Two units of work are open at once here, as two concurrent requests or jobs would be."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.ids import SequentialIds
from checkout_core.errors import Conflict
from checkout_core.model.order import OrderStatus
from checkout_core.model.reservation import Reservation, ReservationStatus
from checkout_core.money import Money
from checkout_core.ports.repositories import StoredEvent
from tests.sql.builders import T0, advisor, full_order, payment, refund, reservation, vehicle

pytestmark = pytest.mark.postgres

IDS = SequentialIds()


def _uow(engine: Engine) -> SqlUnitOfWork:
    return SqlUnitOfWork(engine, IDS)


def _seed_due(engine: Engine, count: int) -> list[str]:
    """``count`` confirmed reservations on as many cars, all overdue at T0 + 1 h."""
    with _uow(engine) as uow:
        ids = []
        for n in range(count):
            uow.vehicles.upsert(vehicle(f"veh_{n}"))
            uow.reservations.add(reservation(f"res_{n}", vehicle_id=f"veh_{n}", expires_at=T0 + timedelta(minutes=n)))
            ids.append(f"res_{n}")
        uow.commit()
    return ids


def test_concurrent_expiry_sweeps_skip_each_others_rows(pg_engine: Engine) -> None:
    _seed_due(pg_engine, 5)
    now = T0 + timedelta(hours=1)
    with _uow(pg_engine) as first, _uow(pg_engine) as second:
        mine = [r.id for r, _ in first.reservations.claim_due_for_expiry(now, 2)]
        theirs = [r.id for r, _ in second.reservations.claim_due_for_expiry(now, 10)]
        third_try = [r.id for r, _ in second.reservations.claim_due_for_expiry(now, 10)]
    assert mine == ["res_0", "res_1"]
    assert theirs == ["res_2", "res_3", "res_4"]
    assert third_try == theirs  # a transaction sees its own locked rows again


def test_a_sweep_skips_the_hold_a_reservation_request_is_expiring(pg_engine: Engine) -> None:
    # reserve_vehicle expires an overdue hold it finds through active_for_vehicle; that row is
    # locked, so a concurrent sweep skips it instead of expiring (and refunding) it twice.
    _seed_due(pg_engine, 1)
    with _uow(pg_engine) as request, _uow(pg_engine) as sweep:
        holder = request.reservations.active_for_vehicle("veh_0")
        assert holder is not None
        assert sweep.reservations.claim_due_for_expiry(T0 + timedelta(hours=1), 10) == []


def test_stale_pending_and_outbox_claims_skip_locked_rows(pg_engine: Engine) -> None:
    with _uow(pg_engine) as uow:
        for n in range(3):
            uow.vehicles.upsert(vehicle(f"veh_{n}"))
            uow.reservations.add(
                reservation(
                    f"res_{n}",
                    vehicle_id=f"veh_{n}",
                    status=ReservationStatus.PENDING_DEPOSIT,
                    created_at=T0 + timedelta(seconds=n),
                )
            )
        for n in (1, 2):
            uow.outbox.add(
                StoredEvent(id=f"evt_{n}", aggregate_id="res_0", name="Test", payload={"n": n}, occurred_at=T0)
            )
        uow.commit()
    later = T0 + timedelta(hours=1)
    with _uow(pg_engine) as first, _uow(pg_engine) as second:
        assert [r.id for r in first.reservations.claim_stale_pending(later, 1)] == ["res_0"]
        assert [r.id for r in second.reservations.claim_stale_pending(later, 10)] == ["res_1", "res_2"]
        assert [e.id for e in first.outbox.claim_unpublished(1)] == ["evt_1"]
        assert [e.id for e in second.outbox.claim_unpublished(10)] == ["evt_2"]


def test_completion_sweeps_skip_locked_orders(pg_engine: Engine) -> None:
    with _uow(pg_engine) as uow:
        uow.vehicles.upsert(vehicle())
        uow.advisors.upsert(advisor())
        for n in (1, 2):
            uow.reservations.add(reservation(f"res_{n}", status=ReservationStatus.CONVERTED))
            uow.orders.add(
                full_order(
                    f"ord_{n}", number=f"CLT-2025-1000{n}", reservation_id=f"res_{n}", status=OrderStatus.DELIVERED
                )
            )
        uow.commit()
    later = T0 + timedelta(days=30)
    with _uow(pg_engine) as first, _uow(pg_engine) as second:
        assert [o.id for o in first.orders.claim_due_for_completion(later, 1)] == ["ord_1"]
        assert [o.id for o in second.orders.claim_due_for_completion(later, 10)] == ["ord_2"]


def test_get_for_update_waits_for_the_lock_holder(pg_engine: Engine) -> None:
    _seed_due(pg_engine, 1)
    locked = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with _uow(pg_engine) as uow:
            assert uow.reservations.get("res_0", for_update=True) is not None
            locked.set()
            release.wait(5)
            uow.commit()

    thread = threading.Thread(target=holder)
    thread.start()
    assert locked.wait(5)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    with _uow(pg_engine) as uow:
        assert uow.reservations.get("res_0", for_update=True) is not None
    waited = time.monotonic() - started
    thread.join()
    assert waited >= 0.2  # it really queued behind the first transaction


def test_saving_a_reservation_someone_else_moved_on_is_a_conflict(pg_engine: Engine) -> None:
    _seed_due(pg_engine, 1)
    with _uow(pg_engine) as slow:
        stale = slow.reservations.get("res_0")  # read without a lock
        assert stale is not None
        with _uow(pg_engine) as fast:
            fresh = fast.reservations.get("res_0", for_update=True)
            assert fresh is not None
            fresh.expire(now=T0 + timedelta(hours=1))
            fast.reservations.save(fresh)
            fast.commit()
        stale.cancel(now=T0 + timedelta(hours=1))
        with pytest.raises(Conflict):
            slow.reservations.save(stale)
    with _uow(pg_engine) as uow:
        stored: Reservation | None = uow.reservations.get("res_0")
    assert stored is not None
    assert stored.status is ReservationStatus.EXPIRED


def test_a_lock_timeout_is_reported_as_a_retryable_conflict(pg_engine: Engine) -> None:
    _seed_due(pg_engine, 1)
    with _uow(pg_engine) as holder, _uow(pg_engine) as waiter:
        assert holder.reservations.get("res_0", for_update=True) is not None
        waiter.connection.exec_driver_sql("SET LOCAL lock_timeout = '100ms'")
        with pytest.raises(Conflict, match="retry"):
            waiter.reservations.get("res_0", for_update=True)


def test_two_concurrent_refunds_of_one_payment_cannot_both_reserve_the_amount(pg_engine: Engine) -> None:
    # refund_payment reserves the amount by raising payment.refunded; the second of two
    # concurrent refunds must not overwrite the first's reservation (that would over-refund).
    _seed_due(pg_engine, 1)
    with _uow(pg_engine) as uow:
        uow.ledger.add_payment(payment("pay_1", reservation_id="res_0"))  # 10000 paid, 2500 refunded
        uow.commit()
    with _uow(pg_engine) as first, _uow(pg_engine) as second:
        a = first.ledger.get_payment("pay_1")
        b = second.ledger.get_payment("pay_1")
        assert a is not None
        assert b is not None
        a.refunded = a.refunded + Money(7500)
        first.ledger.add_refunds([refund("rfd_a", payment_id="pay_1", key="pay_1:order_cancelled")])
        first.ledger.save_payment(a)
        first.commit()
        b.refunded = b.refunded + Money(7500)
        second.ledger.add_refunds([refund("rfd_b", payment_id="pay_1", key="pay_1:refund")])
        with pytest.raises(Conflict):
            second.ledger.save_payment(b)
    with _uow(pg_engine) as uow:
        stored = uow.ledger.get_payment("pay_1")
        assert stored is not None
        assert stored.refunded == Money(10000)
        assert [r.id for r in uow.ledger.refunds_for("pay_1")] == ["rfd_a"]
