"""The HTTP baselines of the benchmark. The ``required`` one is the minimal correct design, so
its guarantees are tested as behaviour: a replayed key answers the first response without doing
the work again, another body under the same key is 422, the deposit's intent is committed before
the charge, the outbox holds the spec's events, exactly one client wins each car in a real race
(a uvicorn process, concurrent connections from the benchmark's load generator process) — and
it runs the statement counts its docstring claims (2 / 2 / 1)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.baseline_app import create_app, create_required_app, no_charge
from bench.http_load import JWT_SECRET, Customers, idempotency_key, order_call, reservation_call
from bench.load import LoadProcess
from bench.seed import prepare_database
from bench.servers import checkout_env, uvicorn_server
from litestar.testing import TestClient
from sqlalchemy import Engine, event, text

from adapters.sql.engine import make_engine
from tests.postgres import postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def database() -> Iterator[tuple[str, list[str]]]:
    with postgres_database() as url:
        yield url, prepare_database(url, vehicles=8)


@pytest.fixture
def seeded(database: tuple[str, list[str]]) -> Iterator[tuple[Engine, list[str]]]:
    url, cars = database
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


def _scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def test_required_baseline_reserves_orders_and_reads_in_the_documented_statements(
    seeded: tuple[Engine, list[str]],
) -> None:
    engine, cars = seeded
    counter = _Counter(engine)
    customers = Customers("t")
    with TestClient(create_required_app(engine)) as client:
        call = reservation_call(customers, cars[0])
        first = client.post(call.path, headers=call.headers, json=call.json)
        assert first.status_code == 201, first.text
        assert counter.take() == 2
        reservation = first.json()["reservationId"]
        assert _scalar(engine, "SELECT status FROM reservations WHERE id = :id", id=reservation) == "confirmed"
        assert _scalar(engine, "SELECT status FROM payments WHERE reservation_id = :id", id=reservation) == "succeeded"
        counter.take()

        customer, car = call.tag
        order = order_call(customers, reservation, customer, car)
        placed = client.post(order.path, headers=order.headers, json=order.json)
        assert placed.status_code == 201, placed.text
        assert counter.take() == 2
        assert placed.json()["orderNumber"].startswith("CLT-")

        read = client.get(f"/api/v1/orders/{placed.json()['orderId']}", headers=customers.auth(customer))
        assert read.status_code == 200
        assert counter.take() == 1
        body = read.json()
        assert (body["vehicle_id"], body["advisor_name"], body["paid_cents"]) == (car, "Sarah Johnson", 10000)
        assert [e["name"] for e in body["timeline"]] == ["AdvisorAssigned", "PurchaseAgreementGenerated"]
        assert client.get(
            f"/api/v1/orders/{placed.json()['orderId']}", headers=customers.auth("cus_x")
        ).status_code == (404)
        assert _scalar(engine, "SELECT status FROM vehicles WHERE id = :id", id=car) == "sale_pending"
        assert (
            _scalar(engine, "SELECT order_id FROM payments WHERE reservation_id = :id", id=reservation)
            == (placed.json()["orderId"])
        )
    names = _scalar(
        engine, "SELECT string_agg(name, ',' ORDER BY seq) FROM outbox WHERE aggregate_id = :id", id=reservation
    )
    assert names == "VehicleReservationInitiated,DepositPaid,ReservationConfirmed"


def test_a_replayed_key_answers_the_first_response_without_doing_the_work_again(
    seeded: tuple[Engine, list[str]],
) -> None:
    engine, cars = seeded
    customers = Customers("r")
    with TestClient(create_required_app(engine)) as client:
        call = reservation_call(customers, cars[1])
        first = client.post(call.path, headers=call.headers, json=call.json)
        replay = client.post(call.path, headers=call.headers, json=call.json)
        assert (replay.status_code, replay.json()) == (201, first.json())
        other_body = client.post(call.path, headers=call.headers, json={**call.json, "vehicleId": cars[2]})
        assert (other_body.status_code, other_body.json()["code"]) == (422, "idempotency_key_reused")
        assert _scalar(engine, "SELECT count(*) FROM reservations") == 1
        assert _scalar(engine, "SELECT status FROM vehicles WHERE id = :id", id=cars[2]) == "available"

        # A loser's 409 is stored too: replayed as it was, even once the car is free again.
        rival = reservation_call(customers, cars[1])
        lost = client.post(rival.path, headers=rival.headers, json=rival.json)
        assert lost.json()["code"] == "vehicle_unavailable"
        with engine.begin() as connection:
            connection.execute(text("UPDATE vehicles SET status = 'available' WHERE id = :id"), {"id": cars[1]})
        again = client.post(rival.path, headers=rival.headers, json=rival.json)
        assert (again.status_code, again.json()) == (409, lost.json())

        customer, car = call.tag
        order = order_call(customers, first.json()["reservationId"], customer, car)
        placed = client.post(order.path, headers=order.headers, json=order.json)
        assert client.post(order.path, headers=order.headers, json=order.json).json() == placed.json()
        assert _scalar(engine, "SELECT count(*) FROM orders") == 1
        fresh_key = {**order.headers, "Idempotency-Key": idempotency_key()}
        refused = client.post(order.path, headers=fresh_key, json=order.json)
        assert (refused.status_code, refused.json()["code"]) == (409, "reservation_not_usable")
        assert (
            client.post(order.path, headers={"Authorization": order.headers["Authorization"]}, json=order.json).json()[
                "code"
            ]
            == "idempotency_key_required"
        )


def test_the_deposit_intent_is_committed_before_the_charge(seeded: tuple[Engine, list[str]]) -> None:
    engine, cars = seeded
    seen: list[tuple[str, Any, Any]] = []

    def charge(deposit_key: str) -> str:
        # What another connection sees at the moment of the charge: committed rows only.
        with engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT p.status AS payment, r.status AS reservation FROM payments p"
                    " JOIN reservations r ON r.id = p.reservation_id WHERE p.idempotency_key = :key"
                ),
                {"key": deposit_key},
            ).one()
        seen.append((deposit_key, row.payment, row.reservation))
        return no_charge(deposit_key)

    customers = Customers("i")
    with TestClient(create_required_app(engine, charge=charge)) as client:
        call = reservation_call(customers, cars[3])
        response = client.post(call.path, headers=call.headers, json=call.json)
    assert response.status_code == 201
    reservation = response.json()["reservationId"]
    assert seen == [(f"{reservation}:deposit", "pending", "pending_deposit")]


def test_exactly_one_client_wins_each_car_in_a_race(database: tuple[str, list[str]]) -> None:
    url, cars = database
    contested = cars[4:8]
    customers = Customers("x")
    clients = 16
    with tempfile.TemporaryDirectory() as tmp:
        env = checkout_env(database_url=url, data_dir=Path(tmp), jwt_secret=JWT_SECRET)
        env["BENCH_BASELINE_DATABASE_URL"] = url
        server = uvicorn_server("baseline", "bench.baseline_app:create_from_env", env, Path(tmp))
        server.start()
        try:
            calls = [reservation_call(customers, contested[n % len(contested)]) for n in range(clients)]
            # The benchmark's own generator: a process of its own, measuring its CPU there.
            with LoadProcess() as generator:
                result = generator.run(
                    [server.base_url], calls, clients=clients, together=True, keep_statuses=frozenset({201})
                )
        finally:
            server.stop()
    won = sorted(o.call.tag[1] for o in result.outcomes if o.status == 201)
    assert won == sorted(contested)
    assert all(o.body["vehicleId"] == o.call.tag[1] for o in result.outcomes if o.status == 201)
    assert all(o.body is None for o in result.outcomes if o.status != 201)
    assert result.client_cpu_seconds > 0
    assert result.statuses[409] == clients - len(contested)
    engine = make_engine(url)
    try:
        assert _scalar(engine, "SELECT count(*) FROM reservations WHERE status = 'confirmed'") == len(contested)
        assert _scalar(engine, "SELECT count(DISTINCT vehicle_id) FROM reservations") == len(contested)
    finally:
        engine.dispose()


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
