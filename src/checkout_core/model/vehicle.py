"""The car for sale, as the checkout sees it."""

from __future__ import annotations

import enum

import attrs

from checkout_core.money import Money


class VehicleStatus(enum.StrEnum):
    """Where a car stands in the sales funnel. Only ``available`` can be reserved."""

    AVAILABLE = "available"
    RESERVED = "reserved"
    SALE_PENDING = "sale_pending"
    SOLD = "sold"
    WITHDRAWN = "withdrawn"


@attrs.frozen(kw_only=True)
class Vehicle:
    """A listed car. ``price`` is the asking price in cents, taxes excluded."""

    id: str
    vin: str
    year: int
    make: str
    model: str
    trim: str = ""
    colour: str = ""
    body_type: str = ""
    odometer_km: int = 0
    price: Money
    status: VehicleStatus = VehicleStatus.AVAILABLE

    @property
    def title(self) -> str:
        """``2021 Honda Civic EX``."""
        return " ".join(p for p in (str(self.year), self.make, self.model, self.trim) if p)
