"""``checkout vehicles list``: the cars and where each stands in the sales funnel."""

from __future__ import annotations

import click

from checkout_core.model.vehicle import VehicleStatus
from checkout_core.usecases.order_view import vehicle_to_dict
from checkout_core.usecases.reservations import list_vehicles
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import domain_errors, emit_json, json_option, limit_option, money, offset_option, table


@click.group()
def vehicles() -> None:
    """Cars for sale."""


@vehicles.command("list")
@click.option("--status", type=click.Choice([s.value for s in VehicleStatus]), default=None, help="Only this status.")
@limit_option
@offset_option
@json_option
@pass_state
def list_(state: CliState, status: str | None, limit: int, offset: int, as_json: bool) -> None:
    """List cars by id, with their status (available, reserved, sale_pending, sold, withdrawn)."""
    with domain_errors():
        app = state.app()
        wanted = VehicleStatus(status) if status else None
        cars = list(list_vehicles(app.ctx, status=wanted, limit=limit, offset=offset))
    if as_json:
        emit_json([vehicle_to_dict(car) for car in cars])
        return
    if not cars:
        click.echo("no vehicles" + (f" with status {status}" if status else ""))
        return
    table(
        [
            (car.id, car.title, car.colour, f"{car.odometer_km:,} km", money(car.price), car.status.value)
            for car in cars
        ],
        ("ID", "Vehicle", "Colour", "Odometer", "Price", "Status"),
    )
