"""``/api/v1/orders``: place an order from a confirmed reservation, list, read and cancel it.

Each handler parses its input into the core's values, calls one use case with the caller's
:class:`Actor` and answers with the order body; who may do what is the use cases' decision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from checkout_core.errors import ValidationFailed
from checkout_core.model.order import Delivery, DeliveryMethod, OrderStatus
from checkout_core.model.parties import Address, ContactInfo, validate_email, validate_phone
from checkout_core.money import Money
from checkout_core.usecases.context import Actor
from checkout_core.usecases.order_view import placed_order_details
from checkout_core.usecases.orders import PlaceOrder, cancel_order, list_orders, place_order_and_report
from entrypoints.bootstrap import App
from entrypoints.http import routes_delivery, routes_documents, routes_insurance, routes_payments
from entrypoints.http.idempotency import (
    CLAIM_OPT,
    IDEMPOTENCY_OPT,
    REQUIRED,
    WITH_FIRST_STATEMENT,
    OptionalIdempotencyKey,
    RequiredIdempotencyKey,
)
from entrypoints.http.order_routes import ORDER, ORDERS, order_body
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import (
    BODY_OPT,
    JSON_BODY,
    AddressIn,
    Limit,
    Offset,
    OrderBody,
    OrderCreate,
    OrderList,
    ReasonIn,
    documented_operation,
    order_to_body,
)

# -- parsing the checkout form ------------------------------------------------------------


@contextmanager
def _within(prefix: str) -> Iterator[None]:
    """Report a core validation error at its place in the request body (``contactInfo.email``)."""
    try:
        yield
    except ValidationFailed as error:
        field = error.details.get("field")
        details = {**error.details, "field": f"{prefix}.{field}" if field else prefix}
        raise ValidationFailed(error.message, **details) from None


def _address(data: AddressIn, prefix: str) -> Address:
    with _within(prefix):
        return Address.parse(street=data.street, city=data.city, province=data.province, postal_code=data.postal_code)


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise ValidationFailed(f"{field} is required", field=field)
    return value.strip()


def place_order_command(data: OrderCreate) -> PlaceOrder:
    """The spec's ``POST /api/v1/orders`` body as the core's command (formats validated here by
    the core's own parsers; amounts are checked against stored records by the use case)."""
    contact = data.contact_info
    with _within("contactInfo"):
        email = validate_email(contact.email)
        phone = validate_phone(contact.phone)
    info = ContactInfo(
        first_name=_required(contact.first_name, "contactInfo.firstName"),
        last_name=_required(contact.last_name, "contactInfo.lastName"),
        email=email,
        phone=phone,
        address=_address(contact.address, "contactInfo.address"),
    )
    delivery = data.delivery
    if delivery.method is DeliveryMethod.DELIVERY and delivery.address is None:
        raise ValidationFailed("home delivery needs an address", field="delivery.address")
    return PlaceOrder(
        reservation_id=data.reservation_id,
        vehicle_id=data.vehicle_id,
        contact=info,
        trade_in_id=data.trade_in.trade_in_id if data.trade_in else None,
        claimed_trade_in_credit=data.trade_in.credit_amount if data.trade_in else None,
        payment_method=data.payment.method,
        financing_application_id=data.payment.financing_application_id,
        down_payment=Money(data.payment.down_payment),
        delivery=Delivery(
            method=delivery.method,
            address=_address(delivery.address, "delivery.address") if delivery.address else None,
            preferred_date=delivery.preferred_date,
        ),
    )


# -- orders -------------------------------------------------------------------------------


@post(
    "/orders",
    status_code=201,
    sync_to_thread=True,
    tags=ORDERS,
    summary="Place an order",
    opt={IDEMPOTENCY_OPT: REQUIRED, CLAIM_OPT: WITH_FIRST_STATEMENT, BODY_OPT: JSON_BODY},
    responses=problem_responses(401, 404, 409, 415, 422),
)
def create_order(
    data: JSONBody[OrderCreate],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: RequiredIdempotencyKey,
) -> OrderBody:
    """Turn the caller's confirmed reservation into an order: priced, advisor assigned, purchase
    agreement generated (with ``CHECKOUT_AGREEMENTS=worker``, listed as ``generating`` until a
    document worker renders it moments later); status ``pending_documents``.

    404 if the reservation (or trade-in offer, financing application) is not the caller's;
    409 ``reservation_not_usable``; 422 ``reservation_mismatch`` or ``amount_mismatch``."""
    placed = place_order_and_report(checkout.ctx, actor, place_order_command(data))
    return order_to_body(placed_order_details(placed))


@get("/orders", sync_to_thread=True, tags=ORDERS, summary="List orders", responses=problem_responses(401))
def list_all(
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    status: FromQuery[OrderStatus | None] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> OrderList:
    """The caller's orders (advisors: everyone's), newest first."""
    orders = list_orders(checkout.ctx, actor, status=status, limit=limit, offset=offset)
    return OrderList(items=[order_body(checkout, actor, o.id) for o in orders], limit=limit, offset=offset)


@get(ORDER, sync_to_thread=True, tags=ORDERS, summary="Get an order", responses=problem_responses(401, 404))
def get_one(order_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]) -> OrderBody:
    """The order with its payment, documents, insurance, delivery and timeline."""
    return order_body(checkout, actor, order_id)


@post(
    ORDER + "/cancel",
    status_code=200,
    sync_to_thread=True,
    tags=ORDERS,
    summary="Cancel an order",
    opt={BODY_OPT: JSON_BODY},
    operation_class=documented_operation(optional_body=True),
    responses=problem_responses(401, 404, 409, 415, 422),
)
def cancel(
    order_id: FromPath[str],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
    data: JSONBody[ReasonIn | None] = None,
) -> OrderBody:
    """Cancel before the car is dispatched (buyer or advisor): everything paid is refunded."""
    cancel_order(checkout.ctx, actor, order_id, reason=data.reason if data else None)
    return order_body(checkout, actor, order_id)


ROUTES = [create_order, list_all, get_one, cancel]

#: The order's sub-resources, each in a module of its own (``routes_countersign`` is registered
#: by the app itself).
RESOURCE_ROUTES = [
    *routes_documents.ROUTES,
    *routes_insurance.ROUTES,
    *routes_payments.ROUTES,
    *routes_delivery.ROUTES,
]
