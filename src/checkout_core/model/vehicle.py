"""The car for sale, as the checkout sees it."""

from __future__ import annotations

import enum

import attrs

from checkout_core.errors import ValidationFailed
from checkout_core.model.vin import validate_vin
from checkout_core.money import Money


class VehicleStatus(enum.StrEnum):
    """Where a car stands in the sales funnel. Only ``available`` can be reserved."""

    AVAILABLE = "available"
    RESERVED = "reserved"
    SALE_PENDING = "sale_pending"
    SOLD = "sold"
    WITHDRAWN = "withdrawn"


class DisclosureKind(enum.StrEnum):
    """Material facts about a used car's history that Ontario dealers must disclose in writing
    on the bill of sale (OMVIC; Ontario Regulation 333/08, s. 42). Every agreement answers each
    of them, yes or no (:mod:`checkout_core.model.disclosures`); ``other`` covers any further
    material fact the dealer knows of."""

    DAILY_RENTAL = "daily_rental"
    POLICE = "police"
    TAXI_LIMOUSINE = "taxi_limousine"
    EMERGENCY = "emergency"
    FIRE_DAMAGE = "fire_damage"
    FLOOD_DAMAGE = "flood_damage"
    ODOMETER = "odometer"
    MANUFACTURER_WARRANTY_CANCELLED = "manufacturer_warranty_cancelled"
    BRANDED = "branded"
    ACCIDENT_DAMAGE = "accident_damage"
    OUT_OF_PROVINCE = "out_of_province"
    TOTAL_LOSS = "total_loss"
    STRUCTURAL_ALTERATION = "structural_alteration"
    INOPERATIVE_SAFETY_SYSTEM = "inoperative_safety_system"
    OTHER = "other"


class WarrantyKind(enum.StrEnum):
    """What warranty comes with the car: none, what is left of the manufacturer's, or an extended one."""

    NONE = "none"
    MANUFACTURER = "manufacturer"
    EXTENDED = "extended"


@attrs.frozen(kw_only=True)
class Warranty:
    """The car's warranty as stated on the agreement; ``detail`` in the dealer's words
    (``"Powertrain to June 30, 2027 or 100,000 km"``, ``"Extended, 24 months, by AutoCare"``)."""

    kind: WarrantyKind = WarrantyKind.NONE
    detail: str = ""


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
    #: The dealer's stock number (printed on the agreement; the id is ours, not the dealer's).
    stock_number: str = ""
    #: The Safety Standards Certificate the car is sold with; empty: sold "as is" (Ontario).
    safety_certificate: str = ""
    warranty: Warranty = attrs.field(factory=Warranty)

    @property
    def sold_as_is(self) -> bool:
        """Sold without a Safety Standards Certificate (the agreement then says "as is")."""
        return not self.safety_certificate.strip()

    def validated(self) -> Vehicle:
        """This car as it may enter the catalogue: its VIN checked (17 characters, no I/O/Q,
        the North American check digit) and put in capitals, a plausible year, a positive price
        and a non-negative odometer; ValidationFailed naming the field otherwise."""
        vin = validate_vin(self.vin)
        if not 1900 <= self.year <= 2100:
            raise ValidationFailed(f"model year {self.year} is out of range", field="year")
        if self.price.cents <= 0:
            raise ValidationFailed("the price must be positive", field="price")
        if self.odometer_km < 0:
            raise ValidationFailed("the odometer reading must not be negative", field="odometerKm")
        if not self.id.strip():
            raise ValidationFailed("a vehicle needs an id", field="id")
        return attrs.evolve(self, vin=vin)

    @property
    def title(self) -> str:
        """``2021 Honda Civic EX``."""
        return " ".join(p for p in (str(self.year), self.make, self.model, self.trim) if p)
