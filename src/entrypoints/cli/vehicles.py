"""``checkout vehicles list``: the cars and where each stands in the sales funnel; ``add`` lists
a car (its VIN checked), ``check-vin`` checks a VIN."""

from __future__ import annotations

import click

from checkout_core.model.vehicle import Disclosure, DisclosureKind, Vehicle, VehicleStatus, Warranty, WarrantyKind
from checkout_core.model.vin import validate_vin
from checkout_core.money import Money
from checkout_core.usecases.reservations import list_vehicles
from checkout_core.usecases.vehicles import add_vehicle
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import domain_errors, emit_json, json_option, limit_option, money, offset_option, table
from entrypoints.views import vehicle_to_dict


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


@vehicles.command("check-vin")
@click.argument("vin")
def check_vin(vin: str) -> None:
    """Check a VIN: 17 characters, no I, O or Q, and the North American check digit."""
    with domain_errors():
        normalised = validate_vin(vin)
    click.echo(f"{normalised}: valid")


@vehicles.command("add")
@click.option("--id", "vehicle_id", required=True, help="Our id for the listing (veh_…).")
@click.option("--vin", required=True, help="17 characters with a valid check digit.")
@click.option("--year", type=int, required=True)
@click.option("--make", required=True)
@click.option("--model", required=True)
@click.option("--trim", default="")
@click.option("--colour", default="")
@click.option("--body-type", default="")
@click.option("--odometer-km", type=click.IntRange(0), default=0)
@click.option("--price-cents", type=click.IntRange(1), required=True, help="Asking price in cents, taxes excluded.")
@click.option("--stock-number", default="", help="The dealer's stock number (printed on the agreement).")
@click.option("--safety-certificate", default="", help="Safety Standards Certificate number; none: sold as is.")
@click.option("--warranty", type=click.Choice([k.value for k in WarrantyKind]), default=WarrantyKind.NONE.value)
@click.option("--warranty-detail", default="")
@click.option(
    "--disclose",
    "disclosures",
    multiple=True,
    metavar="KIND[:DETAIL]",
    help=f"A history fact to disclose (repeatable); KIND is one of {', '.join(k.value for k in DisclosureKind)}.",
)
@click.option("--replace", is_flag=True, help="Replace a listing with the same id.")
@json_option
@pass_state
def add(
    state: CliState,
    vehicle_id: str,
    vin: str,
    year: int,
    make: str,
    model: str,
    trim: str,
    colour: str,
    body_type: str,
    odometer_km: int,
    price_cents: int,
    stock_number: str,
    safety_certificate: str,
    warranty: str,
    warranty_detail: str,
    disclosures: tuple[str, ...],
    replace: bool,
    as_json: bool,
) -> None:
    """List a car (advisors), after checking it: the VIN above all."""
    with domain_errors():
        car = add_vehicle(
            state.app().ctx,
            state.actor,
            Vehicle(
                id=vehicle_id,
                vin=vin,
                year=year,
                make=make,
                model=model,
                trim=trim,
                colour=colour,
                body_type=body_type,
                odometer_km=odometer_km,
                price=Money(price_cents),
                stock_number=stock_number,
                safety_certificate=safety_certificate,
                warranty=Warranty(kind=WarrantyKind(warranty), detail=warranty_detail),
                disclosures=tuple(_disclosure(text) for text in disclosures),
            ),
            replace=replace,
        )
    if as_json:
        emit_json(vehicle_to_dict(car))
        return
    click.echo(f"{car.id} {car.title} (VIN {car.vin}) listed at {money(car.price)}")


def _disclosure(text: str) -> Disclosure:
    kind, _, detail = text.partition(":")
    try:
        return Disclosure(kind=DisclosureKind(kind.strip()), detail=detail.strip())
    except ValueError:
        raise click.BadParameter(
            f"{kind!r} is not a disclosure kind; use one of {', '.join(k.value for k in DisclosureKind)}",
            param_hint="--disclose",
        ) from None
