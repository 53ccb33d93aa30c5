"""Reads sent straight to psycopg (:mod:`adapters.sql.direct`) on PostgreSQL: the same rows as
SQLAlchemy's path, in the same transaction, with the same errors; and the cases that must go
SQLAlchemy's way do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    exc,
    literal_column,
    select,
    text,
)

from adapters.sql import direct, mapping, tables, views
from adapters.sql import statements as sql
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.ids import SequentialIds
from checkout_core.ports.repositories import StoredEvent
from checkout_core.ports.unit_of_work import reads_expected
from tests.sql.builders import advisor, full_order, reservation, vehicle

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def engine(pg_engine: Engine) -> Engine:
    """PostgreSQL with a car, an advisor, a reservation, its order and two of its events."""
    with SqlUnitOfWork(pg_engine, SequentialIds()) as uow:
        uow.vehicles.upsert(vehicle("veh_1"))
        uow.advisors.upsert(advisor("adv_1"))
        held = reservation("res_1", vehicle_id="veh_1")
        uow.reservations.add(held)
        uow.orders.add(full_order("ord_1", reservation_id="res_1", vehicle_id="veh_1", advisor_id="adv_1"))
        for n, name in enumerate(("OrderPlaced", "AdvisorAssigned")):
            at = T0 + timedelta(minutes=n)
            payload: dict[str, object] = {"n": n, "ü": [1, None]}
            uow.outbox.add(StoredEvent(id=f"evt_{n}", aggregate_id="ord_1", name=name, payload=payload, occurred_at=at))
        uow.commit()
    return pg_engine


def _direct_rows(connection: Any, statement: Any, params: Any) -> list[dict[str, Any]] | None:
    """The rows the direct path answers, or None when the statement goes SQLAlchemy's way."""
    outcome = direct.execute(connection, statement, params)
    return None if outcome is None else outcome.rows


def _both(engine: Engine, statement: Any, params: dict[str, Any]) -> tuple[list[dict[Any, Any]], list[dict[Any, Any]]]:
    """The rows through SQLAlchemy and through the direct path, on one connection."""
    with engine.connect() as connection:
        expected = [dict(r) for r in connection.execute(statement, params).mappings().all()]
        found = _direct_rows(connection, statement, params)
        assert found is not None, "the direct path was not taken"
        return expected, found


def test_the_order_view_reads_the_same_rows_as_sqlalchemy(engine: Engine) -> None:
    expected, found = _both(engine, views.orders_with_parties("postgresql", False), {"id": "ord_1"})
    assert found == expected and len(found) == 1
    row = found[0]
    assert row["vehicle__id"] == "veh_1" and row["advisor__id"] == "adv_1"
    # UtcDateTime's result processor ran: aware UTC, as SQLAlchemy gives them.
    assert row["created_at"].tzinfo is UTC
    assert [e.name for e in views.stored_events(row[views.EVENTS])] == ["OrderPlaced", "AdvisorAssigned"]


def test_the_checkout_join_reads_the_same_rows_as_sqlalchemy(engine: Engine) -> None:
    # The least-loaded advisor's subquery counts open orders: its statuses are SQL literals, not
    # an "expanding" list (which would send the checkout's widest read the SQLAlchemy way).
    params = {"id": "res_1", "trade_in_id": None, "financing_id": None}
    with SqlUnitOfWork(engine, SequentialIds()) as uow:
        uow.execute(tables.orders.update().values(status="pending_payment"))
        uow.commit()
    expected, found = _both(engine, views.reservation_for_checkout("postgresql"), params)
    assert found == expected and len(found) == 1
    assert found[0]["vehicle__id"] == "veh_1" and found[0]["advisor__id"] == "adv_1"


@pytest.mark.parametrize("table", [tables.vehicles, tables.reservations, tables.orders, tables.outbox])
def test_prebuilt_lookups_read_the_same_rows_as_sqlalchemy(engine: Engine, table: Any) -> None:
    column = "aggregate_id" if table is tables.outbox else "id"
    value = {"vehicles": "veh_1", "reservations": "res_1", "orders": "ord_1", "outbox": "ord_1"}[table.name]
    statement = sql.select_where("postgresql", table, (column,), order_by=("id",))
    expected, found = _both(engine, statement, sql.where_params(**{column: value}))
    assert found == expected and found


def test_dynamic_statements_with_literals_read_the_same_rows(engine: Engine) -> None:
    # Literals are extracted as parameters by SQLAlchemy's cache key: the direct path passes them.
    o = tables.orders
    recent = o.c.created_at > T0 - timedelta(days=3650)
    statement = select(o.c.id, o.c.created_at).where(o.c.status != "cancelled", recent)
    expected, found = _both(engine, statement, {})
    assert found == expected and [r["id"] for r in found] == ["ord_1"]


def test_what_must_go_sqlalchemys_way_does(engine: Engine) -> None:
    o = tables.orders
    expanding = select(o.c.id).where(o.c.id.in_(bindparam("ids", expanding=True)))
    with engine.connect() as connection:
        assert _direct_rows(connection, expanding, {"ids": ["ord_1"]}) is None  # SQL changes per call
        assert _direct_rows(connection, select(literal_column("1").label("one")), {}) == [{"one": 1}]
    counted: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        counted.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with engine.connect() as connection:
            assert _direct_rows(connection, select(o.c.id), {}) is None  # listeners see every statement
        with SqlUnitOfWork(engine, SequentialIds()) as uow:
            assert uow.orders.get("ord_1") is not None
        assert len(counted) == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)
    with engine.connect() as connection:  # the listener gone, the direct path is back
        assert _direct_rows(connection, select(o.c.id), {}) == [{"id": "ord_1"}]


def test_a_direct_read_is_part_of_the_transaction_commit_and_rollback_see(engine: Engine) -> None:
    v = tables.vehicles
    with SqlUnitOfWork(engine, SequentialIds()) as uow:
        locked = uow.vehicles.get("veh_1", for_update=True)  # the transaction's first statement
        assert locked is not None
        uow.execute(v.update().where(v.c.id == "veh_1").values(make="Direct"))
        uow.rollback()
        assert uow.vehicles.get("veh_1") == locked  # rolled back: the read saw it undone
        uow.execute(v.update().where(v.c.id == "veh_1").values(make="Direct"))
        uow.commit()
    with SqlUnitOfWork(engine, SequentialIds()) as uow:
        car = uow.vehicles.get("veh_1")
        assert car is not None and car.make == "Direct"


def test_a_read_outside_transactions_then_a_write_commits_the_write(engine: Engine) -> None:
    v = tables.vehicles
    with reads_expected(), SqlUnitOfWork(engine, SequentialIds()) as uow:
        assert uow.vehicles.get("veh_1") is not None  # autocommit: no BEGIN
        uow.execute(v.update().where(v.c.id == "veh_1").values(make="After"))
        uow.commit()
    with engine.connect() as connection:
        assert connection.execute(select(v.c.make).where(v.c.id == "veh_1")).scalar_one() == "After"


def test_errors_arrive_wrapped_by_sqlalchemy_and_leave_the_connection_usable(engine: Engine) -> None:
    broken = select((literal_column("1") / bindparam("zero", type_=Integer)).label("x"))
    with engine.connect() as connection:
        with pytest.raises(exc.DataError) as raised:
            _direct_rows(connection, broken, {"zero": 0})
        assert "division by zero" in str(raised.value)
        assert not raised.value.connection_invalidated
        connection.rollback()
        assert _direct_rows(connection, select(literal_column("2").label("two")), {}) == [{"two": 2}]


def test_a_dead_pooled_connection_is_replaced_for_a_first_direct_read(engine: Engine) -> None:
    # The pool's connection is killed behind its back; the unit of work's first read fails on
    # it (invalidated by SQLAlchemy's handler) and is sent once more on a new connection.
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # the pool holds a live connection
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    with reads_expected(), SqlUnitOfWork(engine, SequentialIds()) as uow:
        assert uow.vehicles.get("veh_1") is not None
    # The replacement was switched to autocommit for the read; back in the pool, it is not.
    with engine.connect() as connection:
        driver: Any = connection.connection.driver_connection
        assert not driver.autocommit


def test_rows_are_the_mapping_layers_input(engine: Engine) -> None:
    with SqlUnitOfWork(engine, SequentialIds()) as uow:
        (row,) = uow.rows(sql.select_where("postgresql", tables.reservations, ("id",)), sql.where_params(id="res_1"))
        assert mapping.from_row(row, type(reservation("res_1", vehicle_id="veh_1"))).id == "res_1"


def test_writes_answer_the_same_row_counts_and_returning_rows(engine: Engine) -> None:
    v, p = tables.vehicles, tables.payments
    with engine.connect() as connection:
        moved = direct.execute(connection, v.update().where(v.c.id == "veh_1").values(make="Direct"), None)
        assert moved is not None and moved.rowcount == 1 and moved.rows == []
        missed = direct.execute(connection, v.update().where(v.c.id == "veh_x").values(make="Direct"), None)
        assert missed is not None and missed.rowcount == 0
        claim = sql.insert_or_skip("postgresql", tables.idempotency_keys, ("scope", "key"))
        row = {"scope": "s", "key": "k", "request_hash": "h", "created_at": T0, "status_code": None, "body": b""}
        row["content_type"] = "application/json"
        first, second = (direct.execute(connection, claim, row) for _ in range(2))
        assert (first and first.rowcount, second and second.rowcount) == (1, 0)
        returning = v.update().where(v.c.id == "veh_1").values(model="R").returning(v.c.id, v.c.model)
        answered = direct.execute(connection, returning, None)
        assert answered is not None and answered.rows == [{"id": "veh_1", "model": "R"}]
        connection.commit()
        assert connection.execute(select(v.c.make, v.c.model).where(v.c.id == "veh_1")).one() == ("Direct", "R")
        # A UNIQUE violation arrives as SQLAlchemy's IntegrityError, its table named by psycopg.
        with pytest.raises(exc.IntegrityError) as raised:
            direct.execute(connection, tables.idempotency_keys.insert(), row)
        assert getattr(raised.value.orig, "diag", None) is not None
        assert raised.value.orig.diag.table_name == "idempotency_keys"  # type: ignore[union-attr]  # psycopg's error
        connection.rollback()
        # Several sets of parameters (executemany) go SQLAlchemy's way.
        assert direct.execute(connection, p.update().values(status="x"), [{}, {}]) is None


def test_python_side_defaults_go_sqlalchemys_way(engine: Engine) -> None:
    columns = [Column("id", String, primary_key=True), Column("v", String, default=lambda: "x")]
    table = Table("not_sent", MetaData(), *columns)
    with engine.connect() as connection:
        assert direct.execute(connection, table.insert(), {"id": "a"}) is None  # nothing was sent


def test_json_documents_are_decoded_by_msgspec_to_the_same_values(engine: Engine) -> None:
    import json

    import msgspec

    document = {"cents": 123456789012345678901234567890, "rate": "0.13", "f": 2.5, "é": [None, True, {"n": -1}]}
    with engine.connect() as connection:
        adapters = connection.connection.driver_connection.adapters  # type: ignore[union-attr]  # psycopg's
        loader = adapters.get_loader(adapters.types["jsonb"].oid, 0)
        assert getattr(loader, "_loads", None) is msgspec.json.decode  # the class psycopg made for it
        found = connection.execute(text("SELECT CAST(:d AS jsonb)"), {"d": json.dumps(document)}).scalar_one()
    assert found == json.loads(json.dumps(document))


def test_json_documents_are_encoded_by_msgspec_and_stored_as_json_dumps_would(engine: Engine) -> None:
    """The same JSONB value as json.dumps's text makes, for what our documents hold: ints past
    64 bits, non-ASCII text, nesting, None and booleans (written both ways, compared in SQL)."""
    import json

    import msgspec

    document = {"cents": 123456789012345678901234567890, "name": "Québec « é »", "lines": [{"n": -1, "ok": True}, None]}
    as_document = text("SELECT CAST(:d AS jsonb) = CAST(:t AS jsonb), CAST(:d AS jsonb)").bindparams(
        bindparam("d", type_=tables.Document)
    )
    with engine.connect() as connection:
        adapters = connection.connection.driver_connection.adapters  # type: ignore[union-attr]  # psycopg's
        dumper = adapters.get_dumper(psycopg.types.json.Jsonb, psycopg.adapt.PyFormat.AUTO)
        assert getattr(dumper, "_dumps", None) is msgspec.json.encode  # the class psycopg made for it
        same, stored = connection.execute(as_document, {"d": document, "t": json.dumps(document)}).one()
    assert same is True
    assert stored == document


def test_a_checkouts_statements_all_go_straight_to_psycopg(engine: Engine) -> None:
    """Each SQLAlchemy round of a checkout's statements cost 50-100 us of CPU more (issue 16): the
    car's conditional claim, the combined writes and the Idempotency-Key's claim and answer."""
    from adapters.sql import idempotency
    from adapters.sql.repositories import _set_vehicle_status

    keys = tables.idempotency_keys
    claim = sql.insert_or_skip("postgresql", keys, ("scope", "key"))
    row = {"scope": "s", "key": "k", "request_hash": "h", "created_at": T0, "status_code": None, "body": b""}
    row["content_type"] = "application/json"
    writes: list[sql.Write] = [
        (tables.vehicles.update().where(tables.vehicles.c.id == bindparam("w_id")).values(make="C"), {"w_id": "veh_1"}),
        (claim, {**row, "key": "k2"}),
    ]
    with engine.connect() as connection:
        car = direct.execute(
            connection,
            _set_vehicle_status(True, True),
            {"ids": "veh_1", "status": "reserved"} | {"expected": "available"},
        )
        assert car is not None and car.rowcount == 1
        # Several cars still take the expanding IN (SQLAlchemy's way: its SQL changes with the list).
        several = {"ids": ["veh_1", "veh_2"], "status": "available", "expected": "reserved"}
        assert direct.execute(connection, _set_vehicle_status(True, False), several) is None
        counts = direct.execute(connection, *sql.combined(writes))
        assert counts is not None and counts.one() == (1, 1)
        assert list(counts.rows[0]) == ["n0", "n1"]
        claimed = direct.execute(connection, claim, row)
        assert claimed is not None and claimed.rowcount == 1
        answer = {"v_status_code": 201, "v_body": b"{}", "v_content_type": "application/json"}
        stored = direct.execute(connection, idempotency._STORE, {**answer, **sql.where_params(scope="s", key="k")})
        assert stored is not None and stored.rowcount == 1
        connection.rollback()


def test_statements_of_many_parameters_are_converted_once(engine: Engine) -> None:
    """psycopg caches a statement's conversion (``%(name)s`` → ``$n``) only up to a size; ours are
    built once per shape and reach 53 parameters (the order's combined writes), so the engine
    widens that cache: a 60-parameter statement is parsed once, then found in the cache."""
    from psycopg import _queries

    names = [f"p{n}" for n in range(60)]
    statement = select(sum((bindparam(n, type_=Integer) for n in names[1:]), bindparam(names[0], type_=Integer)))
    params = {n: i for i, n in enumerate(names)}
    hits = []
    with engine.connect() as connection:
        for _ in range(3):
            outcome = direct.execute(connection, statement, params)
            assert outcome is not None and outcome.one() == (sum(range(60)),)
            hits.append(_queries._query2pg.cache_info().hits)
    assert hits[2] - hits[0] == 2  # the second and third calls found it


def test_a_statement_sent_again_takes_its_own_literals_and_the_given_values(engine: Engine) -> None:
    """From its second call a statement object's parameters are filled without SQLAlchemy's
    ``construct_params`` (what that made the first time is remembered per object and key set): two
    objects of one shape keep their own literals, one object sent with other keys is made anew,
    and a value computed at each call (``callable_``) is computed at each call."""
    o = tables.orders
    shape = {status: select(o.c.id).where(o.c.status == status, o.c.id == bindparam("id")) for status in ("x", "y")}
    with engine.connect() as connection:
        connection.execute(o.update().where(o.c.id == "ord_1").values(status="x"))
        for _ in range(3):
            assert _direct_rows(connection, shape["x"], {"id": "ord_1"}) == [{"id": "ord_1"}]
            assert _direct_rows(connection, shape["y"], {"id": "ord_1"}) == []
            assert _direct_rows(connection, shape["x"], {"id": "ord_2"}) == []
        maybe = select(o.c.id).where(o.c.id == bindparam("id", "ord_1"), o.c.status == bindparam("status", "x"))
        for _ in range(2):
            assert _direct_rows(connection, maybe, {"id": "ord_1"}) == [{"id": "ord_1"}]
            assert _direct_rows(connection, maybe, {"status": "y"}) == []
            assert _direct_rows(connection, maybe, {}) == [{"id": "ord_1"}]
        asked = iter(["ord_1", "ord_2", "ord_1", "ord_2"])
        computed = select(o.c.id).where(o.c.id == bindparam("id", callable_=lambda: next(asked)))
        assert [_direct_rows(connection, computed, {}) for _ in range(4)] == [
            [{"id": "ord_1"}],
            [],
            [{"id": "ord_1"}],
            [],
        ]
        connection.rollback()


def test_a_prebuilt_statement_is_compiled_and_its_parameters_made_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.sql.compiler import SQLCompiler

    made: list[object] = []
    original = SQLCompiler.construct_params

    def construct_params(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        made.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "construct_params", construct_params)
    statement = sql.select_where("postgresql", tables.orders, ("id",), order_by=("id",))
    counts = []
    with engine.connect() as connection:
        for _ in range(4):
            found = _direct_rows(connection, statement, sql.where_params(id="ord_1")) or []
            assert [r["id"] for r in found] == ["ord_1"]
            counts.append(len(made))
    # Made at the first two calls at most (the first marks the object seen, the second learns
    # how its parameters are made; an earlier test may have sent it already), never after.
    assert counts[1] <= 2 and counts[3] == counts[1]


def test_a_statement_built_for_one_call_leaves_nothing_behind(engine: Engine) -> None:
    import gc
    import weakref

    built = []
    with engine.connect() as connection:
        for n in range(5):
            statement = select(tables.orders.c.id).where(tables.orders.c.id == bindparam("id"))
            for _ in range(3):
                assert _direct_rows(connection, statement, {"id": "ord_1"}) == [{"id": "ord_1"}]
            assert statement in direct._parameters, n  # learnt: its third call took the short way
            built.append(weakref.ref(statement))
            del statement
            gc.collect()
    # At most the first is still alive, held by SQLAlchemy's compiled cache (a compiled form keeps
    # the statement it was compiled from); the direct path keeps none of them.
    assert sum(ref() is not None for ref in built[1:]) == 0
