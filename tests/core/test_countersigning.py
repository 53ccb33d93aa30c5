"""The dealer countersigns: the agreement is executed only once both parties signed, the
timeline and the audit trail show both signatures."""

from __future__ import annotations

import pytest

from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import Forbidden, IllegalTransition, NotFound
from checkout_core.model.language import agreement_language, language_for_province
from checkout_core.model.order import DocumentKind
from checkout_core.model.parties import Address, ContactInfo
from checkout_core.usecases.agreements import agreement_input
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.order_view import order_details
from checkout_core.usecases.orders import complete_signing, countersign_agreement, place_order, start_signing
from checkout_core.usecases.reservations import reserve_vehicle
from checkout_core.usecases.signing_audit import audit_entries
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.settings import Settings, load_settings
from entrypoints.views import order_to_dict
from tests.conftest import SPEC_NOW
from tests.core.spec_example import spec_order

JOHN = Actor("cus_demo")
SARAH = Actor("adv_sarah", Role.ADVISOR)


def _placed(app: App) -> str:
    reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    return place_order(app.ctx, JOHN, spec_order(reservation.id)).id


def _buyer_signs(app: App, order_id: str) -> None:
    envelope = start_signing(app.ctx, JOHN, order_id)
    complete_signing(
        app.ctx,
        order_id=order_id,
        envelope_id=envelope.id,
        typed_name="John Doe",
        consent=True,
        ip_address="203.0.113.7",
        user_agent="Firefox",
    )


def test_the_agreement_is_executed_once_the_dealer_countersigns(memory_app: App) -> None:
    ctx = memory_app.ctx
    order_id = _placed(memory_app)
    with pytest.raises(IllegalTransition, match="awaiting_buyer_signature"):
        countersign_agreement(ctx, SARAH, order_id)
    _buyer_signs(memory_app, order_id)
    signed = order_to_dict(order_details(ctx, JOHN, order_id))
    assert {d["type"]: d["status"] for d in signed["documents"]} == {
        "purchase_agreement": "signed",
        "signed_agreement": "signed",
    }

    order = countersign_agreement(ctx, SARAH, order_id, ip_address="198.51.100.4", user_agent="Chrome")
    assert order.agreement_executed
    assert order.status.value == "pending_insurance"  # the buyer's signature moved it on already
    copies = [d for d in order.documents if d.kind is DocumentKind.SIGNED_AGREEMENT]
    assert [d.status for d in copies] == ["signed", "executed"]
    latest = ctx.documents.get(copies[-1].storage_key)  # the memory maker's stand-in copy
    assert b"SIGNED by John Doe" in latest and b"COUNTERSIGNED by Sarah Johnson" in latest

    view = order_to_dict(order_details(ctx, JOHN, order_id))
    events = [entry["event"] for entry in view["timeline"]]
    assert events.index("Documents signed") < events.index("Agreement countersigned by the dealer")
    trail = audit_entries(ctx, SARAH, order_id)
    assert [e.action.value for e in trail][-3:] == ["consented", "signed", "countersigned"]
    assert trail[-1].signer_name == "Sarah Johnson" and trail[-1].ip_address == "198.51.100.4"
    assert trail[-2].signer_name == "John Doe"

    with pytest.raises(IllegalTransition, match="executed"):
        countersign_agreement(ctx, SARAH, order_id)


def test_only_advisors_countersign_and_the_signatory_must_exist(memory_app: App) -> None:
    ctx = memory_app.ctx
    order_id = _placed(memory_app)
    _buyer_signs(memory_app, order_id)
    with pytest.raises(Forbidden):
        countersign_agreement(ctx, JOHN, order_id)
    with pytest.raises(NotFound, match="advisor adv_nobody"):
        countersign_agreement(ctx, SARAH, order_id, advisor_id="adv_nobody")
    with pytest.raises(NotFound):
        countersign_agreement(ctx, SARAH, "ord_missing")
    order = countersign_agreement(ctx, SARAH, order_id, advisor_id="adv_tom")
    assert order.agreement_executed


def test_the_agreement_language_follows_the_buyers_province(memory_app: App) -> None:
    assert language_for_province("QC") == "fr"
    assert language_for_province(" qc ") == "fr"
    assert language_for_province("ON") == "en"
    assert language_for_province("NB") == "en"
    with memory_app.ctx.uow() as uow:
        order = uow.orders.get(_placed(memory_app))
    assert order is not None
    assert agreement_language(order) == "en"


def _quebec_order_languages(settings: Settings | None) -> tuple[str, ...]:
    app = bootstrap_in_memory(clock=FixedClock(SPEC_NOW), ids=SequentialIds(), settings=settings)
    try:
        load_demo(app.ctx.uow)
        reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
        address = Address.parse(street="1 Rue Saint-Paul", city="Montréal", province="QC", postal_code="H2Y 1G6")
        contact = ContactInfo(
            first_name="John", last_name="Doe", email="john@example.com", phone="514-555-0199", address=address
        )
        order = place_order(app.ctx, JOHN, spec_order(reservation.id, contact=contact))
        with app.ctx.uow() as uow:
            vehicle, advisor = uow.vehicles.get(order.vehicle_id), uow.advisors.get(order.advisor_id)
        assert vehicle is not None and advisor is not None
        assert agreement_language(order) == "fr"
        return agreement_input(app.ctx, order, vehicle, advisor).languages
    finally:
        app.close()


def test_a_setting_adds_the_english_version_beside_the_french_one() -> None:
    assert _quebec_order_languages(None) == ("fr",)
    settings = Settings(jwt_secret="in-memory-test-secret-" + "x" * 16, agreement_with_english=True)
    assert _quebec_order_languages(settings) == ("fr", "en")
    assert load_settings({"CHECKOUT_AGREEMENT_WITH_ENGLISH": "true"}).agreement_with_english
