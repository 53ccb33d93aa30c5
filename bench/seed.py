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


#: Past checkouts in a benchmark database (:func:`seed_history`): the sections that compare the
#: app with the baselines pass it to :func:`prepare_database` (tests seed none: 6 s saved each).
HISTORY = 20_000


def prepare_database(url: str, *, vehicles: int, prefix: str = "veh_b", history: int = 0) -> list[str]:
    """Migrate ``url``, load the demo data (advisors, the spec's customer), ``history`` past
    checkouts (PostgreSQL; :func:`seed_history`) and ``vehicles`` more available cars through
    the repositories; return the new cars' ids."""
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
        if history and engine.dialect.name == "postgresql":
            seed_history(engine, history)
            analyze(engine, HISTORY_TABLES)
        else:
            analyze(engine, ("vehicles", "advisors", "customers"))
        return [car.id for car in cars]
    finally:
        engine.dispose()


#: The tables :func:`seed_history` fills (and the seeded ones before it): analysed after it.
HISTORY_TABLES = (
    "vehicles",
    "advisors",
    "customers",
    "reservations",
    "payments",
    "refunds",
    "orders",
    "idempotency_keys",
    "outbox",
)

# What became of past checkout g (1..:n), by its number: most were converted into an order and
# completed (one order in twelve was cancelled), one in six expired and one in six was
# cancelled (their deposits refunded); and a few are still going — one in a hundred a hold
# confirmed and not yet due (it expires a day or more after the run starts), one in a hundred an
# order still open (waiting for insurance). So the statistics see live rows in every status a
# checkout reads by, as in a database in service.
_KINDS = """WITH h AS (
  SELECT g, CASE WHEN g % 100 = 50 THEN 'held' WHEN g % 100 = 51 THEN 'open'
                 WHEN g % 6 = 0 THEN 'expired' WHEN g % 6 = 1 THEN 'cancelled'
                 WHEN g % 12 = 2 THEN 'order_cancelled' ELSE 'completed' END AS kind,
         :start - g * interval '1 minute' AS at
  FROM generate_series(1, :n) g)
"""

# One statement per table: a car (sold, reserved or sale-pending), its hold, the deposit
# (linked to its order, which the deferred foreign key lets come later in the transaction), the
# refund, the order (the advisors in turn), the two requests' stored answers and the events,
# published. Order numbers CLT-<an earlier year>-n never meet this year's counter. Nothing is
# due, unpublished or awaiting an agreement: no sweep, relay or worker has anything to do.
_HISTORY_SQL = (
    """INSERT INTO vehicles (id, vin, year, make, model, trim, colour, body_type, odometer_km,
         price_cents, currency, status, stock_number)
       SELECT 'veh_hist' || g, 'H' || lpad(g::text, 16, '0'), 2015 + g % 9, 'Toyota', 'Corolla', 'LE',
         'Silver', 'Sedan', 20000 + g % 90000, 1500000 + (g % 50) * 10000, 'CAD',
         CASE kind WHEN 'held' THEN 'reserved' WHEN 'open' THEN 'sale_pending' ELSE 'sold' END, 'H' || g
       FROM h""",
    """INSERT INTO reservations (id, vehicle_id, customer_id, status, deposit_cents, currency,
         hold_hours, created_at, expires_at, charge_id, order_id, updated_at)
       SELECT 'res_hist' || g, 'veh_hist' || g, 'cus_hist' || (g % (:n / 3 + 1)),
         CASE WHEN kind = 'held' THEN 'confirmed' WHEN kind IN ('expired', 'cancelled') THEN kind ELSE 'converted' END,
         10000, 'CAD', 72, at,
         CASE WHEN kind = 'held' THEN :start + interval '2 days' + g * interval '1 second'
              ELSE at + interval '72 hours' END,
         'ch_hist' || g, CASE WHEN kind NOT IN ('held', 'expired', 'cancelled') THEN 'ord_hist' || g END,
         at + interval '1 hour'
       FROM h""",
    """INSERT INTO payments (id, purpose, method, amount_cents, refunded_cents, currency, status,
         idempotency_key, reservation_id, order_id, gateway_ref, card_brand, card_last4,
         created_at, updated_at)
       SELECT 'pay_hist' || g, 'deposit', 'card', 10000,
         CASE WHEN kind IN ('expired', 'cancelled') THEN 10000 ELSE 0 END,
         'CAD', 'succeeded', 'res_hist' || g || '\\:deposit', 'res_hist' || g,
         CASE WHEN kind NOT IN ('held', 'expired', 'cancelled') THEN 'ord_hist' || g END, 'ch_hist' || g,
         'visa', '4242', at, at + interval '1 hour'
       FROM h""",
    """INSERT INTO refunds (id, payment_id, amount_cents, currency, status, idempotency_key, reason,
         gateway_ref, created_at, updated_at)
       SELECT 'rfd_hist' || g, 'pay_hist' || g, 10000, 'CAD', 'succeeded',
         'pay_hist' || g || '\\:reservation_' || kind, 'reservation_' || kind, 're_hist' || g,
         at + interval '1 hour', at + interval '1 hour'
       FROM h WHERE kind IN ('expired', 'cancelled')""",
    """INSERT INTO orders (id, number, status, vehicle_id, customer_id, reservation_id, advisor_id,
         contact, pricing, payment_plan, delivery, documents, paid_cents, refunded_cents, currency,
         created_at, updated_at, delivered_at, completed_at, closed_reason, version, awaits_agreement)
       SELECT 'ord_hist' || g, 'CLT-' || (:year - 1 - g / 90000) || '-' || lpad((g % 90000)::text, 5, '0'),
         CASE kind WHEN 'open' THEN 'pending_insurance' WHEN 'order_cancelled' THEN 'cancelled' ELSE 'completed' END,
         'veh_hist' || g, 'cus_hist' || (g % (:n / 3 + 1)), 'res_hist' || g,
         (ARRAY(SELECT id FROM advisors ORDER BY id))[1 + g % (SELECT count(*) FROM advisors)],
         '{}', '{}', '{}', '{}', '[]', CASE WHEN kind = 'completed' THEN 1500000 ELSE 0 END,
         CASE WHEN kind = 'order_cancelled' THEN 10000 ELSE 0 END, 'CAD',
         at + interval '2 hours', at + interval '9 days',
         CASE WHEN kind = 'completed' THEN at + interval '8 days' END,
         CASE WHEN kind = 'completed' THEN at + interval '9 days' END,
         CASE WHEN kind = 'order_cancelled' THEN 'customer_cancelled' END, 5, false
       FROM h WHERE kind IN ('open', 'order_cancelled', 'completed')""",
    """INSERT INTO idempotency_keys (scope, key, request_hash, created_at, status_code, body, content_type)
       SELECT 'POST /api/v1/' || r || ' cus_hist' || (g % (:n / 3 + 1)), 'hist-' || r || '-' || g,
         md5(r || g), at, 201, convert_to('{"id": "' || r || g || '"}', 'UTF8'), 'application/json'
       FROM h, unnest(ARRAY['reservations', 'orders']) r""",
    """INSERT INTO outbox (id, aggregate_id, name, payload, occurred_at, published_at)
       SELECT 'evt_hist' || g || '_' || e, CASE WHEN e < 3 THEN 'res_hist' ELSE 'ord_hist' END || g,
         (ARRAY['VehicleReservationInitiated', 'DepositPaid', 'ReservationConfirmed',
                'AdvisorAssigned', 'PurchaseAgreementGenerated'])[e],
         '{}', at, at + interval '1 second'
       FROM h, generate_series(1, 5) e
       WHERE e <= 3 OR kind NOT IN ('held', 'expired', 'cancelled')
       ORDER BY g DESC, e""",
)


def seed_history(engine: Engine, checkouts: int = HISTORY) -> None:
    """``checkouts`` past checkouts, as a database in service holds them, in one transaction
    (PostgreSQL; a few seconds for 20,000). A benchmark on empty tables measures plans no
    production database runs: PostgreSQL plans a prepared statement on the statistics it has,
    and a table never analysed, or analysed empty, gets an index chosen by a tie or a
    sequential scan that then lasts while the table grows (seen: the deposit's
    ``UPDATE payments … WHERE idempotency_key = … AND status = …`` walking the status index past
    every earlier payment). Both the app and the baselines get the same history."""
    now = datetime.now(UTC)
    params = {"n": checkouts, "start": now - timedelta(days=1), "year": now.year}
    with engine.begin() as connection:
        for statement in _HISTORY_SQL:
            connection.execute(text(_KINDS + statement), params)


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
