"""Cars entering the catalogue (a dealer's listing, an import): the one way in that checks them."""

from __future__ import annotations

import attrs

from checkout_core.errors import Conflict
from checkout_core.model.vehicle import Vehicle, VehicleStatus
from checkout_core.usecases.context import Actor, Context


def add_vehicle(ctx: Context, actor: Actor, vehicle: Vehicle, *, replace: bool = False) -> Vehicle:
    """List ``vehicle`` (advisors only), after :meth:`Vehicle.validated` (the VIN's check digit
    above all: a car sold under a wrong VIN cannot be registered). An existing id is a Conflict
    unless ``replace``; a car that is reserved or sold keeps its status when replaced."""
    actor.require_staff()
    car = vehicle.validated()
    with ctx.uow() as uow:
        existing = uow.vehicles.get(car.id)
        if existing is not None:
            if not replace:
                raise Conflict(f"vehicle {car.id} is already listed")
            if existing.status is not VehicleStatus.AVAILABLE:
                car = attrs.evolve(car, status=existing.status)
        uow.vehicles.upsert(car)
        uow.commit()
    return car
