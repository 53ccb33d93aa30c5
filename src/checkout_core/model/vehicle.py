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


class DisclosureKind(enum.StrEnum):
    """Material facts about a used car's history that Ontario dealers (OMVIC) must disclose in
    writing on the bill of sale; ``other`` covers any further material fact."""

    DAILY_RENTAL = "daily_rental"
    ACCIDENT_DAMAGE = "accident_damage"
    BRANDED = "branded"
    OUT_OF_PROVINCE = "out_of_province"
    OTHER = "other"


@attrs.frozen(kw_only=True)
class Disclosure:
    """One disclosed fact: its kind and the dealer's words (``"Collision, rear, repaired
    2022: $4,800"``, ``"Rebuilt"``, ``"Previously registered in Quebec"``)."""

    kind: DisclosureKind
    detail: str = ""


@attrs.frozen(kw_only=True)
class Vehicle:
    """A listed car. ``price`` is the asking price in cents, taxes excluded; ``disclosures``
    are the history facts the dealer declared (printed on the agreement, shown with the car)."""

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
    disclosures: tuple[Disclosure, ...] = ()

    @property
    def title(self) -> str:
        """``2021 Honda Civic EX``."""
        return " ".join(p for p in (str(self.year), self.make, self.model, self.trim) if p)
