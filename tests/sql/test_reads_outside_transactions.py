"""Units of work under ``reads_expected()`` (an HTTP GET): reads go outside any transaction (no
BEGIN, no ROLLBACK), and the first write opens an ordinary transaction — rolled back unless
committed, like any other."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, update

from adapters.sql import tables
from adapters.sql.engine import SQLITE_NO_BEGIN
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
        options = conn.get_execution_options()
        if options.get("isolation_level") != "AUTOCOMMIT" and not options.get(SQLITE_NO_BEGIN):
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
