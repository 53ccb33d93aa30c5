"""The spec's checkout request as domain values (shared by several test modules)."""

from __future__ import annotations

from datetime import date

from checkout_core.model.order import Delivery, DeliveryMethod, PaymentChoice
from checkout_core.model.parties import Address, ContactInfo
from checkout_core.money import Money
from checkout_core.usecases.orders import PlaceOrder

ADDRESS = Address.parse(street="123 Main St", city="Toronto", province="ON", postal_code="M5V 2T6")
CONTACT = ContactInfo(
    first_name="John", last_name="Doe", email="john@example.com", phone="416-555-1234", address=ADDRESS
)


def spec_order(reservation_id: str, **changes: object) -> PlaceOrder:
    """The spec's POST /orders body for ``reservation_id`` (fields overridable)."""
    fields: dict[str, object] = {
        "reservation_id": reservation_id,
        "vehicle_id": "veh_abc123",
        "contact": CONTACT,
        "trade_in_id": "trade_123",
        "claimed_trade_in_credit": 800000,
        "payment_method": PaymentChoice.FINANCE,
        "financing_application_id": "app_xyz789",
        "down_payment": Money(250000),
        "delivery": Delivery(method=DeliveryMethod.DELIVERY, address=ADDRESS, preferred_date=date(2025, 12, 28)),
    }
    fields.update(changes)
    return PlaceOrder(**fields)  # type: ignore[arg-type]  # test helper: fields are checked by attrs


def cash_order(reservation_id: str, vehicle_id: str) -> PlaceOrder:
    """The spec's body for another car, paid in cash, with no trade-in (any customer can place it)."""
    return spec_order(
        reservation_id,
        vehicle_id=vehicle_id,
        trade_in_id=None,
        claimed_trade_in_credit=None,
        payment_method=PaymentChoice.CASH,
        financing_application_id=None,
        down_payment=Money.zero(),
    )
