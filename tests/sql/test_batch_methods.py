"""The batch repository methods of the set-based expiry sweep, against the in-memory adapter,
SQLite and PostgreSQL: ``VehicleRepository.set_status`` of several cars, ``ReservationRepository.save`` of several
and ``PaymentLedger.payments_for(idempotency_keys=…)`` / ``add_refunds`` / ``save_payment`` of several
/ ``save_refunds``."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from sqlalchemy import update

from adapters.sql import tables
from adapters.sql.unit_of_work import SqlUnitOfWork
from checkout_core.errors import Conflict
from checkout_core.events import ReservationExpired
from checkout_core.model.payments import RefundStatus
from checkout_core.model.reservation import ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.money import Money
from tests.sql.builders import T0, payment, refund, reservation, vehicle
from tests.sql.conftest import Backend
from tests.sql.test_contract import _ledger_world, add_reservation, seed


def test_set_status_of_several_cars_only_releases_reserved_ones(backend: Backend) -> None:
    with backend.uow() as uow:
        uow.vehicles.upsert(vehicle("veh_1", status=VehicleStatus.RESERVED))
        uow.vehicles.upsert(vehicle("veh_2", status=VehicleStatus.RESERVED))
        uow.vehicles.upsert(vehicle("veh_3", status=VehicleStatus.AVAILABLE))
        uow.vehicles.upsert(vehicle("veh_4", status=VehicleStatus.SOLD))
        uow.commit()
    with backend.uow() as uow:
        several = ["veh_1", "veh_2", "veh_3", "veh_4", "veh_missing", "veh_1"]
        assert uow.vehicles.set_status(several, VehicleStatus.AVAILABLE, expected=VehicleStatus.RESERVED) == 2
        assert uow.vehicles.set_status([], VehicleStatus.AVAILABLE, expected=VehicleStatus.RESERVED) == 0
        uow.commit()
    with backend.uow() as uow:
        statuses = {v.id: v.status for v in uow.vehicles.list()}
    assert statuses == {
        "veh_1": VehicleStatus.AVAILABLE,
        "veh_2": VehicleStatus.AVAILABLE,
        "veh_3": VehicleStatus.AVAILABLE,
        "veh_4": VehicleStatus.SOLD,
    }


def test_save_many_persists_every_reservation_and_its_events(backend: Backend) -> None:
    seed(backend, "veh_1", "veh_2", "veh_3")
    add_reservation(
        backend,
        reservation("res_1", vehicle_id="veh_1", expires_at=T0 + timedelta(hours=1)),
        reservation("res_2", vehicle_id="veh_2", expires_at=T0 + timedelta(hours=1)),
        reservation("res_3", vehicle_id="veh_3", expires_at=T0 + timedelta(hours=9)),
    )
    now = T0 + timedelta(hours=2)
    with backend.uow() as uow:
        due = [r for r, _ in uow.reservations.claim_due_for_expiry(now, 10)]
        for item in due:
            item.expire(now=now)
        uow.reservations.save(*due, expected_status=ReservationStatus.CONFIRMED)
        uow.reservations.save(expected_status=ReservationStatus.CONFIRMED)
        uow.commit()
    with backend.uow() as uow:
        stored = {r.id: r for r in uow.reservations.list()}
        events = [e.name for e in uow.outbox.for_aggregate("res_1")]
    assert [r.id for r in due] == ["res_1", "res_2"]
    assert stored["res_1"] == attrs.evolve(due[0], pending_events=[])
    assert stored["res_2"].status is ReservationStatus.EXPIRED
    assert stored["res_3"].status is ReservationStatus.CONFIRMED
    assert events == [ReservationExpired.__name__]


def test_save_many_is_all_or_nothing(backend: Backend) -> None:
    seed(backend, "veh_1", "veh_2")
    add_reservation(
        backend,
        reservation("res_1", vehicle_id="veh_1"),
        reservation("res_2", vehicle_id="veh_2", status=ReservationStatus.EXPIRED),
    )
    now = T0 + timedelta(hours=100)
    with backend.uow() as uow:
        first, second = uow.reservations.get("res_1"), uow.reservations.get("res_2")
        assert first is not None
        assert second is not None
        first.expire(now=now)
        second.updated_at = now
        with pytest.raises(Conflict):
            uow.reservations.save(first, second, expected_status=ReservationStatus.CONFIRMED)
    with backend.uow() as uow:
        unchanged = uow.reservations.get("res_1")
    assert unchanged is not None
    assert unchanged.status is ReservationStatus.CONFIRMED


def test_payments_by_keys(backend: Backend) -> None:
    _ledger_world(backend)
    with backend.uow() as uow:
        for n in range(1, 4):
            uow.ledger.add_payment(payment(f"pay_{n}", key=f"res_{n}:deposit"))
        uow.commit()
    with backend.uow() as uow:
        found = uow.ledger.payments_for(
            idempotency_keys=["res_3:deposit", "res_1:deposit", "res_9:deposit", "res_1:deposit"]
        )
        assert uow.ledger.payments_for(idempotency_keys=[]) == []
    assert sorted(found, key=lambda p: p.id) == [
        payment("pay_1", key="res_1:deposit"),
        payment("pay_3", key="res_3:deposit"),
    ]


def test_add_refunds_skips_keys_that_exist(backend: Backend) -> None:
    _ledger_world(backend)
    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_1"))
        uow.ledger.add_refunds([refund("rfd_old", key="pay_1:reservation_expired")])
        uow.commit()
    fresh = [
        refund("rfd_1", status=RefundStatus.PENDING),
        refund("rfd_2", key="pay_1:reservation_expired", status=RefundStatus.PENDING),
        refund("rfd_3", status=RefundStatus.PENDING, created_at=T0 + timedelta(hours=1)),
    ]
    with backend.uow() as uow:
        added = uow.ledger.add_refunds(fresh)
        assert uow.ledger.add_refunds([]) == []
        uow.commit()
    assert [r.id for r in added] == ["rfd_1", "rfd_3"]
    with backend.uow() as uow:
        assert [r.id for r in uow.ledger.refunds_for("pay_1")] == ["rfd_1", "rfd_old", "rfd_3"]
        assert uow.ledger.get_refund("rfd_1") == fresh[0]
        assert uow.ledger.get_refund("rfd_2") is None


def test_save_payments_writes_every_payment(backend: Backend) -> None:
    _ledger_world(backend)
    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_1", key="k1"))
        uow.ledger.add_payment(payment("pay_2", key="k2"))
        uow.commit()
    with backend.uow() as uow:
        read = sorted(uow.ledger.payments_for(idempotency_keys=["k1", "k2"]), key=lambda p: p.id)
        for item in read:
            item.refunded = item.refunded + Money(2500)
            item.updated_at = T0 + timedelta(hours=1)
        uow.ledger.save_payment(*read)
        uow.ledger.save_payment()
        uow.commit()
    with backend.uow() as uow:
        assert [uow.ledger.get_payment(p.id) for p in read] == read


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_save_payments_refuses_a_payment_changed_since_read(backend: Backend) -> None:
    """Two refunds of one payment cannot both reserve money (the SQL adapter checks the status
    and refunded amount each payment was read with; the memory one serialises units of work)."""
    _ledger_world(backend)
    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_1", key="k1"))
        uow.ledger.add_payment(payment("pay_2", key="k2"))
        uow.commit()
    with backend.uow() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        read = list(uow.ledger.payments_for(idempotency_keys=["k1", "k2"]))
        # Someone else reserved part of pay_2 after it was read.
        uow.execute(update(tables.payments).where(tables.payments.c.id == "pay_2").values(refunded_cents=100))
        for item in read:
            item.refunded = item.refunded + Money(2500)
        with pytest.raises(Conflict):
            uow.ledger.save_payment(*read)


def test_save_refunds_skips_refunds_settled_meanwhile(backend: Backend) -> None:
    _ledger_world(backend)
    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_1"))
        uow.ledger.add_refunds([refund("rfd_1", status=RefundStatus.PENDING)])
        uow.ledger.add_refunds([refund("rfd_2", status=RefundStatus.PENDING)])
        uow.ledger.add_refunds([refund("rfd_3", status=RefundStatus.SUCCEEDED)])
        uow.commit()
    later = T0 + timedelta(hours=1)
    answers = [
        attrs.evolve(refund("rfd_1"), status=RefundStatus.SUCCEEDED, updated_at=later),
        attrs.evolve(refund("rfd_2"), status=RefundStatus.FAILED, failure_code="lost_card", updated_at=later),
        attrs.evolve(refund("rfd_3"), status=RefundStatus.FAILED, updated_at=later),
    ]
    with backend.uow() as uow:
        assert uow.ledger.save_refunds(answers, expected_status=RefundStatus.PENDING) == 2
        assert uow.ledger.save_refunds([], expected_status=RefundStatus.PENDING) == 0
        uow.commit()
    with backend.uow() as uow:
        assert uow.ledger.get_refund("rfd_1") == answers[0]
        assert uow.ledger.get_refund("rfd_2") == answers[1]
        assert uow.ledger.get_refund("rfd_3") == refund("rfd_3", status=RefundStatus.SUCCEEDED)
