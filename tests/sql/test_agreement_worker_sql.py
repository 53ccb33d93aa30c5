"""The document worker's statements on SQLite and PostgreSQL: one claim (joined with cars and
advisors, through the partial index), one UPDATE per order, one outbox INSERT per batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.usecases.agreements import generate_due_agreements
from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import place_order
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.settings import Settings
from tests.core.spec_example import cash_order
from tests.sql.conftest import sql_app


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The statements sent to ``engine`` inside the block (their first 60 characters)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split())[:60])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_batch_of_agreements_costs_two_statements_and_one_per_order(
    sql_backend_engine: Engine, clock: FixedClock
) -> None:
    settings = Settings(jwt_secret="sql-test-secret-" + "x" * 32, agreements="worker")
    app = sql_app(sql_backend_engine, clock=clock, ids=SequentialIds(), settings=settings)
    load_demo(app.ctx.uow)
    for n, car in enumerate(("veh_demo001", "veh_demo002", "veh_demo003")):
        buyer = Actor(f"cus_stmt{n}")
        held = reserve_vehicle(app.ctx, buyer, vehicle_id=car, payment_token="tok_visa").reservation
        place_order(app.ctx, buyer, cash_order(held.id, car))

    with _statements(sql_backend_engine) as seen:
        generated = generate_due_agreements(app.ctx, batch_size=10)
    app.close()

    assert generated == 3
    assert len(seen) == 1 + 3 + 1, seen
    assert seen[0].startswith("SELECT orders.id")
    assert all(s.startswith("UPDATE orders") for s in seen[1:4]), seen
    assert seen[4].startswith("INSERT INTO outbox"), seen
