"""A transaction whose only statement is its commit's writes goes without a transaction on
PostgreSQL (``SqlUnitOfWork._send_waiting``): the writes of a ``UnitOfWork.together`` block and
their outbox rows, one statement sent in autocommit with each write's row-count check inside it
(``statements.combined``'s ``expected``). A statement on its own is atomic: it writes all of
it or, a count being off, nothing — and the same writes then go in a transaction, whose checks
raise the port's error as they always did."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from adapters.sql import tables
from adapters.sql.engine import is_outside_transactions
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import VehicleUnavailable
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.ports.repositories import StoredEvent

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
CAR = "veh_abc123"


@pytest.fixture
def engine(pg_engine: Engine) -> Engine:
    """A migrated PostgreSQL database with the demo data (its car ``veh_abc123`` is available)."""
    load_demo(lambda: SqlUnitOfWork(pg_engine, SequentialIds()))
    return pg_engine


@contextmanager
def _sent(engine: Engine) -> Iterator[list[str]]:
    """The statements sent and the transaction events ("begin", "commit", "rollback") of the
    engine's connections that were in a transaction, in order."""
    seen: list[str] = []

    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    def on(name: str) -> Any:
        def record(conn: Any) -> None:
            if not is_outside_transactions(conn):
                seen.append(name)

        return record

    listeners = [("before_cursor_execute", on_statement)] + [(n, on(n)) for n in ("begin", "commit", "rollback")]
    for name, fn in listeners:
        event.listen(engine, name, fn)
    try:
        yield seen
    finally:
        for name, fn in listeners:
            event.remove(engine, name, fn)


def _state(engine: Engine) -> tuple[str, int]:
    with engine.connect() as connection:
        status = connection.execute(select(tables.vehicles.c.status).where(tables.vehicles.c.id == CAR)).scalar_one()
        events = len(connection.execute(select(tables.outbox.c.id).where(tables.outbox.c.aggregate_id == CAR)).all())
    return status, events


def _move(engine: Engine, to: VehicleStatus, expected: VehicleStatus) -> None:
    with SqlUnitOfWork(engine, SequentialIds()) as uow, uow.together():
        uow.vehicles.move(CAR, to, expected=expected)
        uow.outbox.add(StoredEvent(id="evt_1", aggregate_id=CAR, name="Tested", payload={}, occurred_at=NOW))
        uow.commit()


def test_a_commit_that_is_its_transactions_only_statement_sends_no_begin_nor_commit(engine: Engine) -> None:
    with _sent(engine) as seen:
        _move(engine, VehicleStatus.RESERVED, VehicleStatus.AVAILABLE)
    assert len(seen) == 1, seen  # no "begin", no "commit": one round trip
    assert seen[0].startswith("WITH w0_0 AS (UPDATE vehicles") and " AS guard" in seen[0], seen
    assert _state(engine) == ("reserved", 1)


def test_a_count_off_writes_nothing_then_the_transaction_raises_the_ports_error(engine: Engine) -> None:
    # The car is available, not reserved: the move matches no row, while the outbox row would
    # have been written. Outside a transaction the statement fails as a whole; in one, the
    # same writes are sent again and the check raises, and the transaction rolls back.
    with _sent(engine) as seen, pytest.raises(VehicleUnavailable):
        _move(engine, VehicleStatus.SALE_PENDING, VehicleStatus.RESERVED)
    statements = [s for s in seen if s not in ("begin", "commit", "rollback")]
    assert len(statements) == 2 and " AS guard" in statements[0] and " AS guard" not in statements[1], seen
    assert [s for s in seen if s in ("begin", "commit", "rollback")] == ["begin", "rollback"], seen
    assert _state(engine) == ("available", 0)


def test_the_transaction_after_a_tripped_guard_commits_when_the_checks_hold(engine: Engine) -> None:
    # Between the failed statement and its second sending the row may have become what the
    # write expects (here: moved by the test in between); then the transaction commits it.
    from adapters.sql import unit_of_work

    original = unit_of_work.SqlUnitOfWork._open_transaction

    def meanwhile(self: SqlUnitOfWork) -> None:
        with engine.begin() as connection:
            connection.execute(
                tables.vehicles.update().where(tables.vehicles.c.id == CAR).values(status=VehicleStatus.RESERVED.value)
            )
        original(self)

    unit_of_work.SqlUnitOfWork._open_transaction = meanwhile  # type: ignore[method-assign]  # a hook for this test
    try:
        with _sent(engine) as seen:
            _move(engine, VehicleStatus.SALE_PENDING, VehicleStatus.RESERVED)
    finally:
        unit_of_work.SqlUnitOfWork._open_transaction = original  # type: ignore[method-assign]  # restored
    assert "commit" in seen
    assert _state(engine) == ("sale_pending", 1)


def test_a_commit_after_reads_or_writes_in_its_transaction_keeps_its_transaction(engine: Engine) -> None:
    with _sent(engine) as seen, SqlUnitOfWork(engine, SequentialIds()) as uow:
        assert uow.vehicles.get(CAR) is not None  # a read: the transaction began with it
        with uow.together():
            uow.vehicles.move(CAR, VehicleStatus.RESERVED, expected=VehicleStatus.AVAILABLE)
            uow.commit()
    assert seen[0] == "begin" and seen[-1] == "commit", seen
    assert not any(" AS guard" in s for s in seen), seen
    assert _state(engine) == ("reserved", 0)
