"""Deposits left pending by a crash between the charge and its commit, or settled by the
gateway's webhook: asked of the gateway and settled, whoever gets there first."""

from __future__ import annotations

from checkout_core.errors import (
    Conflict,
    NotFound,
    PaymentGatewayUnavailable,
)
from checkout_core.model.reservation import ReservationStatus
from checkout_core.ports.payments import ChargeResult, ChargeStatus
from checkout_core.usecases.context import SYSTEM, Context
from checkout_core.usecases.reservations.reading import ReservationResult, get_reservation
from checkout_core.usecases.reservations.reserving import apply_deposit_outcome


def settle_deposit(ctx: Context, reservation_id: str, charge: ChargeResult | None) -> ReservationResult:
    """Settle a pending deposit from what the gateway says (``None``: no charge was ever made).

    Used by recovery and by gateway webhooks. A reservation already settled is left as it is;
    a decline is not raised (it is news to record, not an error of the caller)."""
    if charge is not None and charge.status is ChargeStatus.PENDING:
        return get_reservation(ctx, SYSTEM, reservation_id)
    try:
        with ctx.uow() as uow:
            reservation = uow.reservations.get(reservation_id, for_update=True)
            if reservation is None:
                raise NotFound(f"reservation {reservation_id} not found")
            payment = uow.ledger.get_payment(idempotency_key=reservation.deposit_idempotency_key)
            if reservation.status is ReservationStatus.PENDING_DEPOSIT and payment is not None:
                apply_deposit_outcome(ctx, uow, reservation, payment, charge)
                uow.commit()
    except Conflict:
        pass  # settled concurrently by the request or another settler
    return get_reservation(ctx, SYSTEM, reservation_id)


def recover_pending_deposits(ctx: Context, *, batch_size: int = 100) -> int:
    """Settle reservations left in pending_deposit by a crash between the charge and the commit:
    confirm those the gateway charged, release the others. Returns how many were settled."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        stale = list(uow.reservations.claim_stale_pending(now - ctx.policy.recovery_grace, batch_size))
        ledger_ids = {r.id: uow.ledger.get_payment(idempotency_key=r.deposit_idempotency_key) for r in stale}
    settled = 0
    for candidate in stale:
        deposit = ledger_ids.get(candidate.id)
        try:
            charge = ctx.gateway.find_charge(
                idempotency_key=candidate.deposit_idempotency_key, ledger_id=deposit.id if deposit else ""
            )
        except PaymentGatewayUnavailable:
            continue
        if settle_deposit(ctx, candidate.id, charge).reservation.status is not ReservationStatus.PENDING_DEPOSIT:
            settled += 1
    return settled
