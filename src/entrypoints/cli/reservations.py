"""``checkout reservations``: list and inspect holds, and the expiry and recovery jobs."""

from __future__ import annotations

from datetime import datetime

import click

from checkout_core.model.reservation import Reservation, ReservationStatus
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.recovery import recover_payments
from checkout_core.usecases.reservations import (
    cancel_reservation,
    expire_due_reservations,
    get_reservation,
    list_reservations,
    list_reservations_with_deposits,
)
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import (
    batch_size_option,
    domain_errors,
    emit_json,
    fields,
    interval_option,
    json_option,
    limit_option,
    loop_option,
    money,
    offset_option,
    run_sweep,
    table,
    when,
)
from entrypoints.cli.recovery import print_recovery, recovery_to_dict
from entrypoints.views import iso, reservation_to_dict


@click.group()
def reservations() -> None:
    """Vehicle reservations ($100 refundable holds)."""


@reservations.command("list")
@click.option(
    "--status", type=click.Choice([s.value for s in ReservationStatus]), default=None, help="Only this status."
)
@click.option("--customer", default=None, metavar="ID", help="Only this customer's reservations.")
@limit_option
@offset_option
@json_option
@pass_state
def list_(state: CliState, status: str | None, customer: str | None, limit: int, offset: int, as_json: bool) -> None:
    """List reservations, newest first."""
    wanted = ReservationStatus(status) if status else None
    with domain_errors():
        app = state.app()
        results = list_reservations_with_deposits(
            app.ctx, state.actor, status=wanted, customer_id=customer, limit=limit, offset=offset
        )
        rows = [result.reservation for result in results]
    if as_json:
        emit_json([reservation_to_dict(result.reservation, result.deposit) for result in results])
        return
    if not rows:
        click.echo("no reservations")
        return
    table(
        [
            (r.id, r.vehicle_id, r.customer_id, r.status.value, money(r.deposit), when(r.expires_at), r.order_id)
            for r in rows
        ],
        ("ID", "Vehicle", "Customer", "Status", "Deposit", "Expires at", "Order"),
    )


@reservations.command("show")
@click.argument("reservation_id")
@json_option
@pass_state
def show(state: CliState, reservation_id: str, as_json: bool) -> None:
    """Show one reservation and its deposit."""
    with domain_errors():
        result = get_reservation(state.app().ctx, state.actor, reservation_id)
    data = reservation_to_dict(result.reservation, result.deposit)
    if as_json:
        emit_json(data)
        return
    r, deposit = result.reservation, result.deposit
    fields(
        [
            ("Reservation", r.id),
            ("Status", r.status.value),
            ("Vehicle", r.vehicle_id),
            ("Customer", r.customer_id),
            ("Deposit", money(r.deposit)),
            (
                "Deposit charge",
                None
                if deposit is None
                else f"{deposit.gateway_ref or '(not charged)'} {deposit.status.value}"
                + (f", {money(deposit.refunded)} refunded" if deposit.refunded.cents else ""),
            ),
            ("Hold", f"{r.hold_hours} h"),
            ("Created at", when(r.created_at)),
            ("Expires at", when(r.expires_at)),
            ("Order", r.order_id),
        ]
    )


@reservations.command("cancel")
@click.argument("reservation_id")
@json_option
@pass_state
def cancel(state: CliState, reservation_id: str, as_json: bool) -> None:
    """Cancel a confirmed hold: the car goes back on sale and the deposit is refunded."""
    with domain_errors():
        result = cancel_reservation(state.app().ctx, state.actor, reservation_id)
    if as_json:
        emit_json(reservation_to_dict(result.reservation, result.deposit))
        return
    refunded = result.deposit.refunded if result.deposit is not None else None
    click.echo(
        f"reservation {result.reservation.id} {result.reservation.status.value}; "
        f"vehicle {result.reservation.vehicle_id} is available again; deposit refunded: {money(refunded)}"
    )


def _count_overdue(ctx: Context, actor: Actor, now: datetime) -> int:
    """How many confirmed holds are overdue now (the progress bar's length). The rule itself
    (``Reservation.is_overdue``) stays in the core."""
    count, offset, page = 0, 0, 500
    while True:
        batch: list[Reservation] = list(
            list_reservations(ctx, actor, status=ReservationStatus.CONFIRMED, limit=page, offset=offset)
        )
        count += sum(1 for r in batch if r.is_overdue(now))
        if len(batch) < page:
            return count
        offset += page


@reservations.command("expire")
@loop_option
@interval_option
@batch_size_option
@json_option
@pass_state
def expire(state: CliState, loop: bool, interval: float, batch_size: int, as_json: bool) -> None:
    """Expire confirmed holds past their expiry: release the car, refund the deposit.

    Several copies may run at once (on PostgreSQL each reservation is handled exactly once).
    With --loop it runs until SIGTERM or SIGINT, finishing the pass in progress."""
    ctx = state.app().ctx
    run_sweep(
        sweep=lambda: expire_due_reservations(ctx, batch_size=batch_size),
        count_due=lambda: _count_overdue(ctx, state.actor, ctx.clock.now()),
        now=lambda: iso(ctx.clock.now()) or "",
        counting=lambda advance: state.tap.counting("ReservationExpired", advance),
        label="Expiring reservations",
        noun="reservation",
        verb="expired",
        loop=loop,
        interval=interval,
        as_json=as_json,
    )


@reservations.command("recover")
@batch_size_option
@json_option
@pass_state
def recover(state: CliState, batch_size: int, as_json: bool) -> None:
    """Settle what a crash left behind, for every money flow (the same job as
    `checkout payments recover`): deposits stuck pending, card payments whose answer was lost,
    refunds owed but never opened, pending card refunds."""
    with domain_errors():
        data = recovery_to_dict(recover_payments(state.app().ctx, batch_size=batch_size))
    print_recovery(data, as_json)
