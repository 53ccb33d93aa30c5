"""``checkout delivery``: schedule, dispatch and hand over the car."""

from __future__ import annotations

from datetime import datetime

import click

from checkout_core.usecases.orders import deliver_order, dispatch_order, schedule_delivery
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.orders import report_order
from entrypoints.cli.output import domain_errors, json_option


@click.group()
def delivery() -> None:
    """Delivery and pickup."""


@delivery.command("schedule")
@click.argument("order_id")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True, help="YYYY-MM-DD.")
@click.option("--window", required=True, help='Time window, e.g. "10:00 AM - 2:00 PM".')
@json_option
@pass_state
def schedule(state: CliState, order_id: str, day: datetime, window: str, as_json: bool) -> None:
    """Set (or move) the delivery or pickup appointment; allowed until the car leaves."""
    with domain_errors():
        order = schedule_delivery(state.app().ctx, state.actor, order_id, on=day.date(), time_window=window.strip())
    report_order(state, order, as_json, f"{order.delivery.method.value} scheduled for {day.date()} {window.strip()}")


@delivery.command("dispatch")
@click.argument("order_id")
@json_option
@pass_state
def dispatch(state: CliState, order_id: str, as_json: bool) -> None:
    """The car leaves for the buyer (home delivery, once scheduled and paid)."""
    with domain_errors():
        order = dispatch_order(state.app().ctx, state.actor, order_id)
    report_order(state, order, as_json, "dispatched")


@delivery.command("deliver")
@click.argument("order_id")
@json_option
@pass_state
def deliver(state: CliState, order_id: str, as_json: bool) -> None:
    """The buyer has the car (delivered, or picked up); the return window starts."""
    with domain_errors():
        order = deliver_order(state.app().ctx, state.actor, order_id)
    report_order(state, order, as_json, "delivered")
