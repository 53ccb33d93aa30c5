"""The benchmark's past checkouts (``bench.seed.seed_history``): a database in service, inert.

The history is there for PostgreSQL's statistics: the app and the baselines are measured on the
plans a production database runs, not on those of tables that were empty when last analysed.
So it must hold what a used database holds, give the planner what it needs, and leave the
sweep, the relay and the document worker nothing to do, nor get in the way of a checkout."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from bench.seed import prepare_database
from sqlalchemy import Engine, text

from adapters.sql.engine import make_engine
from adapters.system.clock import SystemClock
from adapters.system.ids import RandomIds
from checkout_core.model.order import OrderStatus
from checkout_core.model.reservation import ReservationStatus
from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import place_order
from checkout_core.usecases.reservations import expire_due_reservations, reserve_vehicle
from tests.core.spec_example import cash_order
from tests.postgres import postgres_database
from tests.sql.conftest import sql_app

pytestmark = pytest.mark.postgres

CHECKOUTS = 600


@pytest.fixture(scope="module")
def history() -> Iterator[tuple[Engine, list[str]]]:
    with postgres_database() as url:
        cars = prepare_database(url, vehicles=2, history=CHECKOUTS)
        engine = make_engine(url)
        try:
            yield engine, cars
        finally:
            engine.dispose()


def _scalar(engine: Engine, sql: str, **params: object) -> float:
    with engine.connect() as connection:
        return float(connection.execute(text(sql), params).scalar_one())


def _kind(g: int) -> str:
    """What became of past checkout ``g`` (the rule ``bench.seed`` states in SQL)."""
    if g % 100 in (50, 51):
        return "held" if g % 100 == 50 else "open"
    return {0: "expired", 1: "cancelled"}.get(g % 6, "order_cancelled" if g % 12 == 2 else "completed")


KINDS = Counter(_kind(g) for g in range(1, CHECKOUTS + 1))
ORDERS = KINDS["open"] + KINDS["order_cancelled"] + KINDS["completed"]


def test_the_history_is_a_used_database_with_statistics(history: tuple[Engine, list[str]]) -> None:
    engine, _cars = history
    assert KINDS["held"] == KINDS["open"] == CHECKOUTS // 100
    assert _scalar(engine, "SELECT count(*) FROM reservations") == CHECKOUTS
    assert _scalar(engine, "SELECT count(*) FROM reservations WHERE status = 'confirmed'") == KINDS["held"]
    assert _scalar(engine, "SELECT count(*) FROM payments") == CHECKOUTS
    assert _scalar(engine, "SELECT count(*) FROM orders") == ORDERS
    assert _scalar(engine, "SELECT count(*) FROM orders WHERE status = 'pending_insurance'") == KINDS["open"]
    assert _scalar(engine, "SELECT count(*) FROM refunds") == KINDS["expired"] + KINDS["cancelled"]
    assert _scalar(engine, "SELECT count(*) FROM outbox") == 3 * CHECKOUTS + 2 * ORDERS
    # Each deposit points at its hold and, once converted, at the order that holds it.
    assert _scalar(engine, "SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id") == ORDERS
    assert _scalar(engine, "SELECT count(*) FROM pg_stats WHERE tablename = 'payments'") > 0
    for table in ("reservations", "payments", "orders", "idempotency_keys", "outbox"):
        assert _scalar(engine, "SELECT reltuples FROM pg_class WHERE relname = :t", t=table) > 0, table


def _generic_plan(engine: Engine, prepare: str, execute: str) -> str:
    """The plan of a prepared statement's generic plan (chosen on statistics, as a connection's
    prepared statements are from their sixth run)."""
    with engine.connect() as connection:
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        connection.exec_driver_sql(prepare)
        plan = "\n".join(str(row[0]) for row in connection.exec_driver_sql(f"EXPLAIN {execute}"))
        connection.rollback()
    return plan


def test_the_deposits_update_is_planned_on_its_unique_key(history: tuple[Engine, list[str]]) -> None:
    # On tables never analysed it walks the status index past every earlier payment instead.
    plan = _generic_plan(
        history[0],
        "PREPARE link(text, timestamptz, text, text) AS UPDATE payments SET order_id = $1, updated_at = $2"
        " WHERE idempotency_key = $3 AND status = $4",
        "EXECUTE link(NULL, now(), 'res_hist7:deposit', 'succeeded')",
    )
    assert "ix_payments_idempotency_key" in plan, plan


def test_the_customers_hold_count_is_planned_on_the_customer(history: tuple[Engine, list[str]]) -> None:
    # Analysed with no live hold, the count walks the active-hold index past every live hold.
    plan = _generic_plan(
        history[0],
        "PREPARE holds(text, timestamptz) AS SELECT count(*) FROM reservations WHERE customer_id = $1"
        " AND status IN ('confirmed', 'pending_deposit') AND NOT (status = 'confirmed' AND expires_at <= $2)",
        "EXECUTE holds('cus_new', now())",
    )
    assert "Index Cond: ((customer_id)::text = $1" in plan, plan  # one of the customer's indexes


def test_nothing_in_the_history_is_left_for_a_job_and_a_checkout_runs_beside_it(
    history: tuple[Engine, list[str]],
) -> None:
    engine, cars = history
    assert _scalar(engine, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    assert _scalar(engine, "SELECT count(*) FROM orders WHERE awaits_agreement") == 0
    # The live holds are a day or more from due; the open orders wait for the buyer, not a job.
    assert _scalar(
        engine, "SELECT min(expires_at) > now() + interval '1 day' FROM reservations WHERE status = 'confirmed'"
    )
    closed = [OrderStatus.COMPLETED.value, OrderStatus.CANCELLED.value, OrderStatus.PENDING_INSURANCE.value]
    assert _scalar(engine, "SELECT count(*) FROM orders WHERE status <> ALL(:closed)", closed=closed) == 0
    app = sql_app(engine, clock=SystemClock(), ids=RandomIds())
    try:
        assert expire_due_reservations(app.ctx) == 0
        buyer = Actor("cus_after_history")
        held = reserve_vehicle(app.ctx, buyer, vehicle_id=cars[0], payment_token="tok_visa")
        assert held.reservation.status is ReservationStatus.CONFIRMED
        order = place_order(app.ctx, buyer, cash_order(held.reservation.id, cars[0]))
        assert order.number.startswith(f"CLT-{app.ctx.clock.now().year}-")  # this year's counter, unaffected
    finally:
        app.close()
