"""The core answers with values; URLs, camelCase and ISO strings are the entrypoints' (issue 17).
These pin the values the order view is derived from and that the core holds no wire format."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import attrs

from checkout_core.model.order import PaymentChoice
from checkout_core.money import Money
from checkout_core.ports.unit_of_work import UnitOfWorkFactory
from checkout_core.usecases.context import Actor
from checkout_core.usecases.order_view import (
    NextStep,
    next_steps,
    order_details,
    payment_progress,
    timeline,
)
from checkout_core.usecases.orders import place_order
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import App
from entrypoints.views import order_to_dict
from tests.core.spec_example import spec_order

JOHN = Actor("cus_demo")
CORE = Path(__file__).resolve().parents[2] / "src" / "checkout_core"


def _order_id(app: App) -> str:
    reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    return place_order(app.ctx, JOHN, spec_order(reservation.id)).id


def test_next_steps_name_the_resource_not_its_url(memory_app: App) -> None:
    details = order_details(memory_app.ctx, JOHN, _order_id(memory_app))
    assert next_steps(details.order) == (
        NextStep(step="sign_documents", status="pending", resource="documents"),
        NextStep(step="upload_insurance", status="pending", resource="insurance"),
    )
    urls = [s["url"] for s in order_to_dict(details)["nextSteps"]]
    assert urls == [f"/api/v1/orders/{details.order.id}/documents", f"/api/v1/orders/{details.order.id}/insurance"]


def test_payment_progress_is_money_and_the_timeline_keeps_its_moments(memory_app: App) -> None:
    order_id = _order_id(memory_app)
    details = order_details(memory_app.ctx, JOHN, order_id)
    progress = payment_progress(details.order)
    assert progress.method is PaymentChoice.FINANCE
    assert (progress.deposit_paid, progress.financing_amount, progress.monthly_payment) == (
        Money(10000),
        Money(1734224),
        Money(32900),
    )
    entries = timeline(details.order, details.events)
    assert entries[0].event == "Order placed" and entries[0].status == "completed"
    assert all(isinstance(e.at, datetime) for e in entries)


def test_the_core_holds_no_api_url() -> None:
    offenders = [p.name for p in CORE.rglob("*.py") if re.search(r"/api/v\d", p.read_text(encoding="utf-8"))]
    assert offenders == []


@attrs.frozen
class _UnitOfWorkOnly:
    uow: UnitOfWorkFactory


def test_reading_an_order_needs_only_a_unit_of_work(memory_app: App) -> None:
    order_id = _order_id(memory_app)
    narrow = order_details(_UnitOfWorkOnly(memory_app.ctx.uow), JOHN, order_id)
    assert narrow == order_details(memory_app.ctx, JOHN, order_id)
