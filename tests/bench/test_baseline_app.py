"""The HTTP baselines of the benchmark answer like the API for the load's calls, and the
``required`` one runs exactly the statements its docstring lists (10 / 10 / 2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bench.baseline_app import create_app, create_required_app
from bench.http_load import Customers, idempotency_key, order_call, reservation_call
from bench.seed import prepare_database
from litestar.testing import TestClient
from sqlalchemy import Engine, event

from adapters.sql.engine import make_engine
from tests.postgres import postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def seeded() -> Iterator[tuple[Engine, list[str]]]:
    with postgres_database() as url:
        cars = prepare_database(url, vehicles=3)
        engine = make_engine(url)
        try:
            yield engine, cars
        finally:
            engine.dispose()


class _Counter:
    def __init__(self, engine: Engine) -> None:
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.statements.append(args[2])

    def take(self) -> int:
        n, self.statements = len(self.statements), []
        return n


def test_required_baseline_runs_the_documented_statements(seeded: tuple[Engine, list[str]]) -> None:
    engine, cars = seeded
    counter = _Counter(engine)
    customers = Customers("t")
    with TestClient(create_required_app(engine)) as client:
        call = reservation_call(customers, cars[0])
        first = client.post(call.path, headers=call.headers, json=call.json)
        assert first.status_code == 201, first.text
        assert counter.take() == 10
        replay = client.post(call.path, headers=call.headers, json=call.json)
        assert (replay.status_code, replay.json()) == (201, first.json())
        counter.take()
        rival = reservation_call(customers, cars[0])
        assert client.post(rival.path, headers=rival.headers, json=rival.json).json()["code"] == "vehicle_unavailable"
        counter.take()

        customer, car = call.tag
        order = order_call(customers, first.json()["reservationId"], customer, car)
        placed = client.post(order.path, headers=order.headers, json=order.json)
        assert placed.status_code == 201, placed.text
        assert counter.take() == 10

        read = client.get(f"/api/v1/orders/{placed.json()['orderId']}", headers=customers.auth(customer))
        assert read.status_code == 200
        assert counter.take() == 2
        body = read.json()
        assert (body["vehicle_id"], body["advisor_name"], body["paid_cents"]) == (car, "Sarah Johnson", 10000)
        assert [e["name"] for e in body["timeline"]] == ["AdvisorAssigned", "PurchaseAgreementGenerated"]
        assert (
            client.get(f"/api/v1/orders/{placed.json()['orderId']}", headers=customers.auth("cus_x")).status_code == 404
        )


def test_bare_baseline_reserves_orders_and_reads(seeded: tuple[Engine, list[str]]) -> None:
    engine, cars = seeded
    customers = Customers("u")
    with TestClient(create_app(engine)) as client:
        call = reservation_call(customers, cars[1])
        held = client.post(call.path, headers=call.headers, json=call.json)
        assert held.status_code == 201, held.text
        again = client.post(call.path, headers={**call.headers, "Idempotency-Key": idempotency_key()}, json=call.json)
        assert again.status_code == 409
        customer, car = call.tag
        order = order_call(customers, held.json()["reservationId"], customer, car)
        placed = client.post(order.path, headers=order.headers, json=order.json)
        assert placed.status_code == 201, placed.text
        read = client.get(f"/api/v1/orders/{placed.json()['orderId']}", headers=customers.auth(customer))
        assert read.json()["status"] == "pending_documents"
