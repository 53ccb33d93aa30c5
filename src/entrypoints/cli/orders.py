"""``checkout orders``: list, inspect and move orders through their state machine."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import click

from checkout_core.model.order import CloseReason, DocumentKind, Order, OrderStatus, PaymentChoice
from checkout_core.model.parties import Address
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.order_view import OrderDetails, next_steps, order_details, payment_progress, timeline
from checkout_core.usecases.orders import (
    advance_order,
    cancel_order,
    complete_due_orders,
    complete_order,
    list_orders,
    return_order,
)
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import (
    batch_size_option,
    domain_errors,
    emit_json,
    fields,
    heading,
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
from entrypoints.views import iso, order_to_dict

reason_option_help = "Why (kept with the order and sent with refunds)."


@click.group()
def orders() -> None:
    """Purchase orders."""


def _reason(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 200:
        raise click.BadParameter("must be 1 to 200 characters", param_hint="--reason")
    return value


def report_order(state: CliState, order: Order, as_json: bool, done: str) -> None:
    """After a change: the order's spec JSON with ``--json``, else one line saying what happened."""
    if as_json:
        with domain_errors():
            emit_json(order_to_dict(order_details(state.app().ctx, state.actor, order.id)))
        return
    click.echo(f"order {order.number} ({order.id}) {done}: now {order.status.value}")


@orders.command("list")
@click.option("--status", type=click.Choice([s.value for s in OrderStatus]), default=None, help="Only this status.")
@click.option("--advisor", default=None, metavar="ADVISOR_ID", help="Only orders assigned to this advisor.")
@limit_option
@offset_option
@json_option
@pass_state
def list_(state: CliState, status: str | None, advisor: str | None, limit: int, offset: int, as_json: bool) -> None:
    """List orders, newest first."""
    with domain_errors():
        ctx = state.app().ctx
        rows = list(
            list_orders(
                ctx,
                state.actor,
                status=OrderStatus(status) if status else None,
                advisor_id=advisor,
                limit=limit,
                offset=offset,
            )
        )
        if as_json:
            emit_json([order_to_dict(order_details(ctx, state.actor, o.id)) for o in rows])
            return
    if not rows:
        click.echo("no orders")
        return
    table(
        [
            (
                o.id,
                o.number,
                o.status.value,
                o.customer_id,
                o.vehicle_id,
                money(o.pricing.total_due),
                money(o.balance_due),
                o.advisor_id,
                when(o.created_at),
            )
            for o in rows
        ],
        ("ID", "Number", "Status", "Customer", "Vehicle", "Total", "Balance due", "Advisor", "Placed at"),
    )


@orders.command("show")
@click.argument("order_id")
@json_option
@pass_state
def show(state: CliState, order_id: str, as_json: bool) -> None:
    """Show one order: the spec's JSON with --json, a readable summary otherwise."""
    with domain_errors():
        details = order_details(state.app().ctx, state.actor, order_id)
    if as_json:
        emit_json(order_to_dict(details))
    else:
        print_order(details)


def _percent(rate: Decimal) -> str:
    """``13%``, ``9.975%``, from the rate's own digits."""
    return f"{float(str(rate)) * 100:g}%"


def _address(address: Address | None) -> str | None:
    return None if address is None else f"{address.street}, {address.city} {address.province} {address.postal_code}"


def print_order(details: OrderDetails) -> None:
    """The readable summary of an order, from the same values ``--json`` prints."""
    order, vehicle, advisor = details.order, details.vehicle, details.advisor
    contact = order.contact
    car = (
        ""
        if vehicle is None
        else " ".join(str(v) for v in (vehicle.year, vehicle.make, vehicle.model, vehicle.trim) if v)
    )
    vin = (vehicle.vin if vehicle else None) or "-"
    click.echo(f"Order {order.number} ({order.id}): {order.status.value}")
    fields(
        [
            ("Vehicle", f"{car} ({order.vehicle_id}, VIN {vin})"),
            ("Customer", f"{contact.first_name} {contact.last_name} <{contact.email}>, {contact.phone}"),
            ("Customer id", order.customer_id),
            ("Reservation", order.reservation_id),
            ("Advisor", None if advisor is None else f"{advisor.name} ({advisor.id})"),
            ("Placed at", iso(order.created_at)),
            ("Updated at", iso(order.updated_at)),
            ("Completed at", iso(order.completed_at)),
        ]
    )

    pricing = order.pricing
    heading(f"Pricing ({pricing.province})")
    rows: list[tuple[str, str]] = [
        ("Vehicle price", money(pricing.vehicle_price)),
        ("Trade-in credit", money(-pricing.trade_in_credit.cents)),
        ("Admin fee", money(pricing.admin_fee)),
        ("Documentation fee", money(pricing.documentation_fee)),
        ("Subtotal", money(pricing.subtotal)),
    ]
    rows += [(f"{line.kind} {_percent(line.rate)}", money(line.amount)) for line in pricing.tax.lines]
    rows += [("Total tax", money(pricing.tax.total)), ("Licence and plate fee", money(pricing.licence_fee))]
    rows += [("Total due", money(pricing.total_due))]
    table(rows, ("Item", "Amount"))

    progress = payment_progress(order)
    heading("Payment")
    pay: list[tuple[str, object]] = [("Method", progress.method.value), ("Deposit paid", money(progress.deposit_paid))]
    if progress.method is PaymentChoice.FINANCE:
        apr = None if progress.apr_percent is None else float(str(progress.apr_percent))
        pay += [
            ("Down payment paid", money(progress.down_payment_paid)),
            ("Financed", money(progress.financing_amount)),
            ("Monthly payment", f"{money(progress.monthly_payment)} x {progress.term_months} months"),
            ("APR", f"{apr}%"),
        ]
    pay += [
        ("Due from buyer", money(progress.amount_due_from_buyer)),
        ("Paid", money(progress.total_paid)),
        ("Balance due", money(progress.balance_due)),
        ("Refunded", money(progress.refunded)),
    ]
    fields(pay)

    heading("Documents")
    documents: list[tuple[str, str, str, str | None]] = [
        (d.kind.value, d.status, iso(d.signed_at) or "-", d.id) for d in order.documents
    ]
    if order.awaits_agreement:
        documents.append((DocumentKind.PURCHASE_AGREEMENT.value, "generating", "-", None))
    if documents:
        table(documents, ("Type", "Status", "Signed at", "ID"))
    else:
        click.echo("none")

    heading("Insurance")
    insurance = order.insurance
    if insurance is None:
        click.echo("not submitted yet")
    else:
        fields(
            [
                ("Status", insurance.status.value),
                ("Policy", f"{insurance.policy_number} ({insurance.provider})"),
                ("Submitted at", iso(insurance.submitted_at)),
                ("Verified at", iso(insurance.verified_at)),
                ("Rejection reason", insurance.rejection_reason),
            ]
        )

    heading("Delivery")
    delivery = order.delivery
    scheduled = delivery.scheduled_date.isoformat() if delivery.scheduled_date else None
    fields(
        [
            ("Method", delivery.method.value),
            ("Status", delivery.status.value),
            ("Preferred date", delivery.preferred_date.isoformat() if delivery.preferred_date else None),
            ("Scheduled", " ".join(p for p in (scheduled, delivery.time_window) if p) or None),
            ("Address", _address(delivery.address)),
        ]
    )

    heading("Timeline")
    table([(iso(e.at), e.event, e.status) for e in timeline(order, details.events)], ("When", "Event", "Status"))
    steps = next_steps(order)
    if steps:
        heading("Next steps")
        table([(s.step, s.status) for s in steps], ("Step", "Status"))


@orders.command("advance")
@click.argument("order_id")
@json_option
@pass_state
def advance(state: CliState, order_id: str, as_json: bool) -> None:
    """Take the next step an advisor can take: dispatch, deliver (or hand over a pickup), complete."""
    with domain_errors():
        order = advance_order(state.app().ctx, state.actor, order_id)
    report_order(state, order, as_json, "advanced")


@orders.command("cancel")
@click.argument("order_id")
@click.option("--reason", default=CloseReason.CANCELLED_BY_ADVISOR.value, show_default=True, help=reason_option_help)
@json_option
@pass_state
def cancel(state: CliState, order_id: str, reason: str, as_json: bool) -> None:
    """Cancel before dispatch: refund everything paid (deposit included), put the car back on sale."""
    reason = _reason(reason)
    with domain_errors():
        order = cancel_order(state.app().ctx, state.actor, order_id, reason)
    report_order(state, order, as_json, "cancelled")


@orders.command("return")
@click.argument("order_id")
@click.option("--reason", default=CloseReason.RETURNED_BY_CUSTOMER.value, show_default=True, help=reason_option_help)
@json_option
@pass_state
def return_(state: CliState, order_id: str, reason: str, as_json: bool) -> None:
    """Take the car back inside the return window: refund everything, put the car back on sale."""
    reason = _reason(reason)
    with domain_errors():
        order = return_order(state.app().ctx, state.actor, order_id, reason)
    report_order(state, order, as_json, "returned")


@orders.command("complete")
@click.argument("order_id")
@json_option
@pass_state
def complete(state: CliState, order_id: str, as_json: bool) -> None:
    """Finalise a delivered order now (the buyer waives the rest of the return window)."""
    with domain_errors():
        order = complete_order(state.app().ctx, state.actor, order_id)
    report_order(state, order, as_json, "completed")


def _count_due(ctx: Context, actor: Actor, now: datetime) -> int:
    """How many delivered orders have a closed return window (the progress bar's length); the
    rule itself (``Order.return_window_closes_at``) stays in the core."""
    window = ctx.policy.return_window
    count, offset, page = 0, 0, 500
    while True:
        batch = list(list_orders(ctx, actor, status=OrderStatus.DELIVERED, limit=page, offset=offset))
        for order in batch:
            closes = order.return_window_closes_at(window)
            if closes is not None and closes <= now:
                count += 1
        if len(batch) < page:
            return count
        offset += page


@orders.command("complete-due")
@loop_option
@interval_option
@batch_size_option
@json_option
@pass_state
def complete_due(state: CliState, loop: bool, interval: float, batch_size: int, as_json: bool) -> None:
    """Complete delivered orders whose return window has closed (CHECKOUT_RETURN_WINDOW_DAYS).

    Safe to run in several copies. With --loop it runs until SIGTERM or SIGINT."""
    ctx = state.app().ctx
    run_sweep(
        sweep=lambda: complete_due_orders(ctx, batch_size=batch_size),
        count_due=lambda: _count_due(ctx, state.actor, ctx.clock.now()),
        now=lambda: iso(ctx.clock.now()) or "",
        counting=lambda advance: state.tap.counting("PurchaseCompleted", advance),
        label="Completing orders",
        noun="order",
        verb="completed",
        loop=loop,
        interval=interval,
        as_json=as_json,
    )
