"""The checkout and purchase core: pure domain rules and use cases (standard library, attrs and
cattrs only).

Library users import from here; the deeper modules may move. Use cases are plain functions that
take the :class:`Context` (the ports, wired by a composition root such as
``entrypoints.bootstrap.bootstrap_in_memory``) and the calling :class:`Actor`."""

from checkout_core.demo import DEMO_CUSTOMER_ID, DEMO_VEHICLE_ID, load_demo
from checkout_core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    NotFound,
    PaymentDeclined,
    PaymentGatewayUnavailable,
    ReservationLimitReached,
    ReservationNotUsable,
    TooManyAttempts,
    ValidationFailed,
    VehicleUnavailable,
)
from checkout_core.model.order import Order, OrderStatus, order_number
from checkout_core.model.reservation import Reservation, ReservationStatus
from checkout_core.model.vehicle import Vehicle, VehicleStatus
from checkout_core.money import Money
from checkout_core.pricing.fees import FeeSchedule
from checkout_core.pricing.quote import Pricing, price_purchase
from checkout_core.usecases.context import SYSTEM, Actor, BankDetails, Context, Policy, Role
from checkout_core.usecases.order_view import OrderDetails, order_details
from checkout_core.usecases.orders import (
    PlacedOrder,
    PlaceOrder,
    cancel_order,
    list_orders,
    place_order,
)
from checkout_core.usecases.reservations import (
    ReservationResult,
    cancel_reservation,
    get_reservation,
    list_reservations,
    list_vehicles,
    reserve_vehicle,
)

__all__ = [
    "DEMO_CUSTOMER_ID",
    "DEMO_VEHICLE_ID",
    "SYSTEM",
    "Actor",
    "BankDetails",
    "Conflict",
    "Context",
    "DomainError",
    "FeeSchedule",
    "Forbidden",
    "IllegalTransition",
    "Money",
    "NotFound",
    "Order",
    "OrderDetails",
    "OrderStatus",
    "PaymentDeclined",
    "PaymentGatewayUnavailable",
    "PlaceOrder",
    "PlacedOrder",
    "Policy",
    "Pricing",
    "Reservation",
    "ReservationLimitReached",
    "ReservationNotUsable",
    "ReservationResult",
    "ReservationStatus",
    "Role",
    "TooManyAttempts",
    "ValidationFailed",
    "Vehicle",
    "VehicleStatus",
    "VehicleUnavailable",
    "cancel_order",
    "cancel_reservation",
    "get_reservation",
    "list_orders",
    "list_reservations",
    "list_vehicles",
    "load_demo",
    "order_details",
    "order_number",
    "place_order",
    "price_purchase",
    "reserve_vehicle",
]
