"""Orders placed through the core's use cases, turned into agreement inputs for the renderers."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.documents.certificates import ensure_self_signed
from adapters.documents.signed_copy import StampedSignedCopyMaker
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.model.order import Delivery, DeliveryMethod, Order, PaymentChoice
from checkout_core.model.parties import Address, ContactInfo
from checkout_core.money import Money
from checkout_core.ports.documents import AgreementInput
from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import place_order
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import bootstrap_in_memory
from tests.conftest import SPEC_NOW
from tests.core.spec_example import spec_order

JOHN = Actor("cus_demo")


def _agreement_for(vehicle_id: str = "veh_abc123", **changes: object) -> AgreementInput:
    """Place an order on a fresh in-memory app (demo data) and return what the renderer gets."""
    app = bootstrap_in_memory(clock=FixedClock(SPEC_NOW), ids=SequentialIds())
    try:
        load_demo(app.ctx.uow)
        reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id=vehicle_id, payment_token="tok_visa").reservation
        order: Order = place_order(app.ctx, JOHN, spec_order(reservation.id, vehicle_id=vehicle_id, **changes))
        with app.ctx.uow() as uow:
            vehicle = uow.vehicles.get(order.vehicle_id)
            advisor = uow.advisors.get(order.advisor_id)
        assert vehicle is not None
        assert advisor is not None
        return AgreementInput(
            order=order,
            vehicle=vehicle,
            advisor=advisor,
            dealer=app.ctx.policy.dealer,
            sale_date=SPEC_NOW.date(),
        )
    finally:
        app.close()


@pytest.fixture(scope="session")
def financed_agreement() -> AgreementInput:
    """The spec's example: Honda Civic, $8,000 trade-in, financed at 5.217 % over 60 months, Ontario."""
    return _agreement_for()


@pytest.fixture(scope="session")
def cash_agreement() -> AgreementInput:
    """A cash purchase without trade-in, picked up, by a buyer in Quebec (GST + QST)."""
    address = Address.parse(street="1200 Rue Sainte-Catherine O", city="Montréal", province="QC", postal_code="H3B 1K9")
    contact = ContactInfo(
        first_name="Zoë", last_name="Lefèvre", email="zoe@example.com", phone="514-555-0199", address=address
    )
    return _agreement_for(
        "veh_demo001",
        contact=contact,
        trade_in_id=None,
        claimed_trade_in_credit=None,
        payment_method=PaymentChoice.CASH,
        financing_application_id=None,
        down_payment=Money.zero(),
        delivery=Delivery(method=DeliveryMethod.PICKUP),
    )


@pytest.fixture(scope="session")
def signing_material(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key made once for the whole session (RSA key generation is slow)."""
    return ensure_self_signed(tmp_path_factory.mktemp("data"), organization="Clutch Clone Motors Inc.")


@pytest.fixture(scope="session")
def signed_copy_maker(signing_material: tuple[Path, Path]) -> StampedSignedCopyMaker:
    """The signed-copy maker sealing with the session's self-signed certificate."""
    cert, key = signing_material
    return StampedSignedCopyMaker(cert, key)
