"""``Policy.agreements_by_worker``: the checkout commits without the agreement, a document
worker (or the first thing that needs it) renders it exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import attrs
import pytest

from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.model.order import DocumentKind, OrderStatus
from checkout_core.ports.documents import AgreementInput
from checkout_core.usecases.agreements import generate_due_agreements
from checkout_core.usecases.context import SYSTEM, Actor
from checkout_core.usecases.order_view import order_details, placed_order_details
from checkout_core.usecases.orders import cancel_order, place_order, place_order_and_report, start_signing
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import App, bootstrap_in_memory, policy_from
from entrypoints.settings import Settings
from entrypoints.views import order_to_dict
from tests.core.spec_example import cash_order, spec_order

JOHN = Actor("cus_demo")


@pytest.fixture
def worker_app(clock: FixedClock) -> Iterator[App]:
    """The core in memory, with agreements left to a document worker."""
    settings = Settings(jwt_secret="in-memory-test-secret-" + "x" * 16, agreements="worker")
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds(), settings=settings)
    assert app.ctx.policy.agreements_by_worker
    load_demo(app.ctx.uow)
    yield app
    app.close()


def _place(app: App) -> str:
    reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation.id
    return place_order(app.ctx, JOHN, spec_order(reservation)).id


def _timeline(app: App, order_id: str) -> list[object]:
    return [step["event"] for step in order_to_dict(order_details(app.ctx, JOHN, order_id))["timeline"]]


def test_the_checkout_commits_without_the_agreement_and_says_it_is_coming(worker_app: App) -> None:
    reservation = reserve_vehicle(worker_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa")
    placed = place_order_and_report(worker_app.ctx, JOHN, spec_order(reservation.reservation.id))

    assert placed.order.status is OrderStatus.PENDING_DOCUMENTS
    assert placed.order.awaits_agreement
    assert placed.order.documents == []
    assert [e.name for e in placed.events] == ["OrderPlaced", "AdvisorAssigned"]
    view = order_to_dict(placed_order_details(placed))
    assert view["pricing"]["totalDue"] == 1994224  # the spec's example, to the cent, either way
    assert view["documents"] == [
        {
            "id": None,
            "type": "purchase_agreement",
            "status": "generating",
            "signedAt": None,
            "url": None,
            "contentType": "application/pdf",
            "sha256": None,
            "createdAt": None,
        }
    ]


def test_the_worker_renders_each_waiting_agreement_once(worker_app: App, clock: FixedClock) -> None:
    order_id = _place(worker_app)
    clock.advance(timedelta(seconds=2))

    assert generate_due_agreements(worker_app.ctx) == 1
    assert generate_due_agreements(worker_app.ctx) == 0

    details = order_details(worker_app.ctx, JOHN, order_id)
    agreement = details.order.document(DocumentKind.PURCHASE_AGREEMENT)
    assert agreement is not None and not details.order.awaits_agreement
    stored = worker_app.ctx.documents.get(agreement.storage_key)
    assert order_id.encode() in stored or details.order.number.encode() in stored
    assert agreement.created_at == clock.now()  # rendered when the worker ran ...
    assert _timeline(worker_app, order_id)[:3] == ["Order placed", "Advisor assigned", "Purchase agreement generated"]
    view = order_to_dict(details)
    assert [d["status"] for d in view["documents"]] == ["generated"]
    assert view["documents"][0]["url"].endswith(f"/documents/{agreement.id}")


def test_the_agreement_is_dated_the_day_the_order_was_placed(worker_app: App, clock: FixedClock) -> None:
    captured: list[object] = []
    renderer = worker_app.ctx.renderer

    class Spy:
        def render(self, agreement: object) -> bytes:
            captured.append(agreement)
            return renderer.render(agreement)  # type: ignore[arg-type]  # passes the port's input through

    ctx = attrs.evolve(worker_app.ctx, renderer=Spy())
    order_id = _place(worker_app)
    placed_on = clock.now().date()
    clock.advance(timedelta(days=1, hours=2))  # a worker that was down overnight

    assert generate_due_agreements(ctx) == 1
    (agreement,) = captured
    assert agreement.sale_date == placed_on  # type: ignore[attr-defined]
    assert agreement.order.id == order_id  # type: ignore[attr-defined]


def test_signing_before_the_worker_ran_renders_the_agreement_on_the_spot(worker_app: App) -> None:
    order_id = _place(worker_app)

    envelope = start_signing(worker_app.ctx, JOHN, order_id)

    order = order_details(worker_app.ctx, JOHN, order_id).order
    assert envelope.signature_url and order.document(DocumentKind.PURCHASE_AGREEMENT) is not None
    assert not order.awaits_agreement
    assert generate_due_agreements(worker_app.ctx) == 0  # nothing left for the worker
    assert _timeline(worker_app, order_id).count("Purchase agreement generated") == 1


def test_a_cancelled_order_needs_no_agreement(worker_app: App) -> None:
    order_id = _place(worker_app)
    cancel_order(worker_app.ctx, JOHN, order_id)

    assert generate_due_agreements(worker_app.ctx) == 0
    view = order_to_dict(order_details(worker_app.ctx, JOHN, order_id))
    assert view["documents"] == []


def test_batches_follow_each_other_until_none_is_left(worker_app: App) -> None:
    for vehicle in ("veh_abc123", "veh_demo002", "veh_demo003"):
        customer = Actor(f"cus_{vehicle}")
        reservation = reserve_vehicle(worker_app.ctx, customer, vehicle_id=vehicle, payment_token="tok_visa")
        place_order(worker_app.ctx, customer, cash_order(reservation.reservation.id, vehicle))

    assert generate_due_agreements(worker_app.ctx, batch_size=2) == 3
    assert generate_due_agreements(worker_app.ctx, batch_size=2) == 0


def test_inline_is_the_default_and_leaves_the_worker_nothing(memory_app: App) -> None:
    assert not policy_from(Settings()).agreements_by_worker
    order_id = _place(memory_app)

    order = order_details(memory_app.ctx, JOHN, order_id).order
    assert order.document(DocumentKind.PURCHASE_AGREEMENT) is not None
    assert generate_due_agreements(memory_app.ctx) == 0


def test_an_order_whose_agreement_fails_holds_up_no_one(worker_app: App, caplog: pytest.LogCaptureFixture) -> None:
    orders = []
    for n, vehicle in enumerate(("veh_abc123", "veh_demo002", "veh_demo003", "veh_demo004")):
        customer = Actor(f"cus_poison{n}")
        reservation = reserve_vehicle(worker_app.ctx, customer, vehicle_id=vehicle, payment_token="tok_visa")
        orders.append(place_order(worker_app.ctx, customer, cash_order(reservation.reservation.id, vehicle)).id)
    poisoned = orders[0]  # the oldest: the first of every claim
    renderer = worker_app.ctx.renderer

    class Failing:
        def render(self, agreement: AgreementInput) -> bytes:
            if agreement.order.id == poisoned:
                raise RuntimeError("the renderer chokes on this one")
            return renderer.render(agreement)

    broken = attrs.evolve(worker_app.ctx, renderer=Failing())
    assert generate_due_agreements(broken, batch_size=1) == 3  # batches of one: it is skipped, not retried
    assert f"order {poisoned}: agreement not generated" in caplog.text
    waiting = [o for o in orders if order_details(worker_app.ctx, SYSTEM, o).order.awaits_agreement]
    assert waiting == [poisoned]

    assert generate_due_agreements(worker_app.ctx) == 1  # fixed: the next pass renders it
