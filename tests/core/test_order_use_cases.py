"""Orders through the core's use cases: the spec's example from reservation to completion."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from adapters.system.clock import FixedClock
from checkout_core.errors import (
    AmountMismatch,
    Conflict,
    Forbidden,
    IllegalTransition,
    InvalidDocument,
    NotFound,
    RefundNotAllowed,
    ReservationMismatch,
    ReservationNotUsable,
    ValidationFailed,
    VehicleUnavailable,
)
from checkout_core.model.order import DeliveryMethod, OrderStatus, PaymentChoice
from checkout_core.model.payments import PaymentMethod, RefundStatus
from checkout_core.model.reservation import ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.money import Money
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.order_payments import record_bank_transfer
from checkout_core.usecases.order_view import order_details, placed_order_details
from checkout_core.usecases.orders import (
    advance_order,
    bank_transfer_instructions,
    cancel_order,
    complete_due_orders,
    complete_signing,
    deliver_order,
    dispatch_order,
    place_order,
    place_order_and_report,
    return_order,
    schedule_delivery,
    start_signing,
    submit_insurance,
    verify_insurance,
)
from checkout_core.usecases.refunds import pending_bank_refunds, refund_payment, settle_bank_refund
from checkout_core.usecases.reservations import expire_due_reservations, get_reservation, reserve_vehicle
from entrypoints.bootstrap import App
from entrypoints.views import order_to_dict
from tests.core.spec_example import spec_order

JOHN = Actor("cus_demo")
JANE = Actor("cus_jane")
SARAH = Actor("adv_sarah", Role.ADVISOR)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _reserve(app: App) -> str:
    return reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation.id


def _view(app: App, order_id: str, actor: Actor = JOHN) -> dict[str, object]:
    return order_to_dict(order_details(app.ctx, actor, order_id))


def _sign_and_insure(app: App, order_id: str) -> None:
    """The buyer signs on the built-in page and uploads insurance; an advisor verifies it."""
    envelope = start_signing(app.ctx, JOHN, order_id)
    complete_signing(
        app.ctx,
        order_id=order_id,
        envelope_id=envelope.id,
        typed_name="John Doe",
        consent=True,
        ip_address="",
        user_agent="",
    )
    submit_insurance(app.ctx, JOHN, order_id, content=PDF, policy_number="POL-1", provider="Intact")
    verify_insurance(app.ctx, SARAH, order_id)


def test_spec_example_prices_to_the_cent(memory_app: App) -> None:
    order = place_order(memory_app.ctx, JOHN, spec_order(_reserve(memory_app)))
    view = _view(memory_app, order.id)
    pricing = view["pricing"]
    assert isinstance(pricing, dict)
    assert {k: pricing[k] for k in ("vehiclePrice", "tradeInCredit", "adminFee", "documentationFee")} == {
        "vehiclePrice": 2499900,
        "tradeInCredit": -800000,
        "adminFee": 49900,
        "documentationFee": 15000,
    }
    assert (pricing["subtotal"], pricing["taxRate"], pricing["taxAmount"], pricing["totalDue"]) == (
        1764800,
        0.13,
        229424,
        1994224,
    )
    assert view["status"] == "pending_documents"
    assert str(view["orderNumber"]).startswith("CLT-2025-")
    assert view["advisor"] == {
        "id": "adv_sarah",
        "name": "Sarah Johnson",
        "email": "sarah@clutchclone.ca",
        "phone": "416-555-1234",
    }
    assert view["nextSteps"] == [
        {"step": "sign_documents", "status": "pending", "url": f"/api/v1/orders/{order.id}/documents"},
        {"step": "upload_insurance", "status": "pending", "url": f"/api/v1/orders/{order.id}/insurance"},
    ]
    payment = view["payment"]
    assert isinstance(payment, dict)
    assert (payment["financingAmount"], payment["monthlyPayment"], payment["depositPaid"]) == (1734224, 32900, 10000)


def test_the_placed_order_report_is_what_reading_it_back_shows(memory_app: App) -> None:
    placed = place_order_and_report(memory_app.ctx, JOHN, spec_order(_reserve(memory_app)))
    assert [e.name for e in placed.events] == ["OrderPlaced", "AdvisorAssigned", "PurchaseAgreementGenerated"]
    assert order_to_dict(placed_order_details(placed)) == _view(memory_app, placed.order.id)


def test_reservation_is_converted_and_no_longer_expires(memory_app: App, clock: FixedClock) -> None:
    reservation_id = _reserve(memory_app)
    place_order(memory_app.ctx, JOHN, spec_order(reservation_id))
    clock.advance(timedelta(days=4))
    assert expire_due_reservations(memory_app.ctx) == 0
    assert get_reservation(memory_app.ctx, JOHN, reservation_id).reservation.status is ReservationStatus.CONVERTED


def test_client_amounts_are_never_trusted(memory_app: App) -> None:
    reservation_id = _reserve(memory_app)
    with pytest.raises(AmountMismatch):
        place_order(memory_app.ctx, JOHN, spec_order(reservation_id, claimed_trade_in_credit=900000))
    with pytest.raises(ReservationMismatch):
        place_order(memory_app.ctx, JOHN, spec_order(reservation_id, vehicle_id="veh_demo001"))
    with pytest.raises(NotFound):
        place_order(memory_app.ctx, JANE, spec_order(reservation_id))


def test_expired_reservation_cannot_back_an_order(memory_app: App, clock: FixedClock) -> None:
    reservation_id = _reserve(memory_app)
    clock.advance(timedelta(hours=72))
    with pytest.raises(ReservationNotUsable):
        place_order(memory_app.ctx, JOHN, spec_order(reservation_id))


@pytest.mark.parametrize("status", [VehicleStatus.WITHDRAWN, VehicleStatus.SOLD, VehicleStatus.AVAILABLE])
def test_a_car_no_longer_held_refuses_the_order_and_nothing_is_written(memory_app: App, status: VehicleStatus) -> None:
    """An operator withdrew (or sold, or freed) the car under a confirmed hold: the order is
    refused, and neither the hold, the deposit, the car nor the outbox moves."""
    reservation_id = _reserve(memory_app)
    with memory_app.ctx.uow() as uow:
        assert uow.vehicles.set_status("veh_abc123", status) == 1
        before = len(uow.outbox.claim_unpublished(1000))
        uow.commit()
    with pytest.raises(VehicleUnavailable):
        place_order(memory_app.ctx, JOHN, spec_order(reservation_id))
    with memory_app.ctx.uow() as uow:
        held = uow.reservations.get(reservation_id)
        assert held is not None and held.status is ReservationStatus.CONFIRMED and held.order_id is None
        deposit = uow.ledger.get_payment(idempotency_key=held.deposit_idempotency_key)
        assert deposit is not None and deposit.order_id is None
        car = uow.vehicles.get("veh_abc123")
        assert car is not None and car.status is status
        assert uow.orders.list() == []
        assert len(uow.outbox.claim_unpublished(1000)) == before


def test_the_whole_purchase(memory_app: App, clock: FixedClock) -> None:
    ctx = memory_app.ctx
    order = place_order(ctx, JOHN, spec_order(_reserve(memory_app)))
    with pytest.raises(NotFound):
        _view(memory_app, order.id, JANE)

    envelope = start_signing(ctx, JOHN, order.id)
    assert envelope.signature_url.endswith(f"/sign/{order.id}/{envelope.id}")
    assert start_signing(ctx, JOHN, order.id) == envelope  # still valid: reused
    complete_signing(
        ctx,
        order_id=order.id,
        envelope_id=envelope.id,
        typed_name="john doe",
        consent=True,
        ip_address="",
        user_agent="",
    )
    assert _view(memory_app, order.id)["status"] == "pending_insurance"

    with pytest.raises(InvalidDocument):
        submit_insurance(ctx, JOHN, order.id, content=b"MZ\x90\x00 not a pdf", policy_number="POL-1", provider="X")
    submit_insurance(ctx, JOHN, order.id, content=PDF, policy_number="POL-12345", provider="Intact Insurance")
    with pytest.raises(Forbidden):
        verify_insurance(ctx, JOHN, order.id)
    verify_insurance(ctx, SARAH, order.id)
    assert _view(memory_app, order.id)["status"] == "pending_payment"

    instructions = bank_transfer_instructions(ctx, JOHN, order.id)
    assert instructions.amount == Money(250000)  # the down payment; the deposit already counts
    record_bank_transfer(ctx, SARAH, reference=instructions.reference, amount=Money(250000), bank_reference="WIRE-1")
    record_bank_transfer(ctx, SARAH, reference=instructions.reference, amount=Money(250000), bank_reference="WIRE-1")
    view = _view(memory_app, order.id)
    assert view["status"] == "pending_delivery"
    payment = view["payment"]
    assert isinstance(payment, dict) and payment["downPaymentPaid"] == 250000 and payment["balanceDue"] == 0

    with pytest.raises(IllegalTransition):
        dispatch_order(ctx, SARAH, order.id)  # not scheduled yet
    schedule_delivery(ctx, SARAH, order.id, on=date(2025, 12, 28), time_window="10:00 AM - 2:00 PM")
    timeline = _view(memory_app, order.id)["timeline"]
    assert isinstance(timeline, list)
    assert timeline[-1] == {"event": "Delivery scheduled", "timestamp": "2025-12-28T10:00:00Z", "status": "pending"}
    advance_order(ctx, SARAH, order.id)
    with pytest.raises(IllegalTransition):
        cancel_order(ctx, JOHN, order.id)
    deliver_order(ctx, SARAH, order.id)
    clock.advance(timedelta(days=9))
    assert complete_due_orders(ctx) == 0
    clock.advance(timedelta(days=1))
    assert complete_due_orders(ctx) == 1
    view = _view(memory_app, order.id)
    assert view["status"] == "completed"
    events = [e["event"] for e in view["timeline"]]  # type: ignore[union-attr,index]
    assert events[0] == "Order placed" and "Documents signed" in events and events[-1] == "Purchase completed"


def test_nothing_due_skips_pending_payment(memory_app: App) -> None:
    ctx = memory_app.ctx
    order = place_order(ctx, JOHN, spec_order(_reserve(memory_app), down_payment=Money(0)))
    _sign_and_insure(memory_app, order.id)
    assert _view(memory_app, order.id)["status"] == "pending_delivery"


def test_early_payment_counts(memory_app: App) -> None:
    ctx = memory_app.ctx
    order = place_order(ctx, JOHN, spec_order(_reserve(memory_app)))
    record_bank_transfer(ctx, SARAH, reference=order.number, amount=Money(250000), bank_reference="EARLY")
    _sign_and_insure(memory_app, order.id)
    assert _view(memory_app, order.id)["status"] == "pending_delivery"


def test_cancel_refunds_everything_and_releases_the_car(memory_app: App) -> None:
    ctx = memory_app.ctx
    order = place_order(
        ctx,
        JOHN,
        spec_order(
            _reserve(memory_app),
            payment_method=PaymentChoice.CASH,
            financing_application_id=None,
            down_payment=Money(0),
        ),
    )
    record_bank_transfer(ctx, SARAH, reference=order.number, amount=Money(100000), bank_reference="PART")
    cancelled = cancel_order(ctx, JOHN, order.id)
    assert cancelled.status is OrderStatus.CANCELLED
    view = _view(memory_app, order.id)
    payment = view["payment"]
    assert isinstance(payment, dict) and payment["refunded"] == 110000
    assert payment["balanceDue"] == 0  # a closed order owes nothing, however much went back
    with ctx.uow() as uow:
        vehicle = uow.vehicles.get("veh_abc123")
        assert vehicle is not None and vehicle.status is VehicleStatus.AVAILABLE


def test_return_inside_the_window_only(memory_app: App, clock: FixedClock) -> None:
    ctx = memory_app.ctx
    order = place_order(ctx, JOHN, spec_order(_reserve(memory_app), down_payment=Money(0)))
    _sign_and_insure(memory_app, order.id)
    schedule_delivery(ctx, SARAH, order.id, on=date(2025, 12, 28), time_window="10:00 AM - 2:00 PM")
    dispatch_order(ctx, SARAH, order.id)
    deliver_order(ctx, SARAH, order.id)
    clock.advance(timedelta(days=3))
    returned = return_order(ctx, SARAH, order.id)
    assert returned.status is OrderStatus.RETURNED
    with ctx.uow() as uow:
        vehicle = uow.vehicles.get("veh_abc123")
        assert vehicle is not None and vehicle.status is VehicleStatus.AVAILABLE


def test_pickup_goes_from_pending_delivery_to_delivered(memory_app: App) -> None:
    from checkout_core.model.order import Delivery

    ctx = memory_app.ctx
    order = place_order(
        ctx,
        JOHN,
        spec_order(_reserve(memory_app), down_payment=Money(0), delivery=Delivery(method=DeliveryMethod.PICKUP)),
    )
    _sign_and_insure(memory_app, order.id)
    assert advance_order(ctx, SARAH, order.id).status is OrderStatus.DELIVERED


def test_treasury_settles_bank_transfer_refunds(memory_app: App) -> None:
    ctx = memory_app.ctx
    order = place_order(ctx, JOHN, spec_order(_reserve(memory_app)))
    record_bank_transfer(ctx, SARAH, reference=order.number, amount=Money(250000), bank_reference="W-1")
    with ctx.uow() as uow:
        payments = {p.method: p for p in uow.ledger.payments_for(order_id=order.id)}
    transfer, deposit = payments[PaymentMethod.BANK_TRANSFER], payments[PaymentMethod.CARD]
    sent = refund_payment(ctx, payment_id=transfer.id, amount=Money(1000), reason="goodwill", key_suffix="a")
    bounced = refund_payment(ctx, payment_id=transfer.id, amount=Money(2000), reason="goodwill", key_suffix="b")
    assert [r.id for r, _ in pending_bank_refunds(ctx)] == [sent.id, bounced.id]

    done = settle_bank_refund(ctx, sent.id, sent=True, bank_reference="OUT-1")
    failed = settle_bank_refund(ctx, bounced.id, sent=False, bank_reference="BOUNCE-1")
    assert (done.status, done.gateway_ref, failed.status) == (RefundStatus.SUCCEEDED, "OUT-1", RefundStatus.FAILED)
    assert pending_bank_refunds(ctx) == []
    with ctx.uow() as uow:
        stored = uow.ledger.get_payment(transfer.id)
    assert stored is not None and stored.refunded == Money(1000)  # the bounced 2000 is refundable again
    with pytest.raises(Conflict, match="already succeeded"):
        settle_bank_refund(ctx, sent.id, sent=False, bank_reference="X")
    card = refund_payment(ctx, payment_id=deposit.id, amount=Money(100), reason="x")
    with pytest.raises(RefundNotAllowed, match="card refund"):
        settle_bank_refund(ctx, card.id, sent=True, bank_reference="X")
    with pytest.raises(ValidationFailed):
        settle_bank_refund(ctx, bounced.id, sent=True, bank_reference="  ")
    with pytest.raises(NotFound):
        settle_bank_refund(ctx, "rfd_nope", sent=True, bank_reference="X")
