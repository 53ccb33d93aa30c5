"""How a hold ends without an order: cancelled by its buyer, or expired by the sweep; either way
the car goes back on sale and the deposit refund commits with the change (the money rule)."""

from __future__ import annotations

from checkout_core.errors import (
    NotFound,
)
from checkout_core.model.payments import RefundReason
from checkout_core.model.reservation import ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.refunds import open_refunds, send_refunds
from checkout_core.usecases.reservations.reading import ReservationResult, get_reservation


def cancel_reservation(ctx: Context, actor: Actor, reservation_id: str) -> ReservationResult:
    """Cancel a confirmed hold: the car goes back on sale and the deposit is refunded."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        reservation = uow.reservations.get(reservation_id, for_update=True)
        if reservation is None or not actor.may_see(reservation.customer_id):
            raise NotFound(f"reservation {reservation_id} not found")
        reservation.cancel(now=now)
        uow.reservations.save(reservation)
        uow.vehicles.set_status(reservation.vehicle_id, VehicleStatus.AVAILABLE, expected=VehicleStatus.RESERVED)
        # The money rule: the refund intent commits with the cancellation, so a crash after this
        # commit leaves a pending refund that recovery sends with the same key.
        payments = uow.ledger.payments_for(reservation_id=reservation.id)
        opened = open_refunds(ctx, uow, payments, RefundReason.RESERVATION_CANCELLED, now)
        uow.commit()
    send_refunds(ctx, opened)
    return get_reservation(ctx, actor, reservation_id)


def expire_due_reservations(ctx: Context, *, batch_size: int = 100) -> int:
    """Expire confirmed holds past ``expiresAt``: release the car, refund the deposit.

    Safe to run in several processes at once: each batch is claimed with row locks that other
    sweeps skip, and every state change is conditional. Returns how many were expired.
    """
    expired = 0
    while True:
        now = ctx.clock.now()
        # One transaction per batch, a fixed number of statements whatever its size: claim (with the
        # deposits), expire (conditional on ``confirmed``), release the cars, open the refunds and
        # reserve their amounts, outbox. The refunds are sent once it has committed.
        with ctx.uow() as uow:
            claimed = uow.reservations.claim_due_for_expiry(now, batch_size)
            due = [reservation for reservation, _ in claimed]
            opened = []
            if due:
                for reservation in due:
                    reservation.expire(now=now)
                uow.reservations.save(*due, expected_status=ReservationStatus.CONFIRMED)
                uow.vehicles.set_status(
                    [r.vehicle_id for r in due], VehicleStatus.AVAILABLE, expected=VehicleStatus.RESERVED
                )
                deposits = [deposit for _, deposit in claimed if deposit is not None]
                opened = open_refunds(ctx, uow, deposits, RefundReason.RESERVATION_EXPIRED, now)
                uow.commit()
        send_refunds(ctx, opened)
        expired += len(due)
        if len(due) < batch_size:
            break
    return expired
