"""The spec's example world, plus a small catalogue: used by ``checkout demo load``,
``checkout serve --demo``, the tests and library users' experiments. Loading twice changes nothing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from checkout_core.model.parties import (
    Address,
    Advisor,
    ContactInfo,
    Customer,
    FinancingApplication,
    FinancingStatus,
    TradeInOffer,
)
from checkout_core.model.vehicle import Disclosure, DisclosureKind, Vehicle, VehicleStatus, Warranty, WarrantyKind
from checkout_core.model.vin import model_year_code, with_check_digit
from checkout_core.money import Money
from checkout_core.ports.unit_of_work import UnitOfWorkFactory

DEMO_CUSTOMER_ID = "cus_demo"
DEMO_VEHICLE_ID = "veh_abc123"
DEMO_TRADE_IN_ID = "trade_123"
DEMO_FINANCING_ID = "app_xyz789"

#: 60 months at 5.217 % APR on the spec's financed amount (1734224) gives exactly 32900 a month.
DEMO_APR = Decimal("5.217")
DEMO_TERM_MONTHS = 60

_CATALOGUE: tuple[tuple[str, int, str, str, str, str, str, int, int], ...] = (
    # id suffix, year, make, model, trim, colour, body, odometer km, price cents
    ("001", 2020, "Toyota", "Corolla", "LE", "Silver", "Sedan", 48210, 1999900),
    ("002", 2019, "Mazda", "CX-5", "GS", "Soul Red", "SUV", 61500, 2349900),
    ("003", 2022, "Hyundai", "Elantra", "Preferred", "White", "Sedan", 22340, 2249900),
    ("004", 2018, "Ford", "F-150", "XLT", "Black", "Pickup", 98750, 3199900),
    ("005", 2021, "Kia", "Seltos", "EX", "Grey", "SUV", 35120, 2599900),
    ("006", 2020, "Volkswagen", "Golf", "Comfortline", "Blue", "Hatchback", 52000, 2099900),
    ("007", 2023, "Toyota", "RAV4", "XLE", "White", "SUV", 15800, 3899900),
    ("008", 2017, "Honda", "CR-V", "EX-L", "Grey", "SUV", 112400, 1899900),
    ("009", 2022, "Tesla", "Model 3", "Long Range", "Red", "Sedan", 30210, 4499900),
    ("010", 2021, "Subaru", "Outback", "Touring", "Green", "Wagon", 41000, 3249900),
    ("011", 2019, "Chevrolet", "Equinox", "LT", "Black", "SUV", 73300, 1949900),
    ("012", 2020, "Nissan", "Rogue", "SV", "White", "SUV", 58800, 2199900),
    ("013", 2022, "Ford", "Mustang Mach-E", "Select", "Blue", "SUV", 18400, 4799900),
    ("014", 2018, "BMW", "330i", "xDrive", "Black", "Sedan", 81200, 2599900),
    ("015", 2021, "Jeep", "Wrangler", "Sport", "Orange", "SUV", 39900, 4199900),
    ("016", 2020, "Audi", "Q5", "Progressiv", "Grey", "SUV", 62000, 3699900),
    ("017", 2023, "Honda", "Civic", "Sport", "Blue", "Sedan", 9800, 3099900),
    ("018", 2019, "Ram", "1500", "Big Horn", "Silver", "Pickup", 88000, 3799900),
    ("019", 2021, "Mercedes-Benz", "GLC 300", "4MATIC", "White", "SUV", 44000, 4999900),
    ("020", 2022, "Porsche", "Macan", "S", "Black", "SUV", 21000, 8999900),
    ("021", 2023, "Lexus", "RX 350", "Premium", "Silver", "SUV", 12000, 6499900),
    ("022", 2021, "Porsche", "911", "Carrera S", "Guards Red", "Coupe", 16000, 15999900),
    ("023", 2020, "Mitsubishi", "Mirage", "ES", "Red", "Hatchback", 60500, 1099900),
    ("024", 2022, "Toyota", "Tacoma", "TRD Off-Road", "Sand", "Pickup", 27500, 4899900),
)


#: A few demo cars with a history to disclose, so the agreement's disclosure section shows both ways.
_DEMO_DISCLOSURES: dict[str, tuple[Disclosure, ...]] = {
    "008": (
        Disclosure(kind=DisclosureKind.DAILY_RENTAL, detail="Rental fleet vehicle, 2017-2019"),
        Disclosure(kind=DisclosureKind.ACCIDENT_DAMAGE, detail="Front collision, repaired 2020: $4,850"),
    ),
    "014": (Disclosure(kind=DisclosureKind.OUT_OF_PROVINCE, detail="Previously registered in Quebec"),),
}

#: Demo cars sold "as is" (no Safety Standards Certificate), so the agreement shows both statements.
_AS_IS = frozenset({"008", "023"})
#: Demo cars still under the manufacturer's warranty, and one sold with an extended warranty.
_WARRANTIES: dict[str, Warranty] = {
    "007": Warranty(kind=WarrantyKind.MANUFACTURER, detail="Remaining factory warranty to March 2028 or 100,000 km"),
    "017": Warranty(kind=WarrantyKind.MANUFACTURER, detail="Remaining factory warranty to May 2026 or 60,000 km"),
    "021": Warranty(kind=WarrantyKind.MANUFACTURER, detail="Remaining factory warranty to January 2027 or 70,000 km"),
    "014": Warranty(kind=WarrantyKind.EXTENDED, detail="Extended warranty, 24 months or 40,000 km, by Maple AutoCare"),
}


def demo_vin(suffix: str, year: int, cents: int) -> str:
    """A VIN for a demo car: made up, but well formed (17 characters, the car's model-year code,
    the right check digit), so it passes the same validation as a real one."""
    return with_check_digit(f"2CLTC{suffix}0{model_year_code(year)}A{cents // 100 % 1_000_000:06d}")


def demo_vehicles() -> list[Vehicle]:
    """The spec's Honda Civic and 24 more available cars (some in every B.C. PST tier)."""
    cars = [
        Vehicle(
            id=DEMO_VEHICLE_ID,
            # The spec's VIN (2HGFE2F59MH512345) fails its check digit; this one is the same with
            # the right check digit.
            vin="2HGFE2F5XMH512345",
            year=2021,
            make="Honda",
            model="Civic",
            trim="EX",
            colour="Sonic Grey Pearl",
            body_type="Sedan",
            odometer_km=34500,
            price=Money(2499900),
            status=VehicleStatus.AVAILABLE,
            stock_number="CC-21-0457",
            safety_certificate="SSC S1234567",
            warranty=Warranty(kind=WarrantyKind.MANUFACTURER, detail="Powertrain to June 2026 or 100,000 km"),
        )
    ]
    for suffix, year, make, model, trim, colour, body, km, cents in _CATALOGUE:
        cars.append(
            Vehicle(
                id=f"veh_demo{suffix}",
                vin=demo_vin(suffix, year, cents),
                year=year,
                make=make,
                model=model,
                trim=trim,
                colour=colour,
                body_type=body,
                odometer_km=km,
                price=Money(cents),
                disclosures=_DEMO_DISCLOSURES.get(suffix, ()),
                stock_number=f"CC-{year % 100:02d}-{suffix}",
                safety_certificate="" if suffix in _AS_IS else f"SSC S{7_000_000 + int(suffix) * 137:07d}",
                warranty=_WARRANTIES.get(suffix, Warranty()),
            )
        )
    # Every car enters through the same checks as a dealer's (the VIN's check digit above all).
    return [car.validated() for car in cars]


def demo_customer() -> Customer:
    """John Doe of the spec."""
    return Customer(
        id=DEMO_CUSTOMER_ID,
        contact=ContactInfo(
            first_name="John",
            last_name="Doe",
            email="john@example.com",
            phone="416-555-1234",
            address=Address(street="123 Main St", city="Toronto", province="ON", postal_code="M5V 2T6"),
        ),
    )


def demo_advisors() -> list[Advisor]:
    """Sarah Johnson of the spec, and a colleague."""
    return [
        Advisor(id="adv_sarah", name="Sarah Johnson", email="sarah@clutchclone.ca", phone="416-555-1234"),
        Advisor(id="adv_tom", name="Tom Nguyen", email="tom@clutchclone.ca", phone="416-555-9876"),
    ]


def demo_trade_in() -> TradeInOffer:
    """The spec's $8,000 trade-in offer for cus_demo."""
    return TradeInOffer(
        id=DEMO_TRADE_IN_ID,
        customer_id=DEMO_CUSTOMER_ID,
        credit=Money(800000),
        description="2015 Toyota Corolla CE, 142,000 km",
        expires_at=datetime.fromisoformat("2099-12-31T23:59:59+00:00"),
    )


def demo_financing() -> FinancingApplication:
    """The spec's approved financing application for cus_demo."""
    return FinancingApplication(
        id=DEMO_FINANCING_ID,
        customer_id=DEMO_CUSTOMER_ID,
        status=FinancingStatus.APPROVED,
        apr_percent=DEMO_APR,
        term_months=DEMO_TERM_MONTHS,
        lender="Maple Auto Finance",
        max_amount=Money(5_000_000),
    )


def load_demo(uow_factory: UnitOfWorkFactory) -> int:
    """Load the demo world; cars already present keep their status. Returns cars added."""
    added = 0
    with uow_factory() as uow:
        for vehicle in demo_vehicles():
            if uow.vehicles.get(vehicle.id) is None:
                uow.vehicles.upsert(vehicle)
                added += 1
        uow.customers.upsert(demo_customer())
        for advisor in demo_advisors():
            uow.advisors.upsert(advisor)
        uow.trade_ins.upsert(demo_trade_in())
        uow.financing.upsert(demo_financing())
        uow.commit()
    return added
