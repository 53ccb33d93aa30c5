"""A final transaction parked with its request (``UnitOfWork.mark_final``) keeps its staged outbox
rows unwritten until the request stores its answer: on PostgreSQL the rows and the answer are one
statement (data-modifying CTEs), on SQLite two. Either way they commit together or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, select

from adapters.sql import tables
from adapters.sql.engine import SQLITE_READ_ONLY
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import VehicleUnavailable
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.ports.idempotency import StoredAnswer
from checkout_core.ports.repositories import StoredEvent
from tests.sql.conftest import SQL_BACKENDS, sql_engine

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ANSWER = StoredAnswer(status_code=201, body=b'{"ok":true}', content_type="application/json")
_V, _K, _O = tables.vehicles, tables.idempotency_keys, tables.outbox
CAR = "veh_abc123"


@pytest.fixture(params=SQL_BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated database with the demo data (its car ``veh_abc123`` is available)."""
    engine = sql_engine(request, request.param)
    load_demo(lambda: SqlUnitOfWork(engine, SequentialIds()))
    return engine


def _event(n: int) -> StoredEvent:
    return StoredEvent(id=f"evt_{n}", aggregate_id=CAR, name="Tested", payload={"n": n}, occurred_at=NOW)


def _final_step(engine: Engine, events: int = 2) -> None:
    """A use case's last transaction: claim the car, stage ``events``, commit marked final."""
    with SqlUnitOfWork(engine, SequentialIds()) as uow:
        assert uow.vehicles.set_status(CAR, VehicleStatus.RESERVED, expected=VehicleStatus.AVAILABLE)
        for n in range(events):
            uow.outbox.add(_event(n))
        uow.mark_final()
        uow.commit()


def _state(engine: Engine) -> tuple[str, list[str], int | None]:
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_READ_ONLY: True})  # a reader, beside a parked writer
        status = connection.execute(select(_V.c.status).where(_V.c.id == CAR)).scalar_one()
        ids = list(connection.execute(select(_O.c.id).where(_O.c.aggregate_id == CAR).order_by(_O.c.seq)).scalars())
        code = connection.execute(select(_K.c.status_code).where(_K.c.key == "k1")).scalar()
    return status, ids, code


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split())[:80])

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def _begin(engine: Engine, key: str = "k1") -> Any:
    return SqlIdempotencyStore(engine).begin(scope="test", key=key, request_hash="h", now=NOW)


def test_the_outbox_rows_and_the_answer_commit_together(engine: Engine) -> None:
    with _begin(engine) as call:
        _final_step(engine)
        assert _state(engine) == ("available", [], None)  # parked: nothing committed yet
        with _statements(engine) as seen:
            assert call.finish(ANSWER) is None
    assert _state(engine) == ("reserved", ["evt_0", "evt_1"], 201)
    with engine.connect() as connection:
        stored = connection.execute(select(_K.c.body, _K.c.content_type).where(_K.c.key == "k1")).one()
        payloads = list(connection.execute(select(_O.c.payload).where(_O.c.aggregate_id == CAR).order_by(_O.c.seq)))
    assert (bytes(stored.body), stored.content_type) == (ANSWER.body, ANSWER.content_type)
    assert [row.payload for row in payloads] == [{"n": 0}, {"n": 1}]
    if engine.dialect.name == "postgresql":
        assert len(seen) == 1 and seen[0].startswith("WITH w0_0 AS (INSERT INTO outbox"), seen
    else:
        assert [s.split(" ")[0] for s in seen] == ["INSERT", "UPDATE"], seen


def test_an_answer_that_cannot_be_stored_takes_the_outbox_rows_and_the_change_with_it(engine: Engine) -> None:
    # The claim committed in a first transaction, then vanished (released by someone else) before
    # the final one stores the answer: the store matches no row, so nothing of it may commit.
    with _begin(engine) as call:
        with SqlUnitOfWork(engine, SequentialIds()) as uow:
            uow.outbox.add(_event(9))
            uow.commit()  # not final: commits the claim
        with engine.begin() as connection:
            connection.execute(delete(_K).where(_K.c.key == "k1"))
        _final_step(engine)
        with pytest.raises(KeyError):
            call.finish(ANSWER)
    assert _state(engine) == ("available", ["evt_9"], None)


def test_a_unit_of_work_after_the_final_one_commits_its_outbox_rows_first(engine: Engine) -> None:
    with _begin(engine) as call:
        _final_step(engine)
        with SqlUnitOfWork(engine, SequentialIds()) as uow:  # the marked commit was not the last
            assert _state(engine) == ("reserved", ["evt_0", "evt_1"], None)
            uow.outbox.add(_event(5))
            uow.commit()
        call.finish(ANSWER)
    assert _state(engine) == ("reserved", ["evt_0", "evt_1", "evt_5"], 201)


def test_without_an_answer_the_outbox_rows_still_commit_with_the_change(engine: Engine) -> None:
    with _begin(engine) as call:
        _final_step(engine, events=1)
        assert call.finish(None) is None
    assert _state(engine) == ("reserved", ["evt_0"], None)


def test_a_final_transaction_without_events_stores_the_answer_alone(engine: Engine) -> None:
    with _begin(engine) as call:
        _final_step(engine, events=0)
        with _statements(engine) as seen:
            call.finish(ANSWER)
    assert _state(engine) == ("reserved", [], 201)
    assert len(seen) == 1 and seen[0].startswith("UPDATE idempotency_keys"), seen


# -- a use case's last writes left to the request (mark_final(errors_to_caller=True)) -------------


def _final_writes(engine: Engine, expected: VehicleStatus = VehicleStatus.AVAILABLE) -> None:
    """A use case's last transaction whose writes wait (``together``) and whose errors it leaves
    to its caller: the car's move and one event."""
    with SqlUnitOfWork(engine, SequentialIds()) as uow, uow.together():
        uow.vehicles.move(CAR, VehicleStatus.RESERVED, expected=expected)
        uow.outbox.add(_event(0))
        uow.mark_final(errors_to_caller=True)
        uow.commit()


def test_writes_left_to_the_request_go_with_the_answer_in_one_statement(engine: Engine) -> None:
    with _begin(engine) as call:
        with _statements(engine) as sent:
            _final_writes(engine)
        assert sent == [] or engine.dialect.name == "sqlite", sent  # PostgreSQL: nothing sent yet
        with _statements(engine) as seen:
            call.finish(ANSWER)
    assert _state(engine) == ("reserved", ["evt_0"], 201)
    if engine.dialect.name == "postgresql":
        # One statement wrote the car, the answer and the event (the state above).
        assert len(seen) == 1 and seen[0].startswith("WITH w0_0 AS (UPDATE vehicles"), seen


def test_a_write_left_to_the_request_that_fails_is_raised_by_finish_and_nothing_is_written(engine: Engine) -> None:
    with _begin(engine) as call:
        if engine.dialect.name == "postgresql":
            _final_writes(engine, expected=VehicleStatus.RESERVED)  # the car is available: refused
            with pytest.raises(VehicleUnavailable):
                call.finish(ANSWER)
        else:  # SQLite sends each write at its call: the use case's commit raises
            with pytest.raises(VehicleUnavailable):
                _final_writes(engine, expected=VehicleStatus.RESERVED)
            call.finish(None)
    assert _state(engine) == ("available", [], None)


def test_writes_left_to_the_request_still_commit_without_an_answer(engine: Engine) -> None:
    with _begin(engine) as call:
        _final_writes(engine)
        assert call.finish(None) is None  # a 5xx after the use case: the key is released
    assert _state(engine) == ("reserved", ["evt_0"], None)
