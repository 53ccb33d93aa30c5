"""What the ``/orders/{orderId}/…`` route modules share: the path, the tags, the order body every
step answers with, and one factory for the many advisor steps that take no body."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from litestar import post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.order_view import order_details
from entrypoints.bootstrap import App
from entrypoints.http.idempotency import OptionalIdempotencyKey
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import OrderBody, order_to_body

ORDER = "/orders/{order_id:str}"

ORDERS = ["orders"]
DOCUMENTS = ["documents"]
INSURANCE = ["insurance"]
PAYMENTS = ["payments"]
FULFILMENT = ["delivery"]


def order_body(checkout: NamedDependency[App], actor: NamedDependency[Actor], order_id: FromPath[str]) -> OrderBody:
    """The spec's order body, read fresh (with the car, the advisor and the timeline)."""
    return order_to_body(order_details(checkout.ctx, actor, order_id))


def order_step(
    path: str,
    step: Callable[[Context, Actor, str], object],
    *,
    name: str,
    summary: str,
    description: str,
    tags: list[str],
    statuses: Sequence[int] = (401, 403, 404, 409, 422),
) -> HTTPRouteHandler:
    """``POST /orders/{orderId}<path>`` with no body: run ``step`` for the caller and answer with
    the order as it now stands (who may take the step is the use case's decision)."""

    def handler(
        order_id: FromPath[str],
        checkout: NamedDependency[App],
        actor: NamedDependency[Actor],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> OrderBody:
        step(checkout.ctx, actor, order_id)
        return order_body(checkout, actor, order_id)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = description  # the operation's description in the OpenAPI document
    route = post(
        ORDER + path,
        status_code=200,
        sync_to_thread=True,
        tags=tags,
        summary=summary,
        responses=problem_responses(*statuses),
    )
    return route(handler)
