"""Reading reservations: one by id (with its deposit), lists for customers and advisors, and the
catalogue of cars as the checkout sees it."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from checkout_core.errors import (
    NotFound,
)
from checkout_core.model.payments import Payment
from checkout_core.model.reservation import Reservation, ReservationStatus
from checkout_core.model.vehicle import Vehicle, VehicleStatus
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Actor, Context


@attrs.frozen(kw_only=True)
class ReservationResult:
    """A reservation and its deposit payment, as the API shows them."""

    reservation: Reservation
    deposit: Payment | None


def get_reservation(ctx: Context, actor: Actor, reservation_id: str) -> ReservationResult:
    """A reservation the caller may see (anyone else's is NotFound)."""
    with ctx.uow() as uow:
        reservation = uow.reservations.get(reservation_id)
        if reservation is None or not actor.may_see(reservation.customer_id):
            raise NotFound(f"reservation {reservation_id} not found")
        payment = uow.ledger.get_payment(idempotency_key=reservation.deposit_idempotency_key)
    return ReservationResult(reservation=reservation, deposit=payment)


def list_reservations(
    ctx: Context,
    actor: Actor,
    *,
    status: ReservationStatus | None = None,
    customer_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Reservation]:
    """Reservations the caller may see: their own, or all (optionally one customer's) for advisors."""
    with ctx.uow() as uow:
        return _visible(uow, actor, status, customer_id, limit, offset)


def list_reservations_with_deposits(
    ctx: Context,
    actor: Actor,
    *,
    status: ReservationStatus | None = None,
    customer_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ReservationResult]:
    """Like :func:`list_reservations`, each with its deposit payment (two statements per page)."""
    with ctx.uow() as uow:
        rows = _visible(uow, actor, status, customer_id, limit, offset)
        deposits = {
            p.idempotency_key: p
            for p in uow.ledger.payments_for(idempotency_keys=[r.deposit_idempotency_key for r in rows])
        }
    return [ReservationResult(reservation=r, deposit=deposits.get(r.deposit_idempotency_key)) for r in rows]


def list_vehicles(
    ctx: Context, *, status: VehicleStatus | None = None, limit: int = 100, offset: int = 0
) -> Sequence[Vehicle]:
    """The catalogue as the checkout sees it (public: no personal data)."""
    with ctx.uow() as uow:
        return uow.vehicles.list(status=status, limit=limit, offset=offset)


def _visible(
    uow: UnitOfWork, actor: Actor, status: ReservationStatus | None, customer_id: str | None, limit: int, offset: int
) -> Sequence[Reservation]:
    """A page of the reservations ``actor`` may see: their own; advisors all, or one customer's."""
    return uow.reservations.list(
        customer_id=customer_id if actor.is_staff else actor.id, status=status, limit=limit, offset=offset
    )
