"""Seeding benchmark and multi-process test databases.

Cars go in through the SQL adapter's repositories (one transaction, one statement per car).
Ten thousand *due* reservations for the expiry benchmark go in as multi-row INSERTs into the
adapter's tables (``adapters.sql.tables``): going through the use cases would take minutes of
setup (every reservation charges the sandbox gateway), and what is measured is the sweep, not
the seeding. Their deposits are charged through the sandbox gateway's own API, so the gateway
has the charges the sweep will refund."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

from adapters.payments.sandbox import SandboxGateway
from adapters.sql import tables
from adapters.sql.engine import make_engine
from adapters.sql.migrations import upgrade_database
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from adapters.system.ids import RandomIds
from checkout_core.demo import load_demo
from checkout_core.model.vehicle import Vehicle, VehicleStatus
from checkout_core.money import Money

#: The file the embedded sandbox gateway keeps its records in (``entrypoints.bootstrap``).
SANDBOX_FILE = "sandbox-gateway.sqlite3"

_MAKES = (("Toyota", "Corolla"), ("Honda", "Civic"), ("Mazda", "CX-5"), ("Ford", "Escape"), ("Kia", "Soul"))


def bench_vehicle(n: int, prefix: str = "veh_b", status: VehicleStatus = VehicleStatus.AVAILABLE) -> Vehicle:
    """Car number ``n`` of a generated catalogue (distinct ids and VINs)."""
    make, model = _MAKES[n % len(_MAKES)]
    return Vehicle(
        id=f"{prefix}{n:06d}",
        vin=f"1BENCH{n:011d}"[:17],
        year=2015 + n % 9,
        make=make,
        model=model,
        trim="Base",
        colour="Grey",
        body_type="Sedan",
        odometer_km=20_000 + n * 7 % 150_000,
        price=Money(1_500_000 + n % 40 * 25_000),
        status=status,
    )


def prepare_database(url: str, *, vehicles: int, prefix: str = "veh_b") -> list[str]:
    """Migrate ``url``, load the demo data (advisors, the spec's customer) and ``vehicles``
    more available cars through the repositories; return the new cars' ids."""
    engine = make_engine(url)
    try:
        upgrade_database(engine)
        ids = RandomIds()
        load_demo(lambda: SqlUnitOfWork(engine, ids))
        cars = [bench_vehicle(n, prefix) for n in range(vehicles)]
        with SqlUnitOfWork(engine, ids) as uow:
            for car in cars:
                uow.vehicles.upsert(car)
            uow.commit()
        analyze(engine, ("vehicles", "advisors", "customers"))
        return [car.id for car in cars]
    finally:
        engine.dispose()


def sandbox_journal_mode(data_dir: Path, mode: str) -> str:
    """Set the journal mode of the sandbox gateway's file (created if missing); returns the mode
    now in force. The mode is stored in the file, so every later connection uses it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(data_dir / SANDBOX_FILE) as db:
        row = db.execute(f"PRAGMA journal_mode = {mode}").fetchone()  # mode is ours: 'wal' or 'delete'
    return str(row[0])


def seed_due_reservations(engine: Engine, data_dir: Path, count: int, *, prefix: str = "due") -> list[str]:
    """``count`` confirmed reservations that expired an hour ago, each with its car (reserved)
    and its deposit (succeeded, charged at the sandbox gateway in ``data_dir``).

    The gateway's charges are made through its public ``charge`` API with the same idempotency
    key the use case would use; the gateway file is switched to WAL for the seeding only (with its
    default rollback journal every charge waits for several fsyncs: 2.5 ms on a quiet machine
    here, 15 ms on a busy one) and back to the default before returning, so the sweep then runs
    against the gateway as shipped."""
    now = datetime.now(UTC)
    created = now - timedelta(hours=73)
    expires = now - timedelta(hours=1)
    ids = [f"res_{prefix}{n:06d}" for n in range(count)]
    original_mode = sandbox_journal_mode(data_dir, "wal")
    gateway = SandboxGateway(SystemClock(), data_dir / SANDBOX_FILE)
    charges: list[str] = []
    try:
        for n, reservation in enumerate(ids):
            charge = gateway.charge(
                amount=Money(10000),
                source="tok_visa",
                idempotency_key=f"{reservation}:deposit",
                description=f"Refundable deposit for reservation {reservation}",
                metadata={"reservation_id": reservation, "ledger_id": f"pay_{prefix}{n:06d}"},
            )
            charges.append(charge.ref)
    finally:
        gateway.close()
        sandbox_journal_mode(data_dir, "delete" if original_mode == "wal" else original_mode)
    vehicles: list[dict[str, Any]] = [
        {
            "id": f"veh_{prefix}{n:06d}",
            "vin": f"1DUE{n:013d}"[:17],
            "year": 2020,
            "make": "Toyota",
            "model": "Corolla",
            "trim": "LE",
            "colour": "Silver",
            "body_type": "Sedan",
            "odometer_km": 40_000,
            "price_cents": 1_999_900,
            "currency": "CAD",
            "status": VehicleStatus.RESERVED.value,
        }
        for n in range(count)
    ]
    reservations: list[dict[str, Any]] = [
        {
            "id": reservation,
            "vehicle_id": f"veh_{prefix}{n:06d}",
            "customer_id": f"cus_{prefix}{n:06d}",
            "status": "confirmed",
            "deposit_cents": 10000,
            "currency": "CAD",
            "hold_hours": 72,
            "created_at": created,
            "expires_at": expires,
            "charge_id": charges[n],
            "order_id": None,
            "updated_at": created,
        }
        for n, reservation in enumerate(ids)
    ]
    payments: list[dict[str, Any]] = [
        {
            "id": f"pay_{prefix}{n:06d}",
            "purpose": "deposit",
            "method": "card",
            "amount_cents": 10000,
            "refunded_cents": 0,
            "currency": "CAD",
            "status": "succeeded",
            "idempotency_key": f"{reservation}:deposit",
            "reservation_id": reservation,
            "order_id": None,
            "gateway_ref": charges[n],
            "failure_code": None,
            "card_brand": "visa",
            "card_last4": "4242",
            "created_at": created,
            "updated_at": created,
        }
        for n, reservation in enumerate(ids)
    ]
    with engine.begin() as connection:
        for table, rows in (
            (tables.vehicles, vehicles),
            (tables.reservations, reservations),
            (tables.payments, payments),
        ):
            for chunk in _chunks(rows, 2000):
                connection.execute(insert(table), chunk)
    analyze(engine, ("vehicles", "reservations", "payments"))
    return ids


def analyze(engine: Engine, table_names: Sequence[str]) -> None:
    """``VACUUM (ANALYZE)`` the tables a seed filled, on PostgreSQL (nothing on SQLite): a bulk
    load leaves them without statistics and with autovacuum about to start on them, so the
    first measurement would pay for both, where a production database has both long done.
    Only the seeded tables: analysing one still empty (refunds, outbox) would record it as
    empty, and prepared statements would then keep a sequential-scan plan while it grows."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM (ANALYZE) {', '.join(table_names)}"))


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> list[Sequence[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]
