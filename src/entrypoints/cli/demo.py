"""``checkout demo load``: the spec's example world (idempotent)."""

from __future__ import annotations

import click

from checkout_core.demo import (
    DEMO_CUSTOMER_ID,
    DEMO_FINANCING_ID,
    DEMO_TRADE_IN_ID,
    DEMO_VEHICLE_ID,
    demo_advisors,
    demo_vehicles,
    load_demo,
)
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import domain_errors, emit_json, fields, json_option


@click.group()
def demo() -> None:
    """Demo data for trying the API and the CLI."""


@demo.command("load")
@json_option
@pass_state
def load(state: CliState, as_json: bool) -> None:
    """Load the spec's example (cus_demo, veh_abc123, trade_123, app_xyz789, Sarah Johnson) and a
    catalogue of cars. Loading again changes nothing: cars already present keep their status."""
    with domain_errors():
        added = load_demo(state.app().ctx.uow)
    catalogue = len(demo_vehicles())
    data = {
        "vehiclesAdded": added,
        "vehiclesInCatalogue": catalogue,
        "vehicleId": DEMO_VEHICLE_ID,
        "customerId": DEMO_CUSTOMER_ID,
        "tradeInId": DEMO_TRADE_IN_ID,
        "financingApplicationId": DEMO_FINANCING_ID,
        "advisorIds": [a.id for a in demo_advisors()],
    }
    if as_json:
        emit_json(data)
        return
    fields(
        [
            ("Vehicles", f"{added} added, {catalogue - added} already present (spec's car: {DEMO_VEHICLE_ID})"),
            ("Customer", f"{DEMO_CUSTOMER_ID} (John Doe)"),
            ("Trade-in offer", DEMO_TRADE_IN_ID),
            ("Financing application", DEMO_FINANCING_ID),
            ("Advisors", ", ".join(f"{a.id} ({a.name})" for a in demo_advisors())),
        ]
    )
