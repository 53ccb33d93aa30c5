"""The per-customer hold count on PostgreSQL (migration 0010): planned once per connection.

The count runs inside ``checkout_count_under_customer_lock`` under the customer's advisory lock;
0008 ran it with PL/pgSQL's ``EXECUTE … USING``, which plans it again at every reservation. The
function now prepares it once per connection and executes the prepared statement after."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, text

from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.ids import SequentialIds
from checkout_core.model.reservation import ReservationStatus
from tests.sql.builders import T0, reservation, vehicle

pytestmark = pytest.mark.postgres


def _prepared(connection: Connection) -> list[tuple[str, int]]:
    """The session's prepared counts: (name, plans made for it so far)."""
    rows = connection.exec_driver_sql(
        "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements"
        " WHERE starts_with(name, 'checkout_count_') ORDER BY name"
    )
    return [(str(name), int(plans)) for name, plans in rows]


@pytest.fixture
def holds(pg_engine: Engine) -> Engine:
    """Three live holds of ``cus_1`` (one overdue an hour after T0) and one expired one."""
    with SqlUnitOfWork(pg_engine, SequentialIds()) as uow:
        for n in range(1, 5):
            uow.vehicles.upsert(vehicle(f"veh_{n}"))
        uow.reservations.add(reservation("res_1", vehicle_id="veh_1", status=ReservationStatus.PENDING_DEPOSIT))
        uow.reservations.add(reservation("res_2", vehicle_id="veh_2", expires_at=T0 + timedelta(hours=1)))
        uow.reservations.add(reservation("res_3", vehicle_id="veh_3", expires_at=T0 + timedelta(hours=2)))
        uow.reservations.add(reservation("res_4", vehicle_id="veh_4", status=ReservationStatus.EXPIRED))
        uow.commit()
    return pg_engine


def test_the_count_is_prepared_once_per_connection_and_counts_right(holds: Engine) -> None:
    with SqlUnitOfWork(holds, SequentialIds()) as uow:
        uow.connection.exec_driver_sql("DEALLOCATE ALL")  # whatever earlier tests left on it
        at = (T0, T0 + timedelta(hours=1), T0 + timedelta(hours=5), T0, T0)
        counts = [uow.reservations.count_active_for_customer("cus_1", when) for when in at]
        prepared = _prepared(uow.connection)
    assert counts == [3, 2, 1, 3, 3]
    assert len(prepared) == 1, prepared  # one statement, prepared the first time ...
    assert prepared[0][1] == 5  # ... and executed by every call since (a plan per execution)


def test_a_connection_that_lost_its_prepared_statements_prepares_the_count_again(holds: Engine) -> None:
    with SqlUnitOfWork(holds, SequentialIds()) as uow:
        assert uow.reservations.count_active_for_customer("cus_1", T0) == 3
        assert len(_prepared(uow.connection)) == 1
        # What a pooler's DISCARD ALL or a DEALLOCATE ALL does between two transactions.
        uow.connection.exec_driver_sql("DEALLOCATE ALL")
        assert _prepared(uow.connection) == []
        assert uow.reservations.count_active_for_customer("cus_nobody", T0) == 0
        assert uow.reservations.count_active_for_customer("cus_1", T0 + timedelta(hours=1)) == 2
        assert [plans for _name, plans in _prepared(uow.connection)] == [2]


def test_customer_ids_are_passed_as_values_not_sql(holds: Engine) -> None:
    # The id reaches the server's EXECUTE as a quoted literal: quotes and backslashes stay data.
    with SqlUnitOfWork(holds, SequentialIds()) as uow:
        for hostile in ("o'brien", "x'); DROP TABLE reservations; --", "back\\slash", "ünï"):
            assert uow.reservations.count_active_for_customer(hostile, T0) == 0
        assert uow.reservations.count_active_for_customer("cus_1", T0) == 3
    with holds.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM reservations")).scalar_one() == 4
