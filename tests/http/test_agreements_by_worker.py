"""``CHECKOUT_AGREEMENTS=worker`` through HTTP: the checkout answers before the agreement exists,
the order says it is coming, and signing works whether or not a worker has run yet."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.usecases.agreements import generate_due_agreements
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.settings import Settings
from tests.http.conftest import place_spec_order, sign_order

Client = TestClient[Litestar]


@pytest.fixture
def core(clock: FixedClock) -> Iterator[App]:
    """The in-memory core with agreements left to a document worker."""
    settings = Settings(jwt_secret="in-memory-test-secret-" + "x" * 16, agreements="worker")
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds(), settings=settings)
    load_demo(app.ctx.uow)
    yield app
    app.close()


def _documents(client: Client, headers: dict[str, str], order_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/orders/{order_id}/documents", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_the_order_lists_its_agreement_as_generating_until_the_worker_ran(
    client: Client, customer: dict[str, str], core: App
) -> None:
    placed = place_spec_order(client, customer)
    assert placed["status"] == "pending_documents"
    assert placed["pricing"]["totalDue"] == 1994224
    assert [(d["type"], d["status"], d["url"]) for d in placed["documents"]] == [
        ("purchase_agreement", "generating", None)
    ]
    assert _documents(client, customer, placed["orderId"]) == placed["documents"]

    assert generate_due_agreements(core.ctx) == 1

    (agreement,) = _documents(client, customer, placed["orderId"])
    assert agreement["status"] == "generated" and agreement["id"]
    download = client.get(agreement["url"], headers=customer)
    assert download.status_code == 200
    assert b"Total due $19,942.24" in download.content  # the in-memory renderer's plain text
    timeline = client.get(f"/api/v1/orders/{placed['orderId']}", headers=customer).json()["timeline"]
    assert "Purchase agreement generated" in [step["event"] for step in timeline]


def test_signing_before_any_worker_ran_renders_the_agreement_first(
    client: Client, customer: dict[str, str], core: App
) -> None:
    placed = place_spec_order(client, customer)

    sign_order(client, customer, placed["orderId"])

    order = client.get(f"/api/v1/orders/{placed['orderId']}", headers=customer).json()
    assert order["status"] == "pending_insurance"
    assert [(d["type"], d["status"]) for d in order["documents"]] == [
        ("purchase_agreement", "signed"),
        ("signed_agreement", "signed"),
    ][: len(order["documents"])]
    assert generate_due_agreements(core.ctx) == 0
