"""``/api/v1/reservations``: hold a car with the refundable deposit, read, list and cancel."""

from __future__ import annotations

from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from checkout_core.model.reservation import ReservationStatus
from checkout_core.usecases.context import Actor
from checkout_core.usecases.reservations import (
    ReservationResult,
    cancel_reservation,
    get_reservation,
    list_reservations_with_deposits,
    reserve_vehicle,
)
from entrypoints.bootstrap import App
from entrypoints.http.idempotency import (
    ANSWER_OPT,
    CLAIM_OPT,
    IDEMPOTENCY_OPT,
    REQUIRED,
    WITH_FIRST_STATEMENT,
    RequiredIdempotencyKey,
)
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import (
    BODY_OPT,
    JSON_BODY,
    Limit,
    Offset,
    ReservationBody,
    ReservationCreate,
    ReservationList,
    to_body,
)
from entrypoints.views import reservation_to_dict

TAGS = ["reservations"]


def _body(result: ReservationResult) -> ReservationBody:
    return to_body(reservation_to_dict(result.reservation, result.deposit), ReservationBody)


@post(
    "/reservations",
    status_code=201,
    sync_to_thread=True,
    tags=TAGS,
    summary="Reserve a vehicle",
    opt={IDEMPOTENCY_OPT: REQUIRED, CLAIM_OPT: WITH_FIRST_STATEMENT, ANSWER_OPT: _body, BODY_OPT: JSON_BODY},
    responses=problem_responses(401, 402, 404, 409, 415, 422, 503),
)
def create_reservation(
    data: JSONBody[ReservationCreate],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: RequiredIdempotencyKey,
) -> ReservationBody:
    """Hold the car for the caller and charge the $100 refundable deposit to the card token.

    A retry with the same ``Idempotency-Key`` after a 5xx or a lost answer is answered with the
    reservation the first attempt made (201), or its decline (402); the card is never charged twice.
    402 ``payment_declined`` (the car is released again), 409 ``vehicle_unavailable`` or
    ``reservation_limit_reached``, 404 for an unknown vehicle, 503 if the gateway is down."""
    result = reserve_vehicle(
        checkout.ctx,
        actor,
        vehicle_id=data.vehicle_id,
        payment_token=data.payment_method.token,
        request_key=idempotency_key,  # a retry after a crash or a 5xx is answered with this reservation
    )
    return _body(result)


@get(
    "/reservations",
    sync_to_thread=True,
    tags=TAGS,
    summary="List reservations",
    responses=problem_responses(401),
)
def list_all(
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    status: FromQuery[ReservationStatus | None] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ReservationList:
    """The caller's reservations (advisors: everyone's), newest first."""
    results = list_reservations_with_deposits(checkout.ctx, actor, status=status, limit=limit, offset=offset)
    items = [_body(result) for result in results]
    return ReservationList(items=items, limit=limit, offset=offset)


@get(
    "/reservations/{reservation_id:str}",
    sync_to_thread=True,
    tags=TAGS,
    summary="Get a reservation",
    responses=problem_responses(401, 404),
)
def get_one(
    reservation_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]
) -> ReservationBody:
    """One reservation of the caller's (another customer's is 404)."""
    return _body(get_reservation(checkout.ctx, actor, reservation_id))


@delete(
    "/reservations/{reservation_id:str}",
    status_code=200,
    sync_to_thread=True,
    tags=TAGS,
    summary="Cancel a reservation",
    responses=problem_responses(401, 404, 409),
)
def cancel(
    reservation_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]
) -> ReservationBody:
    """Cancel a confirmed hold: the car goes back on sale and the deposit is refunded.

    409 ``reservation_not_usable`` if it is not an active hold (already used, expired …)."""
    return _body(cancel_reservation(checkout.ctx, actor, reservation_id))


ROUTES = [create_reservation, list_all, get_one, cancel]
