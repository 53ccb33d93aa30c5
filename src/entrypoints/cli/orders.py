"""``checkout orders``: list, inspect and move orders through their state machine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click

from checkout_core.model.order import Order, OrderStatus
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.order_view import iso, order_details, order_to_dict
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
        view = order_to_dict(order_details(state.app().ctx, state.actor, order_id))
    if as_json:
        emit_json(view)
    else:
        print_order(view)


def print_order(view: Mapping[str, Any]) -> None:
    """The readable summary of an order view (the same dict ``--json`` prints)."""
    vehicle, contact, advisor = view["vehicle"], view["contactInfo"], view["advisor"]
    car = " ".join(str(vehicle[k]) for k in ("year", "make", "model", "trim") if vehicle.get(k))
    click.echo(f"Order {view['orderNumber']} ({view['orderId']}): {view['status']}")
    fields(
        [
            ("Vehicle", f"{car} ({vehicle['id']}, VIN {vehicle.get('vin') or '-'})"),
            ("Customer", f"{contact['firstName']} {contact['lastName']} <{contact['email']}>, {contact['phone']}"),
            ("Customer id", view["customerId"]),
            ("Reservation", view["reservationId"]),
            ("Advisor", None if advisor is None else f"{advisor['name']} ({advisor['id']})"),
            ("Placed at", view["createdAt"]),
            ("Updated at", view["updatedAt"]),
            ("Completed at", view["completedAt"]),
        ]
    )

    pricing = view["pricing"]
    heading(f"Pricing ({pricing['province']})")
    rows: list[tuple[str, str]] = [
        ("Vehicle price", money(pricing["vehiclePrice"])),
        ("Trade-in credit", money(pricing["tradeInCredit"])),
        ("Admin fee", money(pricing["adminFee"])),
        ("Documentation fee", money(pricing["documentationFee"])),
        ("Subtotal", money(pricing["subtotal"])),
    ]
    rows += [(f"{tax['kind']} {tax['rate'] * 100:g}%", money(tax["amount"])) for tax in pricing["taxes"]]
    rows += [("Total tax", money(pricing["taxAmount"])), ("Total due", money(pricing["totalDue"]))]
    table(rows, ("Item", "Amount"))

    payment = view["payment"]
    heading("Payment")
    pay: list[tuple[str, object]] = [
        ("Method", payment["method"]),
        ("Deposit paid", money(payment["depositPaid"])),
    ]
    if payment["method"] == "finance":
        pay += [
            ("Down payment paid", money(payment["downPaymentPaid"])),
            ("Financed", money(payment["financingAmount"])),
            ("Monthly payment", f"{money(payment['monthlyPayment'])} x {payment['termMonths']} months"),
            ("APR", f"{payment['aprPercent']}%"),
        ]
    pay += [
        ("Due from buyer", money(payment["amountDueFromBuyer"])),
        ("Paid", money(payment["totalPaid"])),
        ("Balance due", money(payment["balanceDue"])),
        ("Refunded", money(payment["refunded"])),
    ]
    fields(pay)

    heading("Documents")
    if view["documents"]:
        table(
            [(d["type"], d["status"], d["signedAt"] or "-", d["id"]) for d in view["documents"]],
            ("Type", "Status", "Signed at", "ID"),
        )
    else:
        click.echo("none")

    heading("Insurance")
    insurance = view["insurance"]
    if insurance is None:
        click.echo("not submitted yet")
    else:
        fields(
            [
                ("Status", insurance["status"]),
                ("Policy", f"{insurance['policyNumber']} ({insurance['provider']})"),
                ("Submitted at", insurance["submittedAt"]),
                ("Verified at", insurance["verifiedAt"]),
                ("Rejection reason", insurance["rejectionReason"]),
            ]
        )

    heading("Delivery")
    delivery = view["delivery"]
    address = delivery["address"]
    fields(
        [
            ("Method", delivery["method"]),
            ("Status", delivery["status"]),
            ("Preferred date", delivery["preferredDate"]),
            ("Scheduled", " ".join(p for p in (delivery["scheduledDate"], delivery["timeWindow"]) if p) or None),
            (
                "Address",
                None
                if address is None
                else f"{address['street']}, {address['city']} {address['province']} {address['postalCode']}",
            ),
        ]
    )

    heading("Timeline")
    table([(e["timestamp"], e["event"], e["status"]) for e in view["timeline"]], ("When", "Event", "Status"))
    if view["nextSteps"]:
        heading("Next steps")
        table([(s["step"], s["status"]) for s in view["nextSteps"]], ("Step", "Status"))


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
@click.option("--reason", default="cancelled_by_advisor", show_default=True, help=reason_option_help)
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
@click.option("--reason", default="returned_by_customer", show_default=True, help=reason_option_help)
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
