"""Units of work under ``reads_expected()`` (an HTTP GET): reads go outside any transaction (no
BEGIN, no ROLLBACK), and the first write opens an ordinary transaction — rolled back unless
committed, like any other."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, func, select, update

from adapters.sql import tables
from adapters.sql.engine import is_outside_transactions, make_engine, outside_transactions
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.ports.unit_of_work import are_reads_expected, reads_expected
from tests.sql.conftest import SQL_BACKENDS, sql_engine

_V = tables.vehicles


@pytest.fixture(params=SQL_BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated database with the demo data."""
    engine = sql_engine(request, request.param)
    load_demo(lambda: SqlUnitOfWork(engine, SequentialIds()))
    return engine


def _status(engine: Engine) -> str:
    with SqlUnitOfWork(engine, SequentialIds()) as uow:
        return str(uow.execute(select(_V.c.status).where(_V.c.id == "veh_abc123")).scalar_one())


@contextmanager
def _begins(engine: Engine) -> Iterator[list[str]]:
    """The BEGINs sent inside (an autocommit read's logical "begin" sends none)."""
    seen: list[str] = []

    def on_begin(conn: Any) -> None:
        if not is_outside_transactions(conn):
            seen.append("begin")

    event.listen(engine, "begin", on_begin)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", on_begin)


def test_reads_send_no_begin(engine: Engine) -> None:
    with _begins(engine) as begins, reads_expected(), SqlUnitOfWork(engine, SequentialIds()) as uow:
        assert are_reads_expected()
        assert uow.execute(select(func.count()).select_from(_V)).scalar_one() > 0
        assert uow.execute(select(_V.c.id).where(_V.c.id == "veh_abc123")).scalar_one() == "veh_abc123"
    assert begins == []
    assert not are_reads_expected()


def test_a_write_after_reads_opens_a_transaction_that_rolls_back_unless_committed(engine: Engine) -> None:
    before = _status(engine)
    with _begins(engine) as begins, reads_expected():
        with pytest.raises(RuntimeError), SqlUnitOfWork(engine, SequentialIds()) as uow:
            _write_then_fail(uow)
        assert _status(engine) == before  # the write was in a transaction, and it rolled back
        with SqlUnitOfWork(engine, SequentialIds()) as uow:
            uow.execute(select(_V.c.id)).all()
            uow.execute(update(_V).where(_V.c.id == "veh_abc123").values(status="sold"))
            uow.commit()
    assert begins == ["begin", "begin"]  # one per unit of work that wrote, none for the reads
    assert _status(engine) == "sold"


def _write_then_fail(uow: SqlUnitOfWork) -> None:
    uow.execute(select(_V.c.id)).all()
    uow.execute(update(_V).where(_V.c.id == "veh_abc123").values(status="sold"))
    raise RuntimeError("the use case failed after its write")


def _driver(connection: Connection) -> Any:
    return connection.connection.driver_connection


@pytest.mark.postgres
def test_a_connection_never_goes_back_to_the_pool_in_autocommit(pg_database: tuple[str, Engine]) -> None:
    """Reads switch the driver to autocommit behind SQLAlchemy's back (engine.outside_transactions):
    whoever returns the connection — the unit of work, or code that never switched back — the
    next user of that pooled connection must get transactions, or its writes would commit one by
    one. One pooled connection, so every checkout is the same one."""
    engine = make_engine(pg_database[0], pool_size=1, max_overflow=0)
    try:
        with reads_expected(), SqlUnitOfWork(engine, SequentialIds()) as uow:
            uow.execute(select(func.count()).select_from(_V)).scalar_one()
            assert is_outside_transactions(uow.connection)
        with engine.connect() as connection:
            outside_transactions(connection)
            assert _driver(connection).autocommit
        # Returned without in_transactions(): the pool's checkin ended it.
        with engine.connect() as connection:
            assert not _driver(connection).autocommit
            connection.execute(update(_V).where(_V.c.id == "nope").values(status="sold"))
            assert _driver(connection).info.transaction_status.name == "INTRANS"
            connection.rollback()
    finally:
        engine.dispose()
