"""``/api/v1/orders/{orderId}/delivery``, ``/complete`` and ``/return``: the advisor's steps
from a paid order to a car in the buyer's hands, and a return inside the window."""

from __future__ import annotations

from litestar import post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import complete_order, deliver_order, dispatch_order, return_order, schedule_delivery
from entrypoints.bootstrap import App
from entrypoints.http.idempotency import OptionalIdempotencyKey
from entrypoints.http.order_routes import FULFILMENT, ORDER, order_body, order_step
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import BODY_OPT, JSON_BODY, DeliverySchedule, OrderBody, ReasonIn, documented_operation


@post(
    ORDER + "/delivery/schedule",
    status_code=200,
    sync_to_thread=True,
    tags=FULFILMENT,
    summary="Schedule delivery or pickup (advisor)",
    opt={BODY_OPT: JSON_BODY},
    responses=problem_responses(401, 403, 404, 409, 415, 422),
)
def schedule(
    order_id: FromPath[str],
    data: JSONBody[DeliverySchedule],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> OrderBody:
    """Advisor only: set the date and time window."""
    schedule_delivery(checkout.ctx, actor, order_id, on=data.scheduled_date, time_window=data.time_window)
    return order_body(checkout, actor, order_id)


dispatch = order_step(
    "/delivery/dispatch",
    dispatch_order,
    name="dispatch",
    summary="Dispatch the vehicle (advisor)",
    description="Advisor only: the car leaves for the buyer (``in_transit``).",
    tags=FULFILMENT,
)


deliver = order_step(
    "/delivery/deliver",
    deliver_order,
    name="deliver",
    summary="Mark delivered or picked up (advisor)",
    description="Advisor only: the buyer has the car; the return window starts.",
    tags=FULFILMENT,
)


complete = order_step(
    "/complete",
    complete_order,
    name="complete",
    summary="Complete the purchase (advisor)",
    description="Advisor only: finalise a delivered order.",
    tags=FULFILMENT,
)


@post(
    ORDER + "/return",
    status_code=200,
    sync_to_thread=True,
    tags=FULFILMENT,
    summary="Take the vehicle back (advisor)",
    opt={BODY_OPT: JSON_BODY},
    operation_class=documented_operation(optional_body=True),
    responses=problem_responses(401, 403, 404, 409, 415, 422),
)
def take_back(
    order_id: FromPath[str],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
    data: JSONBody[ReasonIn | None] = None,
) -> OrderBody:
    """Advisor only: a return inside the return window; everything paid is refunded."""
    return_order(checkout.ctx, actor, order_id, reason=data.reason if data else None)
    return order_body(checkout, actor, order_id)


ROUTES = [schedule, dispatch, deliver, complete, take_back]
