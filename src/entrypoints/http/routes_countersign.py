"""``POST /orders/{orderId}/documents/countersign``: the dealer countersigns the agreement
(advisors only). The agreement is executed once both the buyer and the dealer have signed."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import countersign_agreement
from entrypoints.bootstrap import App
from entrypoints.http.idempotency import OptionalIdempotencyKey
from entrypoints.http.order_routes import DOCUMENTS, ORDER, order_body
from entrypoints.http.problems import problem_responses
from entrypoints.http.routes_signing import client_ip
from entrypoints.http.schemas import OrderBody


@post(
    ORDER + "/documents/countersign",
    status_code=200,
    sync_to_thread=True,
    tags=DOCUMENTS,
    summary="Countersign the purchase agreement (advisor)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def countersign(
    order_id: FromPath[str],
    request: Request[Any, Any, Any],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> OrderBody:
    """Advisor only: countersign the agreement the buyer signed, as the calling advisor. The new
    signed copy carries both signatures on their lines; the agreement's status becomes
    ``executed`` and the timeline shows "Agreement countersigned by the dealer". 409
    ``illegal_transition`` before the buyer signed, or once it is executed."""
    countersign_agreement(
        checkout.ctx,
        actor,
        order_id,
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent", "")[:500],
    )
    return order_body(checkout, actor, order_id)


ROUTES = [countersign]
