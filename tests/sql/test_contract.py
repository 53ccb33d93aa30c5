"""The repository and unit-of-work contract: the same tests against the in-memory adapter,
SQLite and PostgreSQL. Where the SQL adapter promises more than the memory one (database
constraints), the test says so and runs on the SQL backends only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from sqlalchemy.exc import IntegrityError

from checkout_core.errors import Conflict, VehicleUnavailable
from checkout_core.events import ReservationCancelled, event_payload
from checkout_core.model.order import OrderStatus
from checkout_core.model.payments import Dispute, DisputeStatus, Payment, PaymentMethod, PaymentStatus, RefundStatus
from checkout_core.model.reservation import Reservation, ReservationStatus
from checkout_core.model.vehicle import Disclosure, DisclosureKind, VehicleStatus
from checkout_core.money import Money
from checkout_core.ports.repositories import CarClaim, StoredEvent
from checkout_core.ports.unit_of_work import UnitOfWork
from tests.sql.builders import (
    T0,
    advisor,
    customer,
    financing,
    full_order,
    payment,
    refund,
    reservation,
    trade_in_offer,
    vehicle,
)
from tests.sql.conftest import Backend


def seed(backend: Backend, *vehicle_ids: str, advisors: tuple[str, ...] = ("adv_1",)) -> None:
    """Cars and advisors that reservations and orders refer to (foreign keys on SQL)."""
    with backend.uow() as uow:
        for vehicle_id in vehicle_ids or ("veh_1",):
            uow.vehicles.upsert(vehicle(vehicle_id))
        for advisor_id in advisors:
            uow.advisors.upsert(advisor(advisor_id))
        uow.commit()


def add_reservation(backend: Backend, *items: Reservation) -> None:
    """Store reservations in one committed unit of work."""
    with backend.uow() as uow:
        for item in items:
            uow.reservations.add(item)
        uow.commit()


def add_order_with_reservation(backend: Backend, n: int, **changes: object) -> str:
    """A converted reservation and its order number ``n`` (ids ``res_n`` / ``ord_n``)."""
    with backend.uow() as uow:
        uow.reservations.add(
            reservation(f"res_{n}", vehicle_id="veh_1", status=ReservationStatus.CONVERTED, created_at=T0)
        )
        fields: dict[str, object] = {"number": f"CLT-2025-{10000 + n}", "reservation_id": f"res_{n}"}
        fields.update(changes)
        uow.orders.add(full_order(f"ord_{n}", **fields))  # type: ignore[arg-type]  # test data
        uow.commit()
    return f"ord_{n}"


# -- unit of work -----------------------------------------------------------------------------


def test_nothing_is_kept_without_commit(backend: Backend) -> None:
    with backend.uow() as uow:
        uow.vehicles.upsert(vehicle())
    with backend.uow() as uow:
        assert uow.vehicles.get("veh_1") is None


def _fail_half_way(backend: Backend) -> None:
    with backend.uow() as uow:
        uow.vehicles.upsert(vehicle())
        raise RuntimeError("boom")


def test_an_exception_rolls_back(backend: Backend) -> None:
    with pytest.raises(RuntimeError):
        _fail_half_way(backend)
    with backend.uow() as uow:
        assert uow.vehicles.get("veh_1") is None


def test_explicit_rollback_then_commit_keeps_only_the_later_work(backend: Backend) -> None:
    with backend.uow() as uow:
        uow.vehicles.upsert(vehicle("veh_a"))
        uow.rollback()
        uow.vehicles.upsert(vehicle("veh_b"))
        uow.commit()
        # the unit of work stays usable after a commit
        uow.vehicles.upsert(vehicle("veh_c"))
        uow.commit()
    with backend.uow() as uow:
        assert [v.id for v in uow.vehicles.list()] == ["veh_b", "veh_c"]


def test_events_go_to_the_outbox_on_commit_then_to_the_handlers(backend: Backend) -> None:
    seed(backend)
    add_reservation(backend, reservation())
    with backend.uow() as uow:
        held = uow.reservations.get("res_1")
        assert held is not None
        held.cancel(now=T0 + timedelta(hours=1))
        uow.reservations.save(held)
        assert backend.published == []  # nothing before the commit
        uow.commit()
    assert [e.name for e in backend.published] == ["ReservationCancelled"]
    with backend.uow() as uow:
        (stored,) = uow.outbox.for_aggregate("res_1")
    assert stored.name == "ReservationCancelled"
    assert stored.payload == event_payload(backend.published[0])
    assert stored.occurred_at == T0 + timedelta(hours=1)
    assert stored.published_at is None


def test_a_rolled_back_change_leaves_no_event(backend: Backend) -> None:
    seed(backend)
    add_reservation(backend, reservation())
    with backend.uow() as uow:
        held = uow.reservations.get("res_1")
        assert held is not None
        held.cancel(now=T0)
        uow.reservations.save(held)
        uow.emit(ReservationCancelled(occurred_at=T0, reservation_id="res_1", vehicle_id="veh_1"))
        # no commit
    with backend.uow() as uow:
        assert uow.outbox.for_aggregate("res_1") == []
        still = uow.reservations.get("res_1")
        assert still is not None
        assert still.status is ReservationStatus.CONFIRMED
    assert backend.published == []


def test_events_of_aggregates_only_loaded_are_stored_too(backend: Backend) -> None:
    # Repositories track what they hand out: an event raised on a loaded aggregate is stored
    # even if the caller forgot nothing but to save it.
    seed(backend)
    add_reservation(backend, reservation())
    with backend.uow() as uow:
        (held,) = uow.reservations.list()
        held.raise_event(ReservationCancelled(occurred_at=T0, reservation_id=held.id, vehicle_id="veh_1"))
        uow.commit()
    assert [e.name for e in backend.published] == ["ReservationCancelled"]


def test_emitted_events_are_stored_in_time_order(backend: Backend) -> None:
    later = ReservationCancelled(occurred_at=T0 + timedelta(seconds=5), reservation_id="res_9", vehicle_id="v")
    earlier = ReservationCancelled(occurred_at=T0, reservation_id="res_9", vehicle_id="v")
    with backend.uow() as uow:
        uow.emit(later, earlier)
        uow.commit()
    with backend.uow() as uow:
        stored = uow.outbox.for_aggregate("res_9")
    assert [e.occurred_at for e in stored] == [earlier.occurred_at, later.occurred_at]


# -- vehicles ---------------------------------------------------------------------------------


def test_vehicle_round_trip_and_upsert_replaces(backend: Backend) -> None:
    with backend.uow() as uow:
        uow.vehicles.upsert(vehicle())
        uow.commit()
    with backend.uow() as uow:
        assert uow.vehicles.get("veh_1") == vehicle()
        assert uow.vehicles.get("veh_nope") is None
        uow.vehicles.upsert(attrs.evolve(vehicle(), price=Money(2299900), odometer_km=35000))
        uow.commit()
    with backend.uow() as uow:
        stored = uow.vehicles.get("veh_1")
    assert stored == attrs.evolve(vehicle(), price=Money(2299900), odometer_km=35000)


def test_vehicle_disclosures_round_trip_in_order(backend: Backend) -> None:
    disclosed = attrs.evolve(
        vehicle(),
        disclosures=(
            Disclosure(kind=DisclosureKind.BRANDED, detail="Rebuilt"),
            Disclosure(kind=DisclosureKind.DAILY_RENTAL),
            Disclosure(kind=DisclosureKind.OTHER, detail="Québec lien paid out 2024"),
        ),
    )
    with backend.uow() as uow:
        uow.vehicles.upsert(disclosed)
        uow.commit()
    with backend.uow() as uow:
        assert uow.vehicles.get("veh_1") == disclosed
        uow.vehicles.upsert(attrs.evolve(disclosed, disclosures=()))
        uow.commit()
    with backend.uow() as uow:
        stored = uow.vehicles.get("veh_1")
    assert stored is not None and stored.disclosures == ()


def test_vehicle_list_filters_orders_and_pages(backend: Backend) -> None:
    with backend.uow() as uow:
        for i, status in enumerate([VehicleStatus.SOLD, VehicleStatus.AVAILABLE, VehicleStatus.AVAILABLE]):
            uow.vehicles.upsert(vehicle(f"veh_{3 - i}", status=status))
        uow.commit()
    with backend.uow() as uow:
        assert [v.id for v in uow.vehicles.list()] == ["veh_1", "veh_2", "veh_3"]
        assert [v.id for v in uow.vehicles.list(status=VehicleStatus.AVAILABLE)] == ["veh_1", "veh_2"]
        assert [v.id for v in uow.vehicles.list(limit=1, offset=1)] == ["veh_2"]


def test_claim_only_takes_an_available_car(backend: Backend) -> None:
    seed(backend)
    with backend.uow() as uow:
        assert uow.vehicles.set_status("veh_1", VehicleStatus.RESERVED, expected=VehicleStatus.AVAILABLE) == 1
        assert uow.vehicles.set_status("veh_1", VehicleStatus.RESERVED, expected=VehicleStatus.AVAILABLE) == 0
        assert uow.vehicles.set_status("veh_missing", VehicleStatus.RESERVED, expected=VehicleStatus.AVAILABLE) == 0
        uow.commit()
    with backend.uow() as uow:
        stored = uow.vehicles.get("veh_1")
        assert stored is not None
        assert stored.status is VehicleStatus.RESERVED


def test_set_status_checks_the_expected_status(backend: Backend) -> None:
    seed(backend)
    with backend.uow() as uow:
        assert uow.vehicles.set_status("veh_1", VehicleStatus.AVAILABLE, expected=VehicleStatus.RESERVED) == 0
        assert uow.vehicles.set_status("veh_1", VehicleStatus.SOLD) == 1
        assert uow.vehicles.set_status("veh_1", VehicleStatus.SOLD, expected=VehicleStatus.SOLD) == 1
        assert uow.vehicles.set_status("veh_missing", VehicleStatus.SOLD) == 0
        uow.commit()
    with backend.uow() as uow:
        stored = uow.vehicles.get("veh_1")
        assert stored is not None
        assert stored.status is VehicleStatus.SOLD


# -- reservations -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(ReservationStatus))
def test_reservation_round_trip(backend: Backend, status: ReservationStatus) -> None:
    seed(backend)
    original = reservation(status=status)
    add_reservation(backend, original)
    with backend.uow() as uow:
        assert uow.reservations.get("res_1") == original
        assert uow.reservations.get("res_missing") is None


def test_a_second_active_reservation_for_a_car_is_refused(backend: Backend) -> None:
    seed(backend)
    with backend.uow() as uow:
        uow.reservations.add(reservation("res_1", status=ReservationStatus.PENDING_DEPOSIT))
        with pytest.raises(VehicleUnavailable):
            uow.reservations.add(reservation("res_2", customer_id="cus_2"))
        # the transaction is still usable after the refusal, and keeps the first one
        uow.reservations.add(reservation("res_3", status=ReservationStatus.EXPIRED))
        uow.commit()
    with backend.uow() as uow:
        assert {r.id for r in uow.reservations.list()} == {"res_1", "res_3"}


def test_a_car_can_be_reserved_again_once_the_hold_ended(backend: Backend) -> None:
    seed(backend)
    add_reservation(backend, reservation("res_1"))
    with backend.uow() as uow:
        held = uow.reservations.get("res_1")
        assert held is not None
        held.expire(now=T0 + timedelta(hours=72))
        uow.reservations.save(held)
        uow.reservations.add(reservation("res_2", customer_id="cus_2", created_at=T0 + timedelta(hours=73)))
        uow.commit()
    with backend.uow() as uow:
        active = uow.reservations.active_for_vehicle("veh_1")
    assert active is not None
    assert active.id == "res_2"


def test_save_persists_every_change(backend: Backend) -> None:
    seed(backend)
    add_reservation(backend, reservation(status=ReservationStatus.PENDING_DEPOSIT))
    with backend.uow() as uow:
        held = uow.reservations.get("res_1", for_update=True)
        assert held is not None
        held.confirm(charge_id="pi_abc", now=T0 + timedelta(minutes=1))
        uow.reservations.save(held)
        uow.commit()
    with backend.uow() as uow:
        assert uow.reservations.get("res_1") == held
        assert held.expires_at == T0 + timedelta(minutes=1, hours=72)


def test_active_for_vehicle(backend: Backend) -> None:
    seed(backend, "veh_1", "veh_2", "veh_3")
    add_reservation(
        backend,
        reservation("res_1", vehicle_id="veh_1", status=ReservationStatus.EXPIRED),
        reservation("res_2", vehicle_id="veh_1", status=ReservationStatus.PENDING_DEPOSIT),
        reservation("res_3", vehicle_id="veh_2", status=ReservationStatus.CONFIRMED),
        reservation("res_4", vehicle_id="veh_3", status=ReservationStatus.CANCELLED),
    )
    with backend.uow() as uow:
        first = uow.reservations.active_for_vehicle("veh_1")
        second = uow.reservations.active_for_vehicle("veh_2")
        assert first is not None
        assert first.id == "res_2"
        assert second is not None
        assert second.id == "res_3"
        assert uow.reservations.active_for_vehicle("veh_3") is None


def test_count_active_for_customer(backend: Backend) -> None:
    seed(backend, "veh_1", "veh_2", "veh_3", "veh_4")
    add_reservation(
        backend,
        reservation("res_1", vehicle_id="veh_1", status=ReservationStatus.PENDING_DEPOSIT),
        reservation("res_2", vehicle_id="veh_2", expires_at=T0 + timedelta(hours=1)),
        reservation("res_3", vehicle_id="veh_3", expires_at=T0 + timedelta(hours=2)),
        reservation("res_4", vehicle_id="veh_4", status=ReservationStatus.EXPIRED),
        reservation("res_5", vehicle_id="veh_4", customer_id="cus_other"),
    )
    with backend.uow() as uow:
        count = uow.reservations.count_active_for_customer
        assert count("cus_1", T0) == 3
        assert count("cus_1", T0 + timedelta(hours=1)) == 2  # res_2 is overdue at exactly expires_at
        assert count("cus_1", T0 + timedelta(hours=5)) == 1
        assert count("cus_nobody", T0) == 0


def test_claim_car_counts_the_customer_and_claims_only_under_the_limit(backend: Backend) -> None:
    seed(backend, "veh_1", "veh_2", "veh_3", "veh_4", "veh_5")
    add_reservation(
        backend,
        reservation("res_1", vehicle_id="veh_1", status=ReservationStatus.PENDING_DEPOSIT),
        reservation("res_2", vehicle_id="veh_2", expires_at=T0 + timedelta(hours=1)),
    )
    with backend.uow() as uow:
        assert uow.vehicles.set_status("veh_3", VehicleStatus.RESERVED) == 1
        uow.commit()
    with backend.uow() as uow:
        claim = uow.reservations.claim_car
        # At the limit: counted, and the car is left as it is.
        assert claim("veh_4", customer_id="cus_1", now=T0, limit=2) == CarClaim(2, claimed=False, car_exists=True)
        car = uow.vehicles.get("veh_4")
        assert car is not None and car.status is VehicleStatus.AVAILABLE
        # An overdue hold no longer counts: under the limit, the car is claimed.
        assert claim("veh_4", customer_id="cus_1", now=T0 + timedelta(hours=1), limit=2) == CarClaim(
            1, claimed=True, car_exists=True
        )
        car = uow.vehicles.get("veh_4")
        assert car is not None and car.status is VehicleStatus.RESERVED
        # Taken already, or no such car: counted, nothing claimed.
        assert claim("veh_3", customer_id="cus_2", now=T0, limit=2) == CarClaim(0, claimed=False, car_exists=True)
        assert claim("veh_4", customer_id="cus_2", now=T0, limit=2) == CarClaim(0, claimed=False, car_exists=True)
        assert claim("veh_missing", customer_id="cus_2", now=T0, limit=2) == CarClaim(
            0, claimed=False, car_exists=False
        )
        assert claim("veh_missing", customer_id="cus_2", now=T0, limit=0) == CarClaim(
            0, claimed=False, car_exists=False
        )
        assert claim("veh_5", customer_id="cus_2", now=T0, limit=0) == CarClaim(0, claimed=False, car_exists=True)
        uow.commit()
    with backend.uow() as uow:
        statuses = {v.id: v.status for v in uow.vehicles.list()}
    assert statuses["veh_4"] is VehicleStatus.RESERVED and statuses["veh_5"] is VehicleStatus.AVAILABLE


def _new_hold(reservation_id: str, vehicle_id: str, customer_id: str) -> tuple[Reservation, Payment]:
    """A hold as the reservation use case makes it (its VehicleReservationInitiated pending)."""
    hold = Reservation.start(
        id=reservation_id, vehicle_id=vehicle_id, customer_id=customer_id, deposit=Money(10000), hold_hours=72, now=T0
    )
    deposit = attrs.evolve(
        payment(f"pay_{reservation_id}", key=hold.deposit_idempotency_key, reservation_id=reservation_id),
        status=PaymentStatus.PENDING,
        gateway_ref=None,
    )
    return hold, deposit


def test_claim_car_with_a_hold_adds_it_only_when_the_car_is_claimed(backend: Backend) -> None:
    """``claim_car(hold=…)``: claimed, the hold, its deposit intent and their event are written
    (on PostgreSQL by the claim's own statement) and the commit reports the event once; not
    claimed — the car taken, the limit reached — nothing of them is written, the event stays
    pending on the hold, and the same hold can still be added the usual way."""
    seed(backend, "veh_1", "veh_2")
    won, lost, capped = (
        _new_hold("res_w", "veh_1", "cus_1"),
        _new_hold("res_l", "veh_1", "cus_2"),
        _new_hold("res_c", "veh_2", "cus_1"),
    )
    with backend.uow() as uow:
        claim = uow.reservations.claim_car("veh_1", customer_id="cus_1", now=T0, limit=2, hold=won)
        assert attrs.evolve(claim, hold_id_taken=None) == CarClaim(0, claimed=True, car_exists=True, hold_made=True)
        assert claim.hold_id_taken in (None, False)  # told on PostgreSQL, by the same statement
        uow.commit()
        assert [e.name for e in uow.committed_events] == ["VehicleReservationInitiated"]
    assert won[0].pending_events == []
    with backend.uow() as uow:
        taken = uow.reservations.claim_car("veh_1", customer_id="cus_2", now=T0, limit=2, hold=lost)
        assert attrs.evolve(taken, hold_id_taken=None) == CarClaim(0, claimed=False, car_exists=True)
        capped_claim = uow.reservations.claim_car("veh_2", customer_id="cus_1", now=T0, limit=1, hold=capped)
        assert attrs.evolve(capped_claim, hold_id_taken=None) == CarClaim(1, claimed=False, car_exists=True)
        # The same hold's id again (a retry of the first): taken, where the adapter tells.
        retried = uow.reservations.claim_car(
            "veh_1", customer_id="cus_1", now=T0, limit=2, hold=_new_hold("res_w", "veh_1", "cus_1")
        )
        assert (retried.claimed, retried.hold_made, retried.hold_id_taken in (None, True)) == (False, False, True)
        assert taken.hold_id_taken in (None, False)
        uow.commit()
        assert uow.committed_events == ()
    assert [e.name for e in lost[0].pending_events] == ["VehicleReservationInitiated"]
    with backend.uow() as uow:
        assert [r.id for r in uow.reservations.list(customer_id="cus_1")] == ["res_w"]
        assert uow.reservations.list(customer_id="cus_2") == []
        assert uow.ledger.get_payment(idempotency_key=won[1].idempotency_key) == won[1]
        assert uow.ledger.get_payment(idempotency_key=lost[1].idempotency_key) is None
        assert [e.name for e in uow.outbox.for_aggregate("res_w")] == ["VehicleReservationInitiated"]
        assert uow.outbox.for_aggregate("res_l") == []
        cars = {v.id: v.status for v in uow.vehicles.list()}
    assert cars == {"veh_1": VehicleStatus.RESERVED, "veh_2": VehicleStatus.AVAILABLE}


def test_claim_car_with_a_hold_whose_id_exists_writes_nothing(backend: Backend) -> None:
    """A hold whose id is taken (a keyed retry whose first hold ended and freed the car): the
    claim and the hold fail together — the car stays available — with the Conflict ``add``
    gives."""
    seed(backend, "veh_1")
    add_reservation(backend, reservation("res_1", vehicle_id="veh_1", status=ReservationStatus.FAILED))
    again = _new_hold("res_1", "veh_1", "cus_1")
    with backend.uow() as uow:

        def claim_and_commit() -> None:
            uow.reservations.claim_car("veh_1", customer_id="cus_1", now=T0, limit=2, hold=again)
            uow.commit()

        with pytest.raises(Conflict):
            claim_and_commit()
    with backend.uow() as uow:
        car = uow.vehicles.get("veh_1")
        assert car is not None and car.status is VehicleStatus.AVAILABLE
        assert uow.ledger.get_payment(idempotency_key=again[1].idempotency_key) is None


def test_claim_due_for_expiry(backend: Backend) -> None:
    seed(backend, "veh_1", "veh_2", "veh_3", "veh_4")
    add_reservation(
        backend,
        reservation("res_b", vehicle_id="veh_1", expires_at=T0 + timedelta(hours=2)),
        reservation("res_a", vehicle_id="veh_2", expires_at=T0 + timedelta(hours=1)),
        reservation("res_c", vehicle_id="veh_3", expires_at=T0 + timedelta(hours=9)),
        reservation("res_d", vehicle_id="veh_4", status=ReservationStatus.PENDING_DEPOSIT),
    )
    with backend.uow() as uow:
        due = uow.reservations.claim_due_for_expiry(T0 + timedelta(hours=2), 10)
        assert [r.id for r, _ in due] == ["res_a", "res_b"]
        assert [r.id for r, _ in uow.reservations.claim_due_for_expiry(T0 + timedelta(hours=9), 1)] == ["res_a"]
        assert uow.reservations.claim_due_for_expiry(T0, 10) == []


def test_claim_due_for_expiry_with_deposits(backend: Backend) -> None:
    """Each due hold comes with its deposit (the payment keyed ``<reservation id>:deposit``, not
    another payment of the reservation), or None; the deposit is then saved like one read by the
    ledger of the same unit of work (its conditional update sees what it was read with)."""
    seed(backend, "veh_1", "veh_2", "veh_3")
    add_reservation(
        backend,
        reservation("res_a", vehicle_id="veh_1", expires_at=T0 + timedelta(hours=1)),
        reservation("res_b", vehicle_id="veh_2", expires_at=T0 + timedelta(hours=2)),
        reservation("res_c", vehicle_id="veh_3", expires_at=T0 + timedelta(hours=9)),
    )
    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_other", key="res_a:other", reservation_id="res_a"))
        uow.ledger.add_payment(payment("pay_a", key="res_a:deposit", reservation_id="res_a"))
        uow.ledger.add_payment(payment("pay_c", key="res_c:deposit", reservation_id="res_c"))
        uow.commit()
    with backend.uow() as uow:
        due = uow.reservations.claim_due_for_expiry(T0 + timedelta(hours=2), 10)
        assert [(r.id, p.id if p else None) for r, p in due] == [("res_a", "pay_a"), ("res_b", None)]
        deposit = due[0][1]
        assert deposit is not None and deposit == payment("pay_a", key="res_a:deposit", reservation_id="res_a")
        deposit.refunded = Money(10000)
        uow.ledger.save_payment(deposit)
        uow.commit()
    with backend.uow() as uow:
        stored = uow.ledger.get_payment("pay_a")
        assert stored is not None and stored.refunded == Money(10000)
        assert uow.reservations.claim_due_for_expiry(T0, 10) == []


def test_claim_stale_pending(backend: Backend) -> None:
    seed(backend, "veh_1", "veh_2", "veh_3")
    add_reservation(
        backend,
        reservation("res_2", vehicle_id="veh_1", status=ReservationStatus.PENDING_DEPOSIT, created_at=T0),
        reservation(
            "res_1", vehicle_id="veh_2", status=ReservationStatus.PENDING_DEPOSIT, created_at=T0 - timedelta(minutes=1)
        ),
        reservation("res_3", vehicle_id="veh_3", status=ReservationStatus.CONFIRMED, created_at=T0 - timedelta(days=1)),
    )
    with backend.uow() as uow:
        stale = uow.reservations.claim_stale_pending(T0 + timedelta(seconds=1), 10)
        assert [r.id for r in stale] == ["res_1", "res_2"]
        assert [r.id for r in uow.reservations.claim_stale_pending(T0, 10)] == ["res_1"]
        assert [r.id for r in uow.reservations.claim_stale_pending(T0 + timedelta(hours=1), 1)] == ["res_1"]


def test_reservation_list_filters_newest_first_and_pages(backend: Backend) -> None:
    seed(backend, "veh_1", "veh_2", "veh_3")
    add_reservation(
        backend,
        reservation("res_1", vehicle_id="veh_1", created_at=T0, status=ReservationStatus.EXPIRED),
        reservation("res_2", vehicle_id="veh_2", created_at=T0 + timedelta(minutes=1)),
        reservation("res_3", vehicle_id="veh_3", created_at=T0 + timedelta(minutes=2), customer_id="cus_2"),
    )
    with backend.uow() as uow:
        listed = uow.reservations.list
        assert [r.id for r in listed()] == ["res_3", "res_2", "res_1"]
        assert [r.id for r in listed(customer_id="cus_1")] == ["res_2", "res_1"]
        assert [r.id for r in listed(status=ReservationStatus.EXPIRED)] == ["res_1"]
        assert [r.id for r in listed(customer_id="cus_2", status=ReservationStatus.EXPIRED)] == []
        assert [r.id for r in listed(limit=1, offset=1)] == ["res_2"]


# -- orders -----------------------------------------------------------------------------------


def test_full_order_round_trip(backend: Backend) -> None:
    seed(backend)
    add_order_with_reservation(backend, 1)
    with backend.uow() as uow:
        stored = uow.orders.get("ord_1")
        assert uow.orders.get("ord_missing") is None
    expected = full_order("ord_1", number="CLT-2025-10001", reservation_id="res_1")
    assert stored == expected
    assert stored is not None
    assert stored.payment.apr_percent is not None
    assert str(stored.payment.apr_percent) == "5.2170"
    assert [str(line.rate) for line in stored.pricing.tax.lines] == ["0.05", "0.09975"]
    if backend.is_sql:  # the database hands every time back in UTC (same instants)
        assert all(d.created_at.utcoffset() == timedelta(0) for d in stored.documents)


def test_adding_an_order_twice_is_a_conflict(backend: Backend) -> None:
    seed(backend)
    add_order_with_reservation(backend, 1)
    with pytest.raises(Conflict), backend.uow() as uow:
        uow.orders.add(full_order("ord_1", number="CLT-2025-99999", reservation_id="res_1"))


def test_save_bumps_the_version_and_refuses_a_stale_copy(backend: Backend) -> None:
    seed(backend)
    add_order_with_reservation(backend, 1)
    with backend.uow() as uow:
        first = uow.orders.get("ord_1", for_update=True)
    with backend.uow() as uow:
        second = uow.orders.get("ord_1")
        assert first is not None
        assert second is not None
        second.closed_reason = "second writer"
        uow.orders.save(second)
        uow.commit()
    assert second.version == 4
    with backend.uow() as uow:
        first.closed_reason = "first writer"
        with pytest.raises(Conflict):
            uow.orders.save(first)
    assert first.version == 3  # unchanged by the refused save
    with backend.uow() as uow:
        stored = uow.orders.get("ord_1")
    assert stored is not None
    assert (stored.closed_reason, stored.version) == ("second writer", 4)


def test_get_by_number(backend: Backend) -> None:
    seed(backend)
    add_order_with_reservation(backend, 7)
    with backend.uow() as uow:
        found = uow.orders.get_by_number("CLT-2025-10007")
        assert found is not None
        assert found.id == "ord_7"
        assert uow.orders.get_by_number("CLT-2025-00000") is None


def test_next_number_counts_per_year_from_10001(backend: Backend) -> None:
    with backend.uow() as uow:
        assert uow.orders.next_number(2025) == 10001
        assert uow.orders.next_number(2025) == 10002
        assert uow.orders.next_number(2026) == 10001
        uow.commit()
    with backend.uow() as uow:
        assert uow.orders.next_number(2025) == 10003
        # rolled back: the number is given back
    with backend.uow() as uow:
        assert uow.orders.next_number(2025) == 10003


def test_order_for_view_is_the_order_its_car_its_advisor_and_its_events(backend: Backend) -> None:
    seed(backend, "veh_1")
    order_id = add_order_with_reservation(backend, 1)
    with backend.uow() as uow:
        found = uow.orders.get_for_view(order_id)
        assert found is not None
        assert found.order == uow.orders.get(order_id)
        assert (found.vehicle, found.advisor) == (vehicle("veh_1"), advisor("adv_1"))
        assert found.events == ()  # none stored yet: an empty timeline, not an error
        assert uow.orders.get_for_view("ord_missing") is None
    # Events of the order (and only its own), in the order they were stored, with their
    # timestamps back as aware UTC datetimes and their payloads as they were written.
    later = T0 + timedelta(minutes=5)
    events = [
        StoredEvent(
            id="evt_b", aggregate_id=order_id, name="OrderPlaced", payload={"n": 1, "x": [1, "a"]}, occurred_at=T0
        ),
        StoredEvent(id="evt_o", aggregate_id="ord_other", name="OrderPlaced", payload={}, occurred_at=T0),
        StoredEvent(id="evt_a", aggregate_id=order_id, name="AdvisorAssigned", payload={}, occurred_at=later),
    ]
    with backend.uow() as uow:
        for event in events:
            uow.outbox.add(event)
        uow.commit()
    with backend.uow() as uow:
        uow.outbox.mark_published(["evt_b"], later)
        uow.commit()
    with backend.uow() as uow:
        found = uow.orders.get_for_view(order_id)
        assert found is not None
        assert found.events == (attrs.evolve(events[0], published_at=later), events[2])
        assert found.events == tuple(uow.outbox.for_aggregate(order_id))
        assert all(e.occurred_at.tzinfo is UTC for e in found.events)


def test_orders_awaiting_signature_at_a_provider_oldest_first(backend: Backend) -> None:
    seed(backend, "veh_1")

    def waiting(n: int, *, provider: str = "dropbox_sign", envelope: str = "sent", status: OrderStatus) -> None:
        order_id = add_order_with_reservation(backend, n, status=status, created_at=T0 + timedelta(hours=10 - n))
        with backend.uow() as uow:
            order = uow.orders.get(order_id)
            assert order is not None and order.envelope is not None
            order.envelope = attrs.evolve(order.envelope, id=f"env_{n}", provider=provider, status=envelope)
            uow.orders.save(order)
            uow.commit()

    waiting(1, status=OrderStatus.PENDING_DOCUMENTS)
    waiting(2, status=OrderStatus.PENDING_DOCUMENTS)
    waiting(3, status=OrderStatus.PENDING_DOCUMENTS, envelope="declined")
    waiting(4, status=OrderStatus.PENDING_DOCUMENTS, provider="builtin")
    waiting(5, status=OrderStatus.PENDING_INSURANCE)
    with backend.uow() as uow:
        assert [o.id for o in uow.orders.awaiting_signature("dropbox_sign", 10)] == ["ord_2", "ord_1"]
        assert [o.id for o in uow.orders.awaiting_signature("dropbox_sign", 1)] == ["ord_2"]
        assert [o.id for o in uow.orders.awaiting_signature("builtin", 10)] == ["ord_4"]


def test_order_list_filters_newest_first_and_pages(backend: Backend) -> None:
    seed(backend, advisors=("adv_1", "adv_2"))
    add_order_with_reservation(backend, 1, created_at=T0)
    add_order_with_reservation(backend, 2, created_at=T0 + timedelta(hours=1), advisor_id="adv_2")
    add_order_with_reservation(
        backend, 3, created_at=T0 + timedelta(hours=2), customer_id="cus_2", status=OrderStatus.PENDING_DOCUMENTS
    )
    with backend.uow() as uow:
        listed = uow.orders.list
        assert [o.id for o in listed()] == ["ord_3", "ord_2", "ord_1"]
        assert [o.id for o in listed(customer_id="cus_1")] == ["ord_2", "ord_1"]
        assert [o.id for o in listed(status=OrderStatus.PENDING_DOCUMENTS)] == ["ord_3"]
        assert [o.id for o in listed(advisor_id="adv_2")] == ["ord_2"]
        assert [o.id for o in listed(customer_id="cus_1", advisor_id="adv_1")] == ["ord_1"]
        assert [o.id for o in listed(limit=2, offset=1)] == ["ord_2", "ord_1"]


def _least_loaded(backend: Backend) -> object:
    """The advisor :meth:`get_for_checkout` picks for a new order (read with reservation res_0)."""
    with backend.uow() as uow:
        found = uow.reservations.get_for_checkout("res_0")
        assert found is not None
        return found.advisor


def test_least_loaded_advisor_counts_open_orders_only(backend: Backend) -> None:
    seed(backend, advisors=("adv_1", "adv_2", "adv_3"))
    add_reservation(backend, reservation("res_0", vehicle_id="veh_1"))
    add_order_with_reservation(backend, 1, status=OrderStatus.PENDING_DOCUMENTS)
    add_order_with_reservation(backend, 2, status=OrderStatus.DELIVERED)
    add_order_with_reservation(backend, 3, status=OrderStatus.IN_TRANSIT, advisor_id="adv_2")
    add_order_with_reservation(backend, 4, status=OrderStatus.COMPLETED, advisor_id="adv_2")
    add_order_with_reservation(backend, 5, status=OrderStatus.CANCELLED, advisor_id="adv_3")
    # open orders: adv_1 2, adv_2 1, adv_3 0 (its one is cancelled)
    assert _least_loaded(backend) == advisor("adv_3")
    with backend.uow() as uow:
        uow.advisors.upsert(advisor("adv_3", active=False))
        uow.commit()
    assert _least_loaded(backend) == advisor("adv_2")
    add_order_with_reservation(backend, 6, status=OrderStatus.PENDING_INSURANCE, advisor_id="adv_2")
    assert _least_loaded(backend) == advisor("adv_1")  # a tie at 2: the lowest id
    with backend.uow() as uow:
        for advisor_id in ("adv_1", "adv_2"):
            uow.advisors.upsert(advisor(advisor_id, active=False))
        uow.commit()
    assert _least_loaded(backend) is None


def test_reservation_with_what_the_checkout_reads(backend: Backend) -> None:
    seed(backend, "veh_1")
    add_reservation(backend, reservation("res_1", vehicle_id="veh_1"))
    with backend.uow() as uow:
        uow.trade_ins.upsert(trade_in_offer("trade_1"))
        uow.financing.upsert(financing("fin_1"))
        uow.commit()
    with backend.uow() as uow:
        found = uow.reservations.get_for_checkout("res_1", trade_in_id="trade_1", financing_application_id="fin_1")
        assert found is not None
        assert found.reservation == uow.reservations.get("res_1")
        assert found.vehicle == vehicle("veh_1")
        assert found.trade_in == trade_in_offer("trade_1")
        assert found.financing == financing("fin_1")
        assert found.advisor == advisor("adv_1")
        bare = uow.reservations.get_for_checkout("res_1")
        assert bare is not None and bare.trade_in is None and bare.financing is None
        missing = uow.reservations.get_for_checkout("res_1", trade_in_id="trade_x", financing_application_id="fin_x")
        assert missing is not None and missing.trade_in is None and missing.financing is None
        held = found.reservation
        held.cancel(now=T0 + timedelta(minutes=1))
        uow.reservations.save(held)  # read this way, it can be saved like any other
        uow.commit()
        assert uow.reservations.get_for_checkout("res_missing") is None
    with backend.uow() as uow:
        again = uow.reservations.get("res_1")
        assert again is not None and again.status is ReservationStatus.CANCELLED


def test_orders_awaiting_their_agreement_oldest_first_with_their_parties(backend: Backend) -> None:
    seed(backend, "veh_1")
    waiting: dict[str, object] = {"status": OrderStatus.PENDING_DOCUMENTS, "documents": []}
    add_order_with_reservation(backend, 1, created_at=T0 + timedelta(minutes=2), **waiting)
    add_order_with_reservation(backend, 2, created_at=T0 + timedelta(minutes=1), **waiting)
    add_order_with_reservation(backend, 3, status=OrderStatus.CANCELLED, documents=[])
    add_order_with_reservation(backend, 4, status=OrderStatus.PENDING_DOCUMENTS)  # has its agreement
    with backend.uow() as uow:
        claimed = uow.orders.claim_awaiting_agreement(10)
        assert [o.id for o, _car, _adv in claimed] == ["ord_2", "ord_1"]
        assert all((car, adv) == (vehicle("veh_1"), advisor("adv_1")) for _o, car, adv in claimed)
        assert [o.id for o, _car, _adv in uow.orders.claim_awaiting_agreement(1)] == ["ord_2"]
        skipping = uow.orders.claim_awaiting_agreement(10, skip=frozenset({"ord_2", "ord_9"}))
        assert [o.id for o, _car, _adv in skipping] == ["ord_1"]


def test_claim_due_for_completion(backend: Backend) -> None:
    seed(backend)
    add_order_with_reservation(backend, 2, delivered_at=T0)
    add_order_with_reservation(backend, 1, delivered_at=T0 + timedelta(days=1))
    add_order_with_reservation(backend, 3, delivered_at=T0 - timedelta(days=9), status=OrderStatus.COMPLETED)
    with backend.uow() as uow:
        due = uow.orders.claim_due_for_completion(T0 + timedelta(days=1), 10)
        assert [o.id for o in due] == ["ord_1", "ord_2"]
        assert [o.id for o in uow.orders.claim_due_for_completion(T0, 10)] == ["ord_2"]
        assert [o.id for o in uow.orders.claim_due_for_completion(T0 + timedelta(days=1), 1)] == ["ord_1"]


# -- ledger -----------------------------------------------------------------------------------


def _ledger_world(backend: Backend) -> None:
    seed(backend)
    add_order_with_reservation(backend, 1)


def test_payment_round_trip_and_lookups(backend: Backend) -> None:
    _ledger_world(backend)
    deposit = payment("pay_1", key="res_1:deposit", reservation_id="res_1")
    card = payment(
        "pay_2", reservation_id=None, order_id="ord_1", created_at=T0 + timedelta(hours=1), gateway_ref="pi_card"
    )
    with backend.uow() as uow:
        uow.ledger.add_payment(deposit)
        uow.ledger.add_payment(card)
        uow.commit()
    with backend.uow() as uow:
        ledger = uow.ledger
        assert ledger.get_payment("pay_1") == deposit
        assert ledger.get_payment("pay_nope") is None
        assert ledger.get_payment(idempotency_key="res_1:deposit") == deposit
        assert ledger.get_payment(idempotency_key="nope") is None
        assert ledger.get_payment(gateway_ref="pi_card") == card
        assert ledger.get_payment(gateway_ref="pi_nope") is None
        assert ledger.payments_for(reservation_id="res_1") == [deposit]
        assert ledger.payments_for(order_id="ord_1") == [card]
        assert ledger.payments_for(order_id="ord_1", reservation_id="res_1") == [deposit, card]
        assert ledger.payments_for() == []


def test_the_checkout_read_brings_the_deposit(backend: Backend) -> None:
    """``get_for_checkout`` answers the reservation's deposit (by its key; None without one),
    remembered as read: placing an order saves it, linked to the order, like any payment read."""
    _ledger_world(backend)
    add_reservation(
        backend,
        reservation("res_2", vehicle_id="veh_1", status=ReservationStatus.EXPIRED),
        reservation("res_3", vehicle_id="veh_1", status=ReservationStatus.CANCELLED),
    )
    later = T0 + timedelta(hours=3)
    deposit = payment("pay_1", key="res_1:deposit", reservation_id="res_1")
    with backend.uow() as uow:
        uow.ledger.add_payment(deposit)
        uow.ledger.add_payment(
            payment("pay_2", key="res_2:deposit", reservation_id="res_2", status=PaymentStatus.FAILED)
        )
        uow.commit()
    with backend.uow() as uow:
        found = [uow.reservations.get_for_checkout(f"res_{n}") for n in (1, 2, 3)]
        deposits = [parts.deposit if parts is not None else "no reservation" for parts in found]
        assert deposits[0] == deposit
        assert isinstance(deposits[1], Payment) and deposits[1].status is PaymentStatus.FAILED
        assert deposits[2] is None
        linked = deposits[0]
        assert isinstance(linked, Payment)
        linked.order_id, linked.updated_at = "ord_1", later
        uow.ledger.save_payment(linked)
        uow.commit()
    with backend.uow() as uow:
        assert uow.ledger.get_payment("pay_1") == linked


def test_payment_idempotency_key_is_unique(backend: Backend) -> None:
    _ledger_world(backend)
    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_1", key="same"))
        with pytest.raises(Conflict):
            uow.ledger.add_payment(payment("pay_2", key="same"))
        uow.commit()
    with backend.uow() as uow:
        assert uow.ledger.get_payment("pay_1") is not None
        assert uow.ledger.get_payment("pay_2") is None


def test_save_payment_and_pending_payments(backend: Backend) -> None:
    _ledger_world(backend)
    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_2", status=PaymentStatus.PENDING, created_at=T0 + timedelta(minutes=1)))
        uow.ledger.add_payment(payment("pay_1", status=PaymentStatus.PENDING, created_at=T0))
        uow.ledger.add_payment(payment("pay_3", status=PaymentStatus.SUCCEEDED, created_at=T0))
        uow.commit()
    with backend.uow() as uow:

        def pending(older_than: datetime, limit: int) -> list[str]:
            return [
                p.id
                for p in uow.ledger.payments_for(status=PaymentStatus.PENDING, created_before=older_than, limit=limit)
            ]

        assert pending(T0 + timedelta(hours=1), 10) == ["pay_1", "pay_2"]
        assert pending(T0 + timedelta(seconds=30), 10) == ["pay_1"]
        assert pending(T0 + timedelta(hours=1), 1) == ["pay_1"]
        first = uow.ledger.get_payment("pay_1")
        assert first is not None
        first.status = PaymentStatus.FAILED
        first.failure_code = "card_declined"
        first.refunded = Money(0)
        first.order_id = "ord_1"
        uow.ledger.save_payment(first)
        uow.commit()
    with backend.uow() as uow:
        assert uow.ledger.get_payment("pay_1") == first
        assert [
            p.id
            for p in uow.ledger.payments_for(
                status=PaymentStatus.PENDING, created_before=T0 + timedelta(hours=1), limit=10
            )
        ] == ["pay_2"]


def test_payments_between(backend: Backend) -> None:
    _ledger_world(backend)
    with backend.uow() as uow:
        for i in range(4):
            uow.ledger.add_payment(payment(f"pay_{i}", created_at=T0 + timedelta(hours=i)))
        uow.commit()
    with backend.uow() as uow:
        found = uow.ledger.payments_for(created_since=T0 + timedelta(hours=1), created_before=T0 + timedelta(hours=3))
    assert [p.id for p in found] == ["pay_1", "pay_2"]


def test_refunds(backend: Backend) -> None:
    _ledger_world(backend)
    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_1"))
        uow.ledger.add_refunds([refund("rfd_2", created_at=T0 + timedelta(hours=1), status=RefundStatus.PENDING)])
        uow.ledger.add_refunds([refund("rfd_1", created_at=T0, status=RefundStatus.PENDING)])
        uow.ledger.add_refunds([refund("rfd_3", created_at=T0 + timedelta(hours=2))])
        uow.commit()
    with backend.uow() as uow:
        ledger = uow.ledger
        assert ledger.get_refund("rfd_3") == refund("rfd_3", created_at=T0 + timedelta(hours=2))
        assert ledger.get_refund("rfd_nope") is None
        assert [r.id for r in ledger.refunds_for("pay_1")] == ["rfd_1", "rfd_2", "rfd_3"]
        assert ledger.refunds_for("pay_nope") == []
        by_ref = ledger.get_refund(gateway_ref="re_rfd_2")
        assert by_ref is not None
        assert by_ref.id == "rfd_2"
        assert ledger.get_refund(gateway_ref="re_nope") is None
        assert [r.id for r in ledger.refunds_for(status=RefundStatus.PENDING, limit=10)] == ["rfd_1", "rfd_2"]
        assert [r.id for r in ledger.refunds_for(status=RefundStatus.PENDING, limit=1)] == ["rfd_1"]
        between = ledger.refunds_for(created_since=T0 + timedelta(minutes=1), created_before=T0 + timedelta(hours=3))
        assert [r.id for r in between] == ["rfd_2", "rfd_3"]
        settled = ledger.get_refund("rfd_1")
        assert settled is not None
        settled.status = RefundStatus.FAILED
        settled.failure_code = "expired_or_canceled_card"
        assert ledger.save_refunds([settled]) == 1
        uow.commit()
    with backend.uow() as uow:
        assert uow.ledger.get_refund("rfd_1") == settled
        assert [r.id for r in uow.ledger.refunds_for(status=RefundStatus.PENDING, limit=10)] == ["rfd_2"]


# -- reference records ------------------------------------------------------------------------


def _active_advisors(uow: UnitOfWork) -> list[str]:
    """The advisors of this test who take new orders (the port has no list of them)."""
    found = (uow.advisors.get(a) for a in ("adv_0", "adv_1", "adv_2"))
    return [a.id for a in found if a is not None and a.active]


def test_directories_round_trip_and_upsert_replaces(backend: Backend) -> None:
    with backend.uow() as uow:
        uow.customers.upsert(customer())
        uow.advisors.upsert(advisor("adv_2"))
        uow.advisors.upsert(advisor("adv_1"))
        uow.advisors.upsert(advisor("adv_0", active=False))
        uow.trade_ins.upsert(trade_in_offer())
        uow.trade_ins.upsert(attrs.evolve(trade_in_offer("trade_2"), expires_at=None, description=""))
        uow.financing.upsert(financing())
        uow.financing.upsert(attrs.evolve(financing("app_2"), max_amount=None))
        uow.commit()
    with backend.uow() as uow:
        assert uow.customers.get("cus_1") == customer()
        assert uow.customers.get("cus_nope") is None
        assert uow.advisors.get("adv_0") == advisor("adv_0", active=False)
        assert uow.advisors.get("adv_nope") is None
        assert _active_advisors(uow) == ["adv_1", "adv_2"]
        assert uow.trade_ins.get("trade_1") == trade_in_offer()
        assert uow.trade_ins.get("trade_2") == attrs.evolve(trade_in_offer("trade_2"), expires_at=None, description="")
        assert uow.trade_ins.get("trade_nope") is None
        stored = uow.financing.get("app_1")
        assert stored == financing()
        assert stored is not None
        assert str(stored.apr_percent) == "5.2170"
        assert uow.financing.get("app_2") == attrs.evolve(financing("app_2"), max_amount=None)
        assert uow.financing.get("app_nope") is None
        uow.advisors.upsert(advisor("adv_1", active=False))
        uow.customers.upsert(attrs.evolve(customer(), contact=attrs.evolve(customer().contact, phone="1-514-555-0100")))
        uow.commit()
    with backend.uow() as uow:
        assert _active_advisors(uow) == ["adv_2"]
        changed = uow.customers.get("cus_1")
        assert changed is not None
        assert changed.contact.phone == "1-514-555-0100"


# -- outbox -----------------------------------------------------------------------------------


def _event(n: int, aggregate_id: str = "res_1") -> StoredEvent:
    return StoredEvent(
        id=f"evt_{n}",
        aggregate_id=aggregate_id,
        name="ReservationExpired",
        payload={"reservationId": aggregate_id, "vehicleId": "veh_1", "nested": {"n": n, "list": [1, "ü"]}},
        occurred_at=T0 + timedelta(seconds=n),
    )


def test_outbox_claim_and_mark_published(backend: Backend) -> None:
    with backend.uow() as uow:
        for n in (1, 2, 3):
            uow.outbox.add(_event(n, "res_a" if n != 2 else "res_b"))
        uow.commit()
    with backend.uow() as uow:
        assert [e.id for e in uow.outbox.for_aggregate("res_a")] == ["evt_1", "evt_3"]
        assert uow.outbox.for_aggregate("res_a")[0] == _event(1, "res_a")
        claimed = uow.outbox.claim_unpublished(2)
        assert [e.id for e in claimed] == ["evt_1", "evt_2"]
        uow.outbox.mark_published([e.id for e in claimed], T0 + timedelta(minutes=5))
        uow.outbox.mark_published([], T0)
        uow.commit()
    with backend.uow() as uow:
        assert [e.id for e in uow.outbox.claim_unpublished(10)] == ["evt_3"]
        assert uow.outbox.for_aggregate("res_b")[0].published_at == T0 + timedelta(minutes=5)


def test_outbox_reads_see_events_added_in_the_same_transaction(backend: Backend) -> None:
    with backend.uow() as uow:
        uow.outbox.add(_event(1))
        assert [e.id for e in uow.outbox.for_aggregate("res_1")] == ["evt_1"]
        uow.outbox.add(_event(2))
        assert [e.id for e in uow.outbox.claim_unpublished(10)] == ["evt_1", "evt_2"]
        uow.commit()
    with backend.uow() as uow:
        assert len(uow.outbox.for_aggregate("res_1")) == 2


# -- guarantees only the database gives -------------------------------------------------------


def _require_sql(backend: Backend) -> None:
    if not backend.is_sql:
        pytest.skip("a database constraint: the memory adapter does not promise it")


def test_order_numbers_are_unique(backend: Backend) -> None:
    _require_sql(backend)
    seed(backend)
    add_order_with_reservation(backend, 1)
    with backend.uow() as uow:
        uow.reservations.add(reservation("res_2", status=ReservationStatus.CONVERTED))
        with pytest.raises(Conflict):
            uow.orders.add(full_order("ord_2", number="CLT-2025-10001", reservation_id="res_2"))


def test_one_order_per_reservation(backend: Backend) -> None:
    _require_sql(backend)
    seed(backend)
    add_order_with_reservation(backend, 1)
    with pytest.raises(Conflict), backend.uow() as uow:
        uow.orders.add(full_order("ord_2", number="CLT-2025-10002", reservation_id="res_1"))


def test_disputes_one_per_gateway_dispute_closed_once(backend: Backend) -> None:
    _ledger_world(backend)

    def dispute(dispute_id: str, ref: str, opened: int) -> Dispute:
        return Dispute(
            id=dispute_id,
            payment_id="pay_1",
            gateway_ref=ref,
            amount=Money(10000),
            reason="fraudulent",
            status=DisputeStatus.OPEN,
            opened_at=T0 + timedelta(hours=opened),
        )

    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_1"))
        assert uow.ledger.add_dispute(dispute("dsp_2", "dp_b", 2))
        assert uow.ledger.add_dispute(dispute("dsp_1", "dp_a", 1))
        assert not uow.ledger.add_dispute(dispute("dsp_3", "dp_a", 3))  # the same gateway dispute
        uow.commit()
    with backend.uow() as uow:
        ledger = uow.ledger
        assert [d.id for d in ledger.disputes()] == ["dsp_1", "dsp_2"]
        found = next(iter(ledger.disputes(gateway_ref="dp_a")), None)
        assert found == dispute("dsp_1", "dp_a", 1)
        assert ledger.disputes(gateway_ref="dp_nope") == []
        found.close(won=False, now=T0 + timedelta(days=30))
        assert ledger.save_dispute(found, expected_status=DisputeStatus.OPEN)
        assert not ledger.save_dispute(found, expected_status=DisputeStatus.OPEN)  # closed already
        uow.commit()
    with backend.uow() as uow:
        assert [d.id for d in uow.ledger.disputes(status=DisputeStatus.OPEN)] == ["dsp_2"]
        [lost] = uow.ledger.disputes(status=DisputeStatus.LOST)
        assert (lost.id, lost.closed_at) == ("dsp_1", T0 + timedelta(days=30))
        assert [d.id for d in uow.ledger.disputes(limit=1)] == ["dsp_1"]


def test_pending_refunds_of_one_payment_method_are_filtered_before_the_limit(backend: Backend) -> None:
    _ledger_world(backend)
    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_1"))
        uow.ledger.add_payment(attrs.evolve(payment("pay_2"), method=PaymentMethod.BANK_TRANSFER))
        for n in range(3):  # older card refunds that stay pending
            uow.ledger.add_refunds([refund(f"rfd_c{n}", payment_id="pay_1", status=RefundStatus.PENDING)])
        uow.ledger.add_refunds(
            [refund("rfd_bank", payment_id="pay_2", status=RefundStatus.PENDING, created_at=T0 + timedelta(hours=1))]
        )
        uow.commit()
    with backend.uow() as uow:
        assert [r.id for r in uow.ledger.refunds_for(status=RefundStatus.PENDING, limit=3)] == [
            "rfd_c0",
            "rfd_c1",
            "rfd_c2",
        ]
        assert [
            r.id
            for r in uow.ledger.refunds_for(status=RefundStatus.PENDING, limit=1, method=PaymentMethod.BANK_TRANSFER)
        ] == ["rfd_bank"]
        assert len(uow.ledger.refunds_for(status=RefundStatus.PENDING, limit=10, method=PaymentMethod.CARD)) == 3


def test_refund_idempotency_key_is_unique(backend: Backend) -> None:
    _require_sql(backend)
    _ledger_world(backend)
    with backend.uow() as uow:
        uow.ledger.add_payment(payment("pay_1"))
        assert [r.id for r in uow.ledger.add_refunds([refund("rfd_1", key="pay_1:reservation_expired")])] == ["rfd_1"]
        assert uow.ledger.add_refunds([refund("rfd_2", key="pay_1:reservation_expired")]) == []  # key taken
        uow.commit()
    with backend.uow() as uow:
        assert [r.id for r in uow.ledger.refunds_for("pay_1")] == ["rfd_1"]


def test_foreign_keys_are_enforced(backend: Backend) -> None:
    _require_sql(backend)
    with backend.uow() as uow, pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        uow.reservations.add(reservation(vehicle_id="veh_that_does_not_exist"))


def test_saving_a_missing_row_is_a_conflict(backend: Backend) -> None:
    _require_sql(backend)
    seed(backend)
    with backend.uow() as uow:
        with pytest.raises(Conflict):
            uow.reservations.save(reservation("res_never_added"))
        with pytest.raises(Conflict):
            uow.ledger.save_payment(payment("pay_never_added"))


# -- writes sent together (UnitOfWork.together) ---------------------------------------------------


def test_writes_made_together_are_kept_with_their_events(backend: Backend) -> None:
    seed(backend)
    held = reservation("res_1", status=ReservationStatus.PENDING_DEPOSIT)
    with backend.uow() as uow, uow.together():
        uow.reservations.add(held)
        uow.ledger.add_payment(payment("pay_1", status=PaymentStatus.PENDING))
        uow.emit(ReservationCancelled(occurred_at=T0, reservation_id="res_1", vehicle_id="veh_1"))
        uow.commit()
    with backend.uow() as uow:
        assert uow.reservations.get("res_1") == held
        assert uow.ledger.get_payment("pay_1") is not None
        assert [e.name for e in uow.outbox.for_aggregate("res_1")] == ["ReservationCancelled"]


def test_a_refused_write_made_together_raises_by_the_commit_and_keeps_nothing(backend: Backend) -> None:
    seed(backend)
    add_reservation(backend, reservation("res_1"))

    def hold_a_held_car() -> None:
        with backend.uow() as uow, uow.together():
            uow.ledger.add_payment(payment("pay_2", reservation_id="res_1"))
            uow.reservations.add(reservation("res_2", customer_id="cus_2"))  # the car is held by res_1
            uow.commit()

    with pytest.raises(VehicleUnavailable):
        hold_a_held_car()
    with backend.uow() as uow:
        assert uow.ledger.get_payment("pay_2") is None
        assert uow.reservations.get("res_2") is None


def test_a_stale_save_made_together_is_a_conflict_by_the_end_of_the_block(backend: Backend) -> None:
    seed(backend)
    add_reservation(backend, reservation("res_1"))
    with backend.uow() as uow:
        stale = uow.reservations.get("res_1")
    with backend.uow() as uow:
        fresh = uow.reservations.get("res_1")
        assert fresh is not None
        fresh.cancel(now=T0 + timedelta(minutes=1))
        uow.reservations.save(fresh)
        uow.commit()
    assert stale is not None
    stale.expire(now=T0 + timedelta(hours=72))

    def save_the_stale_copy() -> None:
        with backend.uow() as uow, uow.together():
            uow.reservations.save(stale, expected_status=ReservationStatus.CONFIRMED)
            uow.ledger.add_payment(payment("pay_9", reservation_id="res_1"))

    with pytest.raises(Conflict):
        save_the_stale_copy()
    with backend.uow() as uow:
        again = uow.reservations.get("res_1")
        assert again is not None and again.status is ReservationStatus.CANCELLED
        assert uow.ledger.get_payment("pay_9") is None


def test_a_duplicate_id_made_together_is_a_conflict_naming_the_row(backend: Backend) -> None:
    _require_sql(backend)  # the memory adapter checks no primary keys (a database constraint)
    seed(backend, "veh_1", "veh_2")
    add_reservation(backend, reservation("res_1", status=ReservationStatus.EXPIRED))

    def add_the_id_again() -> None:
        with backend.uow() as uow, uow.together():
            uow.ledger.add_payment(payment("pay_3", reservation_id=None))
            uow.reservations.add(reservation("res_1", vehicle_id="veh_2"))
            uow.commit()

    with pytest.raises(Conflict, match="reservation res_1 exists"):
        add_the_id_again()


def test_writes_together_on_one_table_and_reads_in_the_block_see_what_went_before(backend: Backend) -> None:
    seed(backend)
    with backend.uow() as uow, uow.together():
        uow.reservations.add(reservation("res_1", status=ReservationStatus.EXPIRED))
        uow.reservations.add(reservation("res_2", status=ReservationStatus.CANCELLED))  # same table
        assert uow.reservations.get("res_1") is not None  # a read sends what waits first
        uow.ledger.add_payment(payment("pay_1"))
        uow.commit()
        uow.ledger.add_payment(payment("pay_2", key="second"))  # after the commit: a new transaction
        uow.commit()
    with backend.uow() as uow:
        assert {r.id for r in uow.reservations.list()} == {"res_1", "res_2"}
        assert uow.ledger.get_payment("pay_1") is not None and uow.ledger.get_payment("pay_2") is not None
