"""The reservation saga through the core's use cases, on in-memory adapters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.payments.sandbox import SandboxGateway
from adapters.system.clock import FixedClock
from checkout_core.errors import (
    NotFound,
    PaymentDeclined,
    PaymentGatewayUnavailable,
    ReservationLimitReached,
    VehicleUnavailable,
)
from checkout_core.model.payments import Refund, RefundStatus
from checkout_core.model.reservation import ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.money import Money
from checkout_core.ports.payments import RefundOutcome, RefundResult
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.recovery import open_owed_refunds
from checkout_core.usecases.refunds import record_refund_outcome, settle_pending_refunds
from checkout_core.usecases.reservations import (
    cancel_reservation,
    expire_due_reservations,
    get_reservation,
    recover_pending_deposits,
    reserve_vehicle,
)
from entrypoints.bootstrap import App

JOHN = Actor("cus_demo")
JANE = Actor("cus_jane")
ADVISOR = Actor("adv_sarah", Role.ADVISOR)


def _vehicle_status(app: App, vehicle_id: str) -> VehicleStatus:
    with app.ctx.uow() as uow:
        vehicle = uow.vehicles.get(vehicle_id)
        assert vehicle is not None
        return vehicle.status


def _events(app: App, aggregate_id: str) -> list[str]:
    with app.ctx.uow() as uow:
        return [e.name for e in uow.outbox.for_aggregate(aggregate_id)]


def test_reserve_charges_the_deposit_and_holds_the_car_72_hours(memory_app: App, clock: FixedClock) -> None:
    result = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa")
    reservation = result.reservation
    assert reservation.status is ReservationStatus.CONFIRMED
    assert reservation.deposit.cents == 10000
    assert reservation.expires_at == clock.now() + timedelta(hours=72)
    assert result.deposit is not None and result.deposit.card_last4 == "4242"
    assert _vehicle_status(memory_app, "veh_abc123") is VehicleStatus.RESERVED
    assert _events(memory_app, reservation.id) == [
        "VehicleReservationInitiated",
        "DepositPaid",
        "ReservationConfirmed",
    ]


def test_second_customer_gets_vehicle_unavailable(memory_app: App) -> None:
    reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa")
    with pytest.raises(VehicleUnavailable):
        reserve_vehicle(memory_app.ctx, JANE, vehicle_id="veh_abc123", payment_token="tok_visa")


def test_declined_deposit_releases_the_car(memory_app: App) -> None:
    with pytest.raises(PaymentDeclined) as declined:
        reserve_vehicle(
            memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_chargeDeclinedInsufficientFunds"
        )
    assert declined.value.decline_code == "insufficient_funds"
    assert _vehicle_status(memory_app, "veh_abc123") is VehicleStatus.AVAILABLE
    # and the same customer may try again with another card
    assert reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="pm_card_visa").reservation


def test_active_reservation_cap_per_customer(memory_app: App) -> None:
    reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa")
    with pytest.raises(ReservationLimitReached):
        reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_demo001", payment_token="tok_visa")
    assert _vehicle_status(memory_app, "veh_demo001") is VehicleStatus.AVAILABLE


def test_expiry_releases_the_car_and_refunds_the_deposit(memory_app: App, clock: FixedClock) -> None:
    res = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    clock.advance(timedelta(hours=71, minutes=59))
    assert expire_due_reservations(memory_app.ctx) == 0
    clock.advance(timedelta(minutes=1))
    assert expire_due_reservations(memory_app.ctx) == 1
    assert expire_due_reservations(memory_app.ctx) == 0  # exactly once
    after = get_reservation(memory_app.ctx, JOHN, res.id)
    assert after.reservation.status is ReservationStatus.EXPIRED
    assert after.deposit is not None and after.deposit.refunded.cents == 10000
    assert _vehicle_status(memory_app, "veh_abc123") is VehicleStatus.AVAILABLE
    assert "ReservationExpired" in _events(memory_app, res.id)
    assert "RefundIssued" in _events(memory_app, res.id)


def test_overdue_hold_counts_as_expired_before_any_sweep(memory_app: App, clock: FixedClock) -> None:
    first = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    clock.advance(timedelta(hours=73))
    second = reserve_vehicle(memory_app.ctx, JANE, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    assert second.status is ReservationStatus.CONFIRMED
    lapsed = get_reservation(memory_app.ctx, JOHN, first.id)
    assert lapsed.reservation.status is ReservationStatus.EXPIRED
    assert lapsed.deposit is not None and lapsed.deposit.refunded.cents == 10000


def test_cancel_refunds_and_releases(memory_app: App) -> None:
    res = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    with pytest.raises(NotFound):
        cancel_reservation(memory_app.ctx, JANE, res.id)
    after = cancel_reservation(memory_app.ctx, JOHN, res.id)
    assert after.reservation.status is ReservationStatus.CANCELLED
    assert after.deposit is not None and after.deposit.refunded.cents == 10000
    assert _vehicle_status(memory_app, "veh_abc123") is VehicleStatus.AVAILABLE


def test_other_customers_cannot_see_a_reservation(memory_app: App) -> None:
    res = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    with pytest.raises(NotFound):
        get_reservation(memory_app.ctx, JANE, res.id)
    assert get_reservation(memory_app.ctx, ADVISOR, res.id).reservation.id == res.id


@pytest.mark.parametrize("charged", [True, False])
def test_recovery_settles_a_crash_between_charge_and_commit(memory_app: App, clock: FixedClock, charged: bool) -> None:
    gateway = memory_app.ctx.gateway
    assert isinstance(gateway, SandboxGateway)
    if charged:
        gateway.fail_after_charge = 1  # the charge happens, the answer is lost
    else:
        gateway.fail_next = 1  # the call never reaches the gateway
    with pytest.raises(PaymentGatewayUnavailable):
        reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa")
    with memory_app.ctx.uow() as uow:
        (pending,) = uow.reservations.list(customer_id="cus_demo")
    assert pending.status is ReservationStatus.PENDING_DEPOSIT
    assert recover_pending_deposits(memory_app.ctx) == 0  # too fresh: the request may still be running
    clock.advance(timedelta(minutes=5))
    assert recover_pending_deposits(memory_app.ctx) == 1
    settled = get_reservation(memory_app.ctx, JOHN, pending.id).reservation
    if charged:
        assert settled.status is ReservationStatus.CONFIRMED
        assert _vehicle_status(memory_app, "veh_abc123") is VehicleStatus.RESERVED
    else:
        assert settled.status is ReservationStatus.FAILED
        assert _vehicle_status(memory_app, "veh_abc123") is VehicleStatus.AVAILABLE
    assert recover_pending_deposits(memory_app.ctx) == 0


def _two_due(app: App, clock: FixedClock) -> list[str]:
    ids = [
        reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation.id,
        reserve_vehicle(app.ctx, JANE, vehicle_id="veh_demo001", payment_token="tok_visa").reservation.id,
    ]
    clock.advance(timedelta(hours=72))
    return ids


def _refunds(app: App, reservation_id: str) -> list[Refund]:
    with app.ctx.uow() as uow:
        return [r for p in uow.ledger.payments_for(reservation_id=reservation_id) for r in uow.ledger.refunds_for(p.id)]


def test_a_sweep_refunds_each_deposit_once_and_a_replay_adds_nothing(memory_app: App, clock: FixedClock) -> None:
    ids = _two_due(memory_app, clock)
    assert expire_due_reservations(memory_app.ctx, batch_size=1) == 2
    assert open_owed_refunds(memory_app.ctx) == 0  # recovery finds nothing left to refund
    for reservation_id in ids:
        (refund,) = _refunds(memory_app, reservation_id)
        assert refund.status is RefundStatus.SUCCEEDED
        assert refund.idempotency_key.endswith(":reservation_expired")
        assert _events(memory_app, reservation_id).count("RefundIssued") == 1


def test_a_sweep_leaves_refunds_pending_when_the_gateway_is_down(memory_app: App, clock: FixedClock) -> None:
    ids = _two_due(memory_app, clock)
    gateway = memory_app.ctx.gateway
    assert isinstance(gateway, SandboxGateway)
    gateway.fail_next = 1  # the first refund call fails, the second goes through
    assert expire_due_reservations(memory_app.ctx) == 2
    statuses = sorted(r.status.value for i in ids for r in _refunds(memory_app, i))
    assert statuses == ["pending", "succeeded"]
    for reservation_id in ids:
        deposit = get_reservation(memory_app.ctx, ADVISOR, reservation_id).deposit
        assert deposit is not None and deposit.refunded.cents == 10000  # reserved while pending
    assert settle_pending_refunds(memory_app.ctx) == 1
    assert all(r.status is RefundStatus.SUCCEEDED for i in ids for r in _refunds(memory_app, i))
    assert all(_events(memory_app, i).count("RefundIssued") == 1 for i in ids)


def test_a_failed_refund_gives_the_amount_back_to_the_payment(
    memory_app: App, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _two_due(memory_app, clock)

    def refuse(*, charge_ref: str, amount: Money, idempotency_key: str, reason: str) -> RefundResult:
        return RefundResult(ref="re_failed", status=RefundOutcome.FAILED, amount=amount, failure_code="lost_card")

    monkeypatch.setattr(memory_app.ctx.gateway, "refund", refuse)
    assert expire_due_reservations(memory_app.ctx) == 2
    for reservation_id in ids:
        (refund,) = _refunds(memory_app, reservation_id)
        assert (refund.status, refund.failure_code, refund.gateway_ref) == (
            RefundStatus.FAILED,
            "lost_card",
            "re_failed",
        )
        deposit = get_reservation(memory_app.ctx, ADVISOR, reservation_id).deposit
        assert deposit is not None and deposit.refunded.cents == 0
        assert "RefundIssued" not in _events(memory_app, reservation_id)


def test_a_refund_settled_during_the_sweep_is_recorded_once(
    memory_app: App, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _two_due(memory_app, clock)
    gateway = memory_app.ctx.gateway
    real_refund = gateway.refund
    webhook_done: list[str] = []

    def refund_then_webhook(*, charge_ref: str, amount: Money, idempotency_key: str, reason: str) -> RefundResult:
        result = real_refund(charge_ref=charge_ref, amount=amount, idempotency_key=idempotency_key, reason=reason)
        if not webhook_done:  # the gateway's webhook for the first refund beats the sweep's own write
            with memory_app.ctx.uow() as uow:
                pending = uow.ledger.refunds_for(status=RefundStatus.PENDING, limit=10)
            first = next(r for r in pending if r.idempotency_key == idempotency_key)
            record_refund_outcome(memory_app.ctx, first.id, RefundStatus.SUCCEEDED, result.ref, None)
            webhook_done.append(first.id)
        return result

    monkeypatch.setattr(gateway, "refund", refund_then_webhook)
    assert expire_due_reservations(memory_app.ctx) == 2
    assert all(r.status is RefundStatus.SUCCEEDED for i in ids for r in _refunds(memory_app, i))
    assert all(_events(memory_app, i).count("RefundIssued") == 1 for i in ids)


def test_listing_with_deposits_scopes_customers_and_attaches_each_deposit(memory_app: App) -> None:
    from checkout_core.usecases.reservations import list_reservations_with_deposits

    mine = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    reserve_vehicle(memory_app.ctx, JANE, vehicle_id="veh_demo001", payment_token="tok_visa")
    (only,) = list_reservations_with_deposits(memory_app.ctx, JOHN)
    assert only.reservation.id == mine.id
    assert only.deposit is not None and only.deposit.idempotency_key == mine.deposit_idempotency_key
    everyone = list_reservations_with_deposits(memory_app.ctx, ADVISOR)
    assert len(everyone) == 2 and all(r.deposit is not None for r in everyone)
    assert [
        r.reservation.id for r in list_reservations_with_deposits(memory_app.ctx, ADVISOR, customer_id="cus_jane")
    ] != [mine.id]
