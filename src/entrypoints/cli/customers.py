"""``checkout customers``: what advisors need to know about a customer's account."""

from __future__ import annotations

import click

from checkout_core.usecases.rate_limits import customer_alerts
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import domain_errors, emit_json, json_option, table
from entrypoints.views import iso


@click.group()
def customers() -> None:
    """Customers' accounts."""


@customers.command("alerts")
@click.argument("customer_id")
@json_option
@pass_state
def alerts(state: CliState, customer_id: str, as_json: bool) -> None:
    """Abuse alerts for a customer, oldest first: ``CardTestingSuspected`` when their declined
    charges (or those from their address) reached the limit, after which charges are refused
    with ``too_many_attempts`` until the window passes."""
    if not customer_id.strip() or len(customer_id) > 100:
        raise click.BadParameter("must be a customer id of 1 to 100 characters", param_hint="CUSTOMER_ID")
    with domain_errors():
        found = customer_alerts(state.app().ctx, state.actor, customer_id.strip())
    if as_json:
        emit_json([{"id": e.id, "name": e.name, "occurredAt": iso(e.occurred_at), **e.payload} for e in found])
        return
    if not found:
        click.echo(f"no alerts for {customer_id}")
        return
    table(
        [
            (iso(e.occurred_at), e.name, e.payload.get("subject"), e.payload.get("clientIp"), e.payload.get("declines"))
            for e in found
        ],
        ["at", "alert", "limit on", "client address", "declines"],
    )
