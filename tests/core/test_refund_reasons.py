"""Why money goes back is one enum, ``RefundReason``: its values are stored on refunds and in
their idempotency keys, so they must never change, and every flow stores exactly them."""

from __future__ import annotations

from checkout_core.model.order import CLOSED_STATUSES, CloseReason, PaymentChoice
from checkout_core.model.payments import RefundReason
from checkout_core.model.reservation import RELEASED_STATUSES
from checkout_core.money import Money
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.order_payments import record_bank_transfer
from checkout_core.usecases.orders import cancel_order, place_order
from checkout_core.usecases.recovery import _REASONS
from checkout_core.usecases.reservations import cancel_reservation, reserve_vehicle
from entrypoints.bootstrap import App
from tests.core.spec_example import spec_order

JOHN = Actor("cus_demo")
SARAH = Actor("adv_sarah", Role.ADVISOR)

#: The strings already in ledgers and refund keys: a rename would open a second refund for a debt.
STORED = {
    "late_payment",
    "reservation_cancelled",
    "reservation_expired",
    "order_cancelled",
    "order_returned",
    "order_closed",
    "overpayment",
    "duplicate_charge",
    "refunded_at_gateway",
    "owed",
    "requested_by_customer",
}


def test_the_reasons_are_the_stored_strings() -> None:
    assert {reason.value for reason in RefundReason} == STORED
    for value in STORED:
        assert RefundReason(value) == value
        assert f"pay_1:{RefundReason(value)}" == f"pay_1:{value}"  # the key suffix is the plain value


def test_recovery_names_every_ended_hold_with_a_reason() -> None:
    ended = set(RELEASED_STATUSES) | set(CLOSED_STATUSES)
    assert ended <= set(_REASONS)
    assert all(isinstance(reason, RefundReason) for reason in _REASONS.values())


def test_a_cancelled_order_stores_its_refunds_under_the_enum_value(memory_app: App) -> None:
    ctx = memory_app.ctx
    reservation = reserve_vehicle(ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    order = place_order(
        ctx,
        JOHN,
        spec_order(
            reservation.id, payment_method=PaymentChoice.CASH, financing_application_id=None, down_payment=Money(0)
        ),
    )
    record_bank_transfer(ctx, SARAH, reference=order.number, amount=Money(100000), bank_reference="PART")
    cancel_order(ctx, JOHN, order.id)
    with ctx.uow() as uow:
        refunds = [r for p in uow.ledger.payments_for(order_id=order.id) for r in uow.ledger.refunds_for(p.id)]
    assert len(refunds) == 2
    for refund in refunds:
        assert type(refund.reason) is str and refund.reason == "order_cancelled"
        assert RefundReason(refund.reason) is RefundReason.ORDER_CANCELLED
        assert refund.idempotency_key == f"{refund.payment_id}:order_cancelled"


def test_a_cancelled_reservation_refunds_its_deposit_under_the_enum_value(memory_app: App) -> None:
    ctx = memory_app.ctx
    reservation = reserve_vehicle(ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    cancel_reservation(ctx, JOHN, reservation.id)
    with ctx.uow() as uow:
        deposits = uow.ledger.payments_for(reservation_id=reservation.id)
        refunds = [r for p in deposits for r in uow.ledger.refunds_for(p.id)]
    assert [r.reason for r in refunds] == ["reservation_cancelled"]


def _placed(app: App) -> str:
    reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    return place_order(
        app.ctx,
        JOHN,
        spec_order(
            reservation.id, payment_method=PaymentChoice.CASH, financing_application_id=None, down_payment=Money(0)
        ),
    ).id


def test_a_buyer_who_gives_no_reason_is_the_reason(memory_app: App) -> None:
    closed = cancel_order(memory_app.ctx, JOHN, _placed(memory_app))
    assert closed.closed_reason == CloseReason.CANCELLED_BY_CUSTOMER == "cancelled_by_customer"


def test_an_advisor_who_gives_no_reason_is_the_reason(memory_app: App) -> None:
    order_id = _placed(memory_app)
    assert cancel_order(memory_app.ctx, SARAH, order_id).closed_reason == "cancelled_by_advisor"
    with memory_app.ctx.uow() as uow:
        stored = uow.orders.get(order_id)
        assert stored is not None and type(stored.closed_reason) is str
