"""The reservation saga end to end through ``reserve_vehicle`` with the Stripe adapter (the real
SDK) against localstripe: ``bootstrap_in_memory(gateway=StripeGateway(...))`` + the demo data.

Deposits use ``pm_card_visa`` and ``pm_card_chargeCustomerFail``: the spec's ``tok_visa`` is not
something localstripe can charge (see test_stripe_gateway.py); the sandbox suite covers tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from adapters.system.clock import FixedClock
from checkout_core.errors import PaymentDeclined, PaymentGatewayUnavailable
from checkout_core.model.payments import PaymentStatus, RefundStatus
from checkout_core.model.reservation import ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.usecases.context import Actor
from checkout_core.usecases.reservations import (
    cancel_reservation,
    expire_due_reservations,
    get_reservation,
    list_reservations,
    recover_pending_deposits,
    reserve_vehicle,
)
from entrypoints.bootstrap import App
from tests.payments.conftest import make_gateway, stripe_app
from tests.payments.http_stub import LosingProxy

pytestmark = pytest.mark.slow

JOHN = Actor("cus_demo")
CAR = "veh_abc123"


def _vehicle(app: App) -> VehicleStatus:
    with app.ctx.uow() as uow:
        vehicle = uow.vehicles.get(CAR)
        assert vehicle is not None
        return vehicle.status


def _events(app: App, reservation_id: str) -> list[str]:
    with app.ctx.uow() as uow:
        return [e.name for e in uow.outbox.for_aggregate(reservation_id)]


def test_deposit_is_charged_at_stripe_and_the_car_is_held(stripe_memory_app: App, real_clock: FixedClock) -> None:
    result = reserve_vehicle(stripe_memory_app.ctx, JOHN, vehicle_id=CAR, payment_token="pm_card_visa")
    reservation, deposit = result.reservation, result.deposit
    assert reservation.status is ReservationStatus.CONFIRMED
    assert reservation.expires_at == real_clock.now() + timedelta(hours=72)
    assert deposit is not None
    assert deposit.status is PaymentStatus.SUCCEEDED
    assert deposit.gateway_ref is not None
    assert deposit.gateway_ref.startswith("pi_")
    assert reservation.charge_id == deposit.gateway_ref
    assert (deposit.card_brand, deposit.card_last4) == ("visa", "4242")
    assert _vehicle(stripe_memory_app) is VehicleStatus.RESERVED
    assert _events(stripe_memory_app, reservation.id) == [
        "VehicleReservationInitiated",
        "DepositPaid",
        "ReservationConfirmed",
    ]
    # and Stripe has it, with our ledger id
    found = stripe_memory_app.ctx.gateway.find_charge(idempotency_key=deposit.idempotency_key, ledger_id=deposit.id)
    assert found is not None
    assert found.ref == deposit.gateway_ref


def test_a_declined_deposit_releases_the_car(stripe_memory_app: App) -> None:
    with pytest.raises(PaymentDeclined) as declined:
        reserve_vehicle(stripe_memory_app.ctx, JOHN, vehicle_id=CAR, payment_token="pm_card_chargeCustomerFail")
    assert declined.value.decline_code == "card_declined"
    reservation_id = declined.value.details["reservation_id"]
    failed = get_reservation(stripe_memory_app.ctx, JOHN, reservation_id)
    assert failed.reservation.status is ReservationStatus.FAILED
    assert failed.deposit is not None
    assert failed.deposit.status is PaymentStatus.FAILED
    assert failed.deposit.failure_code == "card_declined"
    assert _vehicle(stripe_memory_app) is VehicleStatus.AVAILABLE
    # the customer can try again with another card
    again = reserve_vehicle(stripe_memory_app.ctx, JOHN, vehicle_id=CAR, payment_token="pm_card_visa")
    assert again.reservation.status is ReservationStatus.CONFIRMED


def test_cancelling_refunds_the_deposit_at_stripe(stripe_memory_app: App) -> None:
    ctx = stripe_memory_app.ctx
    reservation = reserve_vehicle(ctx, JOHN, vehicle_id=CAR, payment_token="pm_card_visa").reservation
    cancelled = cancel_reservation(ctx, JOHN, reservation.id)
    assert cancelled.reservation.status is ReservationStatus.CANCELLED
    deposit = cancelled.deposit
    assert deposit is not None
    assert deposit.refunded == deposit.amount
    with ctx.uow() as uow:
        [refund] = uow.ledger.refunds_for(deposit.id)
    assert refund.status is RefundStatus.SUCCEEDED
    assert refund.gateway_ref is not None
    assert ctx.gateway.get_refund(refund.gateway_ref).amount == deposit.amount
    assert _vehicle(stripe_memory_app) is VehicleStatus.AVAILABLE


def test_expiry_refunds_the_deposit_at_stripe(stripe_memory_app: App, real_clock: FixedClock) -> None:
    ctx = stripe_memory_app.ctx
    reservation = reserve_vehicle(ctx, JOHN, vehicle_id=CAR, payment_token="pm_card_visa").reservation
    real_clock.advance(timedelta(hours=72, minutes=1))
    assert expire_due_reservations(ctx) == 1
    expired = get_reservation(ctx, JOHN, reservation.id)
    assert expired.reservation.status is ReservationStatus.EXPIRED
    assert expired.deposit is not None
    assert expired.deposit.refunded == expired.deposit.amount


@pytest.fixture
def lossy_app(losing_proxy: LosingProxy, real_clock: FixedClock) -> Iterator[App]:
    """An app whose Stripe connection loses the answer to the first PaymentIntent creation."""
    app = stripe_app(make_gateway(losing_proxy.url, max_network_retries=0, emulator=True), real_clock)
    yield app
    app.close()


def test_a_lost_answer_is_settled_by_recovery(lossy_app: App, real_clock: FixedClock) -> None:
    """Stripe charged, the answer was lost: the reservation waits in pending_deposit (the car
    stays held, nothing half-recorded), then recovery asks Stripe and confirms it."""
    ctx = lossy_app.ctx
    with pytest.raises(PaymentGatewayUnavailable):
        reserve_vehicle(ctx, JOHN, vehicle_id=CAR, payment_token="pm_card_visa")
    [pending] = list_reservations(ctx, JOHN)
    assert pending.status is ReservationStatus.PENDING_DEPOSIT
    waiting = get_reservation(ctx, JOHN, pending.id)
    assert waiting.deposit is not None
    assert waiting.deposit.status is PaymentStatus.PENDING
    assert waiting.deposit.gateway_ref is None
    assert _vehicle(lossy_app) is VehicleStatus.RESERVED

    assert recover_pending_deposits(ctx) == 0  # too recent: the request may still be running
    real_clock.advance(ctx.policy.recovery_grace + timedelta(seconds=1))
    assert recover_pending_deposits(ctx) == 1
    settled = get_reservation(ctx, JOHN, pending.id)
    assert settled.reservation.status is ReservationStatus.CONFIRMED
    assert settled.deposit is not None
    assert settled.deposit.status is PaymentStatus.SUCCEEDED
    assert settled.deposit.gateway_ref is not None
    assert settled.deposit.gateway_ref.startswith("pi_")
    assert settled.deposit.card_last4 == "4242"
    assert _events(lossy_app, pending.id).count("DepositPaid") == 1
