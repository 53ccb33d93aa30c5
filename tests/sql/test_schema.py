"""Migrations and engines: the migrated schema is exactly ``adapters.sql.tables``, upgrading is
idempotent and safe to start from several processes, and the engines are configured as
documented (SQLite: WAL, busy timeout, foreign keys, BEGIN IMMEDIATE)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

from adapters.sql.engine import make_engine, normalize_url
from adapters.sql.migrations import alembic_config, current_revision, head_revision, upgrade_database
from adapters.sql.tables import metadata
from adapters.sql.unit_of_work import SqlUnitOfWork, check_connection
from adapters.system.ids import SequentialIds
from checkout_core.errors import Conflict
from tests.postgres import postgres_database
from tests.sql.builders import T0, vehicle
from tests.sql.conftest import SQL_BACKENDS, sql_engine, sqlite_url


@pytest.fixture(params=SQL_BACKENDS)
def migrated(request: pytest.FixtureRequest) -> Engine:
    """A migrated SQLite or PostgreSQL database."""
    return sql_engine(request, request.param)


def test_migrated_schema_matches_the_tables(migrated: Engine) -> None:
    with migrated.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_is_idempotent_and_reports_the_head(migrated: Engine) -> None:
    assert current_revision(migrated) == head_revision() == "0010"
    upgrade_database(migrated)
    assert current_revision(migrated) == "0010"


def test_indexes_every_query_needs(migrated: Engine) -> None:
    inspector = inspect(migrated)

    def indexed(table: str) -> set[tuple[str, ...]]:
        return {tuple(str(c) for c in ix["column_names"]) for ix in inspector.get_indexes(table)}

    assert {("vehicle_id",), ("customer_id", "status"), ("status", "expires_at", "id")} <= indexed("reservations")
    assert {("number",), ("customer_id", "created_at"), ("advisor_id", "status")} <= indexed("orders")
    assert {("idempotency_key",), ("order_id", "created_at"), ("reservation_id", "created_at"), ("gateway_ref",)} <= (
        indexed("payments")
    )
    assert {("idempotency_key",), ("payment_id", "created_at")} <= indexed("refunds")
    assert {("aggregate_id", "seq"), ("seq",)} <= indexed("outbox")
    unique = {ix["name"] for t in ("reservations", "orders", "payments", "refunds") for ix in inspector.get_indexes(t)}
    assert "uq_reservations_active_vehicle" in unique


def test_a_fresh_database_starts_empty(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    try:
        assert current_revision(engine) is None
        upgrade_database(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_concurrent_upgrades_on_postgres_do_not_collide() -> None:
    # Server, workers and CLI may all start at once on a new database: the advisory lock makes
    # them migrate one after the other.
    with postgres_database() as url:
        engine = make_engine(url)
        try:
            start = threading.Barrier(4)

            def upgrade(_: int) -> None:
                start.wait()
                upgrade_database(engine)

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(upgrade, range(4)))
            assert current_revision(engine) == head_revision()
        finally:
            engine.dispose()


def test_concurrent_upgrades_on_sqlite_do_not_collide(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    try:
        start = threading.Barrier(4)

        def upgrade(_: int) -> None:
            start.wait()
            upgrade_database(engine)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(upgrade, range(4)))
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    try:
        upgrade_database(engine)
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade_database(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


# -- engines ----------------------------------------------------------------------------------


def test_sqlite_engine_pragmas(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar_one() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar_one() == 1
            assert pragma("PRAGMA busy_timeout").scalar_one() == 30_000
            assert pragma("PRAGMA synchronous").scalar_one() == 1  # NORMAL
    finally:
        engine.dispose()


def test_sqlite_write_transactions_take_the_write_lock_up_front(tmp_path: Path) -> None:
    # A second writer must wait for the first (and then succeed), not fail with
    # "database is locked" — this is what BEGIN IMMEDIATE plus the busy timeout buys.
    engine = make_engine(sqlite_url(tmp_path))
    try:
        upgrade_database(engine)
        first_holds_lock = threading.Event()
        release_first = threading.Event()

        def first() -> None:
            with engine.begin() as connection:
                connection.execute(text("SELECT count(*) FROM vehicles")).scalar_one()  # a read begins it
                first_holds_lock.set()
                release_first.wait(5)
                connection.execute(text("INSERT INTO order_numbers (year, last_value) VALUES (2025, 1)"))

        writer = threading.Thread(target=first)
        writer.start()
        assert first_holds_lock.wait(5)
        threading.Timer(0.3, release_first.set).start()
        with engine.begin() as connection:  # blocks until the first commits
            connection.execute(text("UPDATE order_numbers SET last_value = last_value + 1 WHERE year = 2025"))
        writer.join()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT last_value FROM order_numbers")).scalar_one() == 2
    finally:
        engine.dispose()


def test_in_memory_sqlite_works_for_quick_experiments() -> None:
    engine = make_engine("sqlite://")
    try:
        upgrade_database(engine)
        check_connection(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_check_connection(migrated: Engine) -> None:
    check_connection(migrated)


def test_check_connection_raises_when_the_database_is_unreachable() -> None:
    # Port 1 on localhost: nothing listens there, the connection is refused at once.
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    try:
        with pytest.raises(OperationalError):
            check_connection(engine)
    finally:
        engine.dispose()


def test_urls_are_normalised_to_psycopg() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(ValueError, match="psycopg 3"):
        make_engine("postgresql+psycopg2://u@h/db")
    with pytest.raises(ValueError, match="unsupported"):
        make_engine("mysql+pymysql://u@h/db")


def test_a_unit_of_work_that_cannot_get_the_write_lock_gives_up_cleanly(sqlite_engine: Engine, tmp_path: Path) -> None:
    # Another process holds SQLite's write lock for longer than the busy timeout: the unit of
    # work reports a retryable Conflict and refuses to run anything more on that connection
    # (it would run in autocommit mode, outside any transaction).
    blocker = sqlite3.connect(tmp_path / "checkout.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with SqlUnitOfWork(sqlite_engine, SequentialIds()) as uow:
            driver = uow.connection.connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            driver.execute("PRAGMA busy_timeout = 50")  # instead of waiting 30 s
            with pytest.raises(Conflict, match="retry"):
                uow.vehicles.get("veh_1")
            with pytest.raises(RuntimeError, match="start a new one"):
                uow.vehicles.upsert(vehicle())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with SqlUnitOfWork(sqlite_engine, SequentialIds()) as uow:
        uow.vehicles.upsert(vehicle())
        uow.commit()
    with SqlUnitOfWork(sqlite_engine, SequentialIds()) as uow:
        assert uow.vehicles.get("veh_1") == vehicle()


@pytest.fixture(params=SQL_BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty SQLite file or private PostgreSQL database (not migrated)."""
    if request.param == "postgres":
        with postgres_database() as url:
            engine = make_engine(url)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    engine = make_engine(sqlite_url(tmp_path))
    try:
        yield engine
    finally:
        engine.dispose()


def test_migrations_up_and_down_with_rows_that_point_at_a_car(empty_engine: Engine) -> None:
    """A database in use (a car with a reservation and a payment, foreign keys on) upgrades from
    0002 to the head, downgrades back to 0002 and upgrades again, keeping its rows: no migration
    may rebuild a table that others point at."""
    upgrade_database(empty_engine, "0002")
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO vehicles (id, vin, year, make, model, trim, colour, body_type, odometer_km,"
                " price_cents, currency, status) VALUES ('veh_1', '2HGFE2F5XMH512345', 2021, 'Honda', 'Civic',"
                " 'EX', 'Grey', 'Sedan', 34500, 2499900, 'CAD', 'reserved')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO reservations (id, vehicle_id, customer_id, status, deposit_cents, currency, hold_hours,"
                " created_at, expires_at, charge_id, order_id, updated_at) VALUES ('res_1', 'veh_1', 'cus_1',"
                " 'confirmed', 10000, 'CAD', 72, :t, :t, 'pi_1', NULL, :t)"
            ),
            {"t": T0},
        )
    upgrade_database(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    with SqlUnitOfWork(empty_engine, SequentialIds()) as uow:
        car = uow.vehicles.get("veh_1")
        assert car is not None and car.disclosures == ()
        assert uow.reservations.get("res_1") is not None
    with empty_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
    assert current_revision(empty_engine) == "0002"
    assert "disputes" not in inspect(empty_engine).get_table_names()
    upgrade_database(empty_engine)
    with SqlUnitOfWork(empty_engine, SequentialIds()) as uow:
        assert uow.reservations.get("res_1") is not None
