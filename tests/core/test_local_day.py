"""Dates on documents, tax rates in force and business deadlines are the buyer's province's
local day, not the UTC day (issue 14)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import IllegalTransition, ValidationFailed
from checkout_core.model.local_day import (
    PROVINCE_TIME_ZONES,
    end_of_local_days,
    local_day,
    province_zone,
    start_of_local_day,
)
from checkout_core.model.order import Order, PaymentChoice
from checkout_core.model.parties import Address, ContactInfo
from checkout_core.money import Money
from checkout_core.tax.rates import PROVINCES
from checkout_core.usecases.agreements import agreement_input
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.order_payments import record_bank_transfer
from checkout_core.usecases.orders import (
    bank_transfer_instructions,
    complete_signing,
    deliver_order,
    dispatch_order,
    place_order,
    return_order,
    schedule_delivery,
    start_signing,
    submit_insurance,
    verify_insurance,
)
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import App, bootstrap_in_memory
from tests.core.spec_example import spec_order

JOHN = Actor("cus_demo")
SARAH = Actor("adv_sarah", Role.ADVISOR)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

ADDRESSES = {
    "ON": Address(street="123 Main St", city="Toronto", province="ON", postal_code="M5V 2T6"),
    "BC": Address(street="800 Robson St", city="Vancouver", province="BC", postal_code="V6Z 3B7"),
    "NS": Address(street="1800 Argyle St", city="Halifax", province="NS", postal_code="B3J 3N8"),
    "QC": Address(street="1200 Rue Sainte-Catherine O", city="Montréal", province="QC", postal_code="H3B 1K9"),
}


def _place(at: datetime, province: str) -> tuple[Order, FixedClock, App]:
    """An order placed at ``at`` (UTC) by a buyer living in ``province``."""
    clock = FixedClock(at)
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds())
    load_demo(app.ctx.uow)
    reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    contact = ContactInfo(
        first_name="John", last_name="Doe", email="john@example.com", phone="416-555-1234", address=ADDRESSES[province]
    )
    order = place_order(
        app.ctx,
        JOHN,
        spec_order(
            reservation.id,
            contact=contact,
            payment_method=PaymentChoice.CASH,
            financing_application_id=None,
            down_payment=Money(0),
            delivery=spec_order(reservation.id).delivery,
        ),
    )
    return order, clock, app


def _sale_date(app: App, order: Order) -> date:
    ctx = app.ctx
    with ctx.uow() as uow:
        vehicle = uow.vehicles.get(order.vehicle_id)
        advisor = uow.advisors.get(order.advisor_id)
    assert vehicle is not None and advisor is not None
    return agreement_input(ctx, order, vehicle, advisor).sale_date


@pytest.mark.parametrize(
    ("province", "at", "local"),
    [
        # 20:30 EST on December 23 is 01:30 UTC on the 24th: still the 23rd in Toronto.
        ("ON", datetime(2025, 12, 24, 1, 30, tzinfo=UTC), date(2025, 12, 23)),
        # 23:59 PST is 07:59 UTC the next morning.
        ("BC", datetime(2025, 12, 24, 7, 59, tzinfo=UTC), date(2025, 12, 23)),
        # 00:00:30 PST: the local day has turned.
        ("BC", datetime(2025, 12, 24, 8, 0, 30, tzinfo=UTC), date(2025, 12, 24)),
        # 21:30 AST in Halifax.
        ("NS", datetime(2025, 12, 24, 1, 30, tzinfo=UTC), date(2025, 12, 23)),
        ("QC", datetime(2025, 12, 24, 4, 59, tzinfo=UTC), date(2025, 12, 23)),
        ("QC", datetime(2025, 12, 24, 5, 0, tzinfo=UTC), date(2025, 12, 24)),
    ],
)
def test_the_date_of_sale_and_rates_in_force_are_the_buyers_local_day(province: str, at: datetime, local: date) -> None:
    order, _, app = _place(at, province)
    try:
        assert order.pricing.priced_on == local
        assert _sale_date(app, order) == local
    finally:
        app.close()


def test_a_rate_change_at_midnight_follows_the_provinces_midnight() -> None:
    """Nova Scotia's HST went from 15 % to 14 % on April 1, 2025: an order placed at 22:30 ADT on
    March 31 (01:30 UTC on April 1) is charged 15 %."""
    order, _, app = _place(datetime(2025, 4, 1, 1, 30, tzinfo=UTC), "NS")
    try:
        assert order.pricing.priced_on == date(2025, 3, 31)
        assert [str(line.rate) for line in order.pricing.tax.lines] == ["0.15"]
    finally:
        app.close()
    order, _, app = _place(datetime(2025, 4, 1, 3, 30, tzinfo=UTC), "NS")  # 00:30 ADT on April 1
    try:
        assert [str(line.rate) for line in order.pricing.tax.lines] == ["0.14"]
    finally:
        app.close()


def test_the_bank_transfer_is_due_counted_from_the_local_day() -> None:
    order, _, app = _place(datetime(2025, 12, 24, 1, 30, tzinfo=UTC), "ON")  # 20:30 on the 23rd
    try:
        instructions = bank_transfer_instructions(app.ctx, JOHN, order.id)
        assert instructions.due_date == date(2025, 12, 23) + timedelta(days=app.ctx.policy.bank.due_days)
    finally:
        app.close()


def test_the_return_window_ends_at_local_midnight_of_its_last_day() -> None:
    """Delivered at 21:00 PST on December 28 (05:00 UTC on the 29th): a 10-day window lasts to
    the end of January 7 in Vancouver, 08:00 UTC on the 8th — not 10 × 24 h after delivery."""
    order, clock, app = _place(datetime(2025, 12, 23, 18, 0, tzinfo=UTC), "BC")
    ctx = app.ctx
    try:
        envelope = start_signing(ctx, JOHN, order.id)
        complete_signing(
            ctx,
            order_id=order.id,
            envelope_id=envelope.id,
            typed_name="John Doe",
            consent=True,
            ip_address="",
            user_agent="",
        )
        submit_insurance(ctx, JOHN, order.id, content=PDF, policy_number="POL-1", provider="Intact")
        verify_insurance(ctx, SARAH, order.id)
        with ctx.uow() as uow:
            placed = uow.orders.get(order.id)
        assert placed is not None
        due = placed.balance_due
        record_bank_transfer(ctx, SARAH, reference=order.number, amount=due, bank_reference="W-1")
        schedule_delivery(ctx, SARAH, order.id, on=date(2025, 12, 28), time_window="6:00 PM - 9:00 PM")
        clock.advance(datetime(2025, 12, 29, 5, 0, tzinfo=UTC) - clock.now())
        dispatch_order(ctx, SARAH, order.id)
        delivered = deliver_order(ctx, SARAH, order.id)
        closes = delivered.return_window_closes_at(ctx.policy.return_window)
        assert closes == datetime(2026, 1, 8, 8, 0, tzinfo=UTC)
        clock.advance(closes - clock.now())
        with pytest.raises(IllegalTransition, match="return window closed"):
            return_order(ctx, SARAH, order.id)
        clock.advance(timedelta(seconds=-1))
        assert return_order(ctx, SARAH, order.id).status.value == "returned"
    finally:
        app.close()


def test_a_delivery_date_is_in_the_past_by_the_local_calendar() -> None:
    # 20:30 EST on December 23: December 23 is still today in Toronto.
    order, _, app = _place(datetime(2025, 12, 24, 1, 30, tzinfo=UTC), "ON")
    ctx = app.ctx
    try:
        scheduled = schedule_delivery(ctx, SARAH, order.id, on=date(2025, 12, 23), time_window="9:00 PM - 10:00 PM")
        assert scheduled.delivery.scheduled_date == date(2025, 12, 23)
        with pytest.raises(ValidationFailed, match="past"):
            schedule_delivery(ctx, SARAH, order.id, on=date(2025, 12, 22), time_window="9:00 PM - 10:00 PM")
    finally:
        app.close()


def test_every_province_and_territory_has_a_time_zone() -> None:
    assert set(PROVINCE_TIME_ZONES) == set(PROVINCES)
    for code in PROVINCES:
        assert province_zone(code).key == PROVINCE_TIME_ZONES[code]
    with pytest.raises(ValidationFailed):
        province_zone("XX")


def test_local_day_helpers_follow_daylight_saving() -> None:
    # Newfoundland is 3.5 hours behind UTC in winter, 2.5 in summer.
    assert local_day(datetime(2025, 1, 10, 3, 0, tzinfo=UTC), "NL") == date(2025, 1, 9)
    assert local_day(datetime(2025, 7, 10, 3, 0, tzinfo=UTC), "NL") == date(2025, 7, 10)
    assert start_of_local_day(date(2025, 7, 1), "ON") == datetime(2025, 7, 1, 4, 0, tzinfo=UTC)
    assert start_of_local_day(date(2025, 12, 1), "ON") == datetime(2025, 12, 1, 5, 0, tzinfo=UTC)
    # Saskatchewan keeps standard time all year.
    assert end_of_local_days(datetime(2025, 7, 1, 12, 0, tzinfo=UTC), 0, "SK") == datetime(2025, 7, 2, 6, 0, tzinfo=UTC)
