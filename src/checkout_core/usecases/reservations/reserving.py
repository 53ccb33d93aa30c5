"""The reservation saga (design.md): claim the car, charge the deposit, confirm. Each step is its
own short transaction; the gateway is never called while a transaction (and its row locks) is
open."""

from __future__ import annotations

import base64
import hashlib

import attrs

from checkout_core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PaymentDeclined,
    ReservationLimitReached,
    ValidationFailed,
    VehicleUnavailable,
)
from checkout_core.model.payments import Payment, PaymentMethod, PaymentPurpose, PaymentStatus, Refund, RefundReason
from checkout_core.model.reservation import Reservation, ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.ports.payments import ChargeResult, ChargeStatus
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.charges import apply_charge, settle_late_charge
from checkout_core.usecases.context import SYSTEM, Actor, Context
from checkout_core.usecases.rate_limits import check_reservation_attempt, record_decline
from checkout_core.usecases.refunds import open_refunds, send_refunds
from checkout_core.usecases.reservations.reading import ReservationResult, get_reservation


def reserve_vehicle(
    ctx: Context, actor: Actor, *, vehicle_id: str, payment_token: str, request_key: str | None = None
) -> ReservationResult:
    """Reserve a car for the caller with the deposit charged to ``payment_token``.

    ``request_key`` names the request (HTTP: the ``Idempotency-Key``): a retry with the same key
    is answered with the reservation the first attempt made, whatever became of it — confirmed
    (the same answer), declined (PaymentDeclined again), or still waiting for the gateway's answer
    (asked again with the same gateway key, so the card is never charged twice).

    Raises VehicleUnavailable (someone else holds it), ReservationLimitReached, PaymentDeclined
    (the car is released again), PaymentGatewayUnavailable (left pending for recovery) or
    TooManyAttempts (rate limits: too many attempts or declines; nothing claimed or charged).
    """
    if not payment_token or len(payment_token) > 255:
        raise ValidationFailed("a payment token is required", field="paymentMethod.token")
    check_reservation_attempt(ctx, actor)
    reservation_id = _reservation_id_for(actor, request_key) if request_key else None
    try:
        claimed = _claim(ctx, actor, vehicle_id, reservation_id)
    except (ReservationLimitReached, VehicleUnavailable, Conflict):
        # Refused after the claim had written (an overdue hold freed, then the car taken again;
        # the hold's own id taken at the commit): rolled back. A retry's first attempt may be in
        # the way: looked for in a transaction of its own.
        if reservation_id is None:
            raise
        with ctx.uow() as uow:
            earlier = _earlier_attempt(uow, reservation_id)
        if earlier is None:
            raise
        claimed = earlier
    if isinstance(claimed, _Refused):
        raise claimed.error
    if isinstance(claimed, _Earlier):
        if claimed.reservation.vehicle_id != vehicle_id:
            raise ValidationFailed("this request key was used for another vehicle", field="vehicleId")
        return _answer_again(ctx, actor, claimed.reservation, claimed.deposit, payment_token)
    reservation, payment, opened = claimed
    if opened:
        send_refunds(ctx, opened)  # the deposit of an overdue hold this claim expired
    return _charge_deposit(ctx, actor, reservation, payment, payment_token)


@attrs.frozen
class _Refused:
    """A refusal decided before the claim wrote anything, its transaction already ended."""

    error: DomainError


@attrs.frozen
class _Earlier:
    """What a retried request's first attempt left: its hold and the hold's deposit."""

    reservation: Reservation
    deposit: Payment | None


def _earlier_attempt(uow: UnitOfWork, reservation_id: str) -> _Earlier | None:
    """The hold a request with this key made before, with its deposit (None: it made none)."""
    earlier = uow.reservations.get(reservation_id)
    if earlier is None:
        return None
    return _Earlier(earlier, uow.ledger.get_payment(idempotency_key=earlier.deposit_idempotency_key))


def _reservation_id_for(actor: Actor, request_key: str) -> str:
    """The reservation a keyed request makes: derived from the caller and the key, so that a retry
    finds what the first attempt wrote (the id is a digest: the key itself is never stored)."""
    digest = hashlib.sha256(f"{actor.id}\n{request_key}".encode()).digest()
    return "res_" + base64.b32encode(digest[:10]).decode("ascii").lower()


def _charge_deposit(
    ctx: Context, actor: Actor, reservation: Reservation, payment: Payment, token: str
) -> ReservationResult:
    """Saga step 2, then 3. If the gateway raises PaymentGatewayUnavailable the charge may or may
    not have happened: the reservation stays pending_deposit and recovery (or a retry) asks the
    gateway with the same key and settles it. A decline counts against the card-testing limits."""
    charge = ctx.gateway.charge(
        amount=reservation.deposit,
        source=token,
        idempotency_key=reservation.deposit_idempotency_key,
        description=f"Refundable deposit for reservation {reservation.id}",
        metadata={"reservation_id": reservation.id, "ledger_id": payment.id, "vehicle_id": reservation.vehicle_id},
    )
    try:
        return _settle(ctx, reservation, payment, charge)
    finally:
        if charge.status is ChargeStatus.FAILED:
            record_decline(ctx, actor)


def _answer_again(
    ctx: Context, actor: Actor, reservation: Reservation, deposit: Payment | None, token: str
) -> ReservationResult:
    """A retried request: the first attempt's outcome, never a second charge."""
    if reservation.status is ReservationStatus.PENDING_DEPOSIT and deposit is not None:
        # The first attempt's answer was lost. Ask the gateway before charging again: Stripe
        # forgets idempotency keys after 24 h (and the emulator ignores them).
        charge = ctx.gateway.find_charge(idempotency_key=reservation.deposit_idempotency_key, ledger_id=deposit.id)
        if charge is None:
            return _charge_deposit(ctx, actor, reservation, deposit, token)
        return _settle(ctx, reservation, deposit, charge)
    if reservation.status is ReservationStatus.FAILED:
        raise _declined(reservation, deposit, None)
    return ReservationResult(reservation=reservation, deposit=deposit)


def _declined(reservation: Reservation, deposit: Payment | None, charge: ChargeResult | None) -> PaymentDeclined:
    """The 402 of a declined deposit, from the gateway's answer or the ledger's record of it."""
    code = (charge.decline_code if charge is not None else None) or (deposit.failure_code if deposit else None)
    message = (charge.message if charge is not None else None) or "the card was declined"
    return PaymentDeclined(message, decline_code=code, reservation_id=reservation.id)


def _claim(
    ctx: Context, actor: Actor, vehicle_id: str, reservation_id: str | None
) -> tuple[Reservation, Payment, list[tuple[Refund, Payment]]] | _Earlier | _Refused:
    """Saga step 1. The happy path is the count with the car's claim (one statement on
    PostgreSQL), then two inserts and the outbox; the car's existence and any overdue hold are
    looked at only if the claim fails.
    An overdue hold found on the car is expired here, and its deposit refund opened in the same
    transaction (returned, for sending once this commits).

    A refusal decided before anything was written (the caller's limit, a car someone holds, no
    such car) is returned, its transaction ended as the use case's last so that an HTTP request
    stores its answer in it (one transaction where the loser of a race used three); a request
    with a key first looks, in the same transaction, for the hold its first attempt made."""
    now = ctx.clock.now()
    reservation = Reservation.start(
        id=reservation_id or ctx.ids.new("res"),
        vehicle_id=vehicle_id,
        customer_id=actor.id,
        deposit=ctx.policy.deposit,
        hold_hours=ctx.policy.hold_hours,
        now=now,
    )
    payment = Payment(
        id=ctx.ids.new("pay"),
        purpose=PaymentPurpose.DEPOSIT,
        method=PaymentMethod.CARD,
        amount=reservation.deposit,
        status=PaymentStatus.PENDING,
        idempotency_key=reservation.deposit_idempotency_key,
        reservation_id=reservation.id,
        created_at=now,
        updated_at=now,
    )
    with ctx.uow() as uow:
        lapsed = None
        limit = ctx.policy.max_active_reservations
        # The hold and its deposit intent go with the claim: on PostgreSQL one statement,
        # committed as it ends (nothing follows it in this step). A hold refused by its own
        # INSERT (another active hold on the car, its id taken) leaves this unit of work, as the
        # commit's refusal did: its transaction may be aborted.
        claim = uow.reservations.claim_car(
            vehicle_id, customer_id=actor.id, now=now, limit=limit, hold=(reservation, payment)
        )
        if claim.hold_made:
            uow.commit()
            return reservation, payment, []
        try:
            if claim.held >= limit:
                raise ReservationLimitReached(f"you already hold {limit} active reservation(s)", limit=limit)
            if not claim.claimed:
                if not claim.car_exists:
                    raise NotFound(f"vehicle {vehicle_id} not found")
                lapsed = _free_lapsed_hold(ctx, uow, vehicle_id)
                # Claim again when no hold has the car (or, below, once we freed it): looking for
                # the hold waits on its row lock, and the lock may have been an expiry sweep that
                # has since released the car. Without this second look every buyer racing that
                # sweep is told the car is taken while it stands free (seen under load: a
                # contested car, no winner).
                if lapsed is None and not uow.vehicles.set_status(
                    vehicle_id, VehicleStatus.RESERVED, expected=VehicleStatus.AVAILABLE
                ):
                    raise VehicleUnavailable(f"vehicle {vehicle_id} is not available", vehicle_id=vehicle_id)
        except (ReservationLimitReached, VehicleUnavailable, NotFound) as refused:
            # No earlier attempt to look for when the claim said the hold's id is free.
            earlier_possible = claim.hold_id_taken is not False
            return _refusal(uow, refused, reservation_id if earlier_possible else None)
        opened: list[tuple[Refund, Payment]] = []
        if lapsed is not None:
            deposits = uow.ledger.payments_for(reservation_id=lapsed.id)
            opened = open_refunds(ctx, uow, deposits, RefundReason.RESERVATION_EXPIRED, now)
            if not uow.vehicles.set_status(vehicle_id, VehicleStatus.RESERVED, expected=VehicleStatus.AVAILABLE):
                raise VehicleUnavailable(f"vehicle {vehicle_id} is not available", vehicle_id=vehicle_id)
        # Claimed the second time (an overdue hold freed, or a sweep's release seen): the hold,
        # the deposit intent and their events in one statement where that saves round trips; a
        # second hold on the car is still VehicleUnavailable (raised by the commit).
        with uow.together():
            uow.reservations.add(reservation)
            uow.ledger.add_payment(payment)
            uow.commit()
    return reservation, payment, opened


def _refusal(uow: UnitOfWork, refused: DomainError, reservation_id: str | None) -> _Earlier | _Refused:
    """Inside the claim's transaction, which has written nothing: the first attempt's hold if a
    retry finds one in its way (the caller's own limit, or the car it holds: looked for only now,
    so a first attempt costs no extra read), else the refusal, committed as the use case's last
    transaction. Either way the transaction commits: under an ``Idempotency-Key`` its claim must
    outlive it, above all before a retry asks the gateway about its first attempt's charge (a
    duplicate request then finds the key in progress instead of running the use case too)."""
    if reservation_id is not None and not isinstance(refused, NotFound):
        earlier = _earlier_attempt(uow, reservation_id)
        if earlier is not None:
            uow.commit()  # not final: the gateway may be asked next
            return earlier
    uow.mark_final()  # nothing follows but the refusal itself
    uow.commit()
    return _Refused(refused)


def _free_lapsed_hold(ctx: Context, uow: UnitOfWork, vehicle_id: str) -> Reservation | None:
    """The car did not claim: VehicleUnavailable if a live hold has it (the usual loser of a race,
    decided without another statement); an overdue hold is expired here and returned, because
    availability treats it as expired before any sweep runs (the caller refunds its deposit once
    this transaction has committed); None when no hold has the car (it was sold, or a sweep just
    released it)."""
    now = ctx.clock.now()
    holder = uow.reservations.active_for_vehicle(vehicle_id)
    if holder is None:
        return None
    if not holder.is_overdue(now):
        raise VehicleUnavailable(f"vehicle {vehicle_id} is not available", vehicle_id=vehicle_id)
    holder.expire(now=now)
    uow.reservations.save(holder)
    uow.vehicles.set_status(vehicle_id, VehicleStatus.AVAILABLE, expected=VehicleStatus.RESERVED)
    return holder


def apply_deposit_outcome(
    ctx: Context, uow: UnitOfWork, reservation: Reservation, payment: Payment, charge: ChargeResult | None
) -> None:
    """Saga step 3 inside ``uow``: confirm on success, release the car otherwise. Both rows are
    written only if still pending, so the request and the recovery job can never both settle."""
    now = ctx.clock.now()
    succeeded = charge is not None and charge.status is ChargeStatus.SUCCEEDED
    if charge is not None:
        apply_charge(payment, charge, now)
    else:
        payment.status = PaymentStatus.FAILED
        payment.failure_code = "charge_not_made"
        payment.updated_at = now
    uow.ledger.save_payment(payment, expected_status=PaymentStatus.PENDING)
    if charge is not None and succeeded:
        reservation.confirm(charge_id=charge.ref, now=now)
    else:
        reason = (charge.decline_code or "card_declined") if charge is not None else "charge_not_made"
        reservation.fail(reason=reason, now=now)
        uow.vehicles.set_status(reservation.vehicle_id, VehicleStatus.AVAILABLE, expected=VehicleStatus.RESERVED)
    uow.reservations.save(reservation, expected_status=ReservationStatus.PENDING_DEPOSIT)


def _settle(ctx: Context, reservation: Reservation, payment: Payment, charge: ChargeResult) -> ReservationResult:
    """Saga step 3 for the request that made the charge (no re-read: three statements)."""
    if charge.status is ChargeStatus.PENDING:
        return ReservationResult(reservation=reservation, deposit=payment)  # recovery asks again later
    try:
        with ctx.uow() as uow, uow.together():  # the payment and the reservation in one statement
            apply_deposit_outcome(ctx, uow, reservation, payment, charge)
            # The answer is all that follows, and known now (a decline is raised, not returned):
            # a request may store it with the writes, one statement.
            if charge.status is ChargeStatus.FAILED:
                outcome: object = _declined(reservation, payment, charge)
            else:
                outcome = ReservationResult(reservation=reservation, deposit=payment)
            uow.mark_final(outcome=outcome)
            uow.commit()
    except Conflict:
        # A webhook or the recovery job settled it first (this request was slow): answer with
        # what was decided — a declined deposit is a 402 whoever recorded it.
        decided = get_reservation(ctx, SYSTEM, reservation.id)
        if decided.reservation.status is not ReservationStatus.FAILED:
            return decided
        if charge.status is ChargeStatus.SUCCEEDED:
            # Released as "never charged" before the charge showed: the money goes back.
            settle_late_charge(ctx, payment.id, charge, reason=RefundReason.LATE_PAYMENT)
            raise PaymentDeclined(
                "the hold was released before the deposit went through; the deposit is refunded",
                decline_code="hold_released",
                reservation_id=reservation.id,
            ) from None
        raise _declined(reservation, decided.deposit, charge) from None
    if isinstance(outcome, PaymentDeclined):
        raise outcome
    return ReservationResult(reservation=reservation, deposit=payment)
