"""Races through the real use cases: many threads reserving one car, several processes sweeping
expiries, concurrent checkouts of one hold and concurrent order numbers.

Every test checks the end state in the database too: nothing double-charged, double-refunded
or half-written."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, func, select

from adapters.payments.sandbox import SandboxGateway
from adapters.sql import tables
from adapters.sql.engine import make_engine
from adapters.sql.migrations import upgrade_database
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import FixedClock
from adapters.system.ids import RandomIds, SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import ReservationLimitReached, ReservationNotUsable, VehicleUnavailable
from checkout_core.model.reservation import ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.usecases.agreements import generate_due_agreements
from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import place_order, start_signing
from checkout_core.usecases.reservations import ReservationResult, reserve_vehicle
from entrypoints.settings import Settings
from tests.core.spec_example import cash_order, spec_order
from tests.postgres import postgres_database
from tests.sql.builders import T0, vehicle
from tests.sql.conftest import empty_all_tables, sql_app, sqlite_url
from tests.sql.expiry_worker import sweep

T = TypeVar("T")
CAR = "veh_abc123"


def _race(threads: int, attempt: Callable[[int], T]) -> list[T]:
    """Run ``attempt(0..threads-1)`` in as many threads, released at the same instant."""
    start = threading.Barrier(threads)

    def go(n: int) -> T:
        start.wait(30)
        return attempt(n)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(go, range(threads)))


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _reservation_race(engine: Engine, clock: FixedClock, threads: int) -> None:
    """``threads`` customers reserve the same car at once; check the outcome and the rows."""
    gateway = SandboxGateway(clock)
    app = sql_app(engine, clock=clock, ids=SequentialIds(), gateway=gateway)
    load_demo(app.ctx.uow)

    def attempt(n: int) -> ReservationResult | VehicleUnavailable:
        try:
            return reserve_vehicle(app.ctx, Actor(f"cus_{n:02d}"), vehicle_id=CAR, payment_token="tok_visa")
        except VehicleUnavailable as refused:  # anything else fails the test
            return refused

    results = _race(threads, attempt)
    winners = [r for r in results if isinstance(r, ReservationResult)]
    assert len(winners) == 1
    assert sum(isinstance(r, VehicleUnavailable) for r in results) == threads - 1
    winner = winners[0].reservation
    assert winner.status is ReservationStatus.CONFIRMED

    charges = [
        c
        for c in gateway.activity(clock.now() - timedelta(days=1), clock.now() + timedelta(days=1))
        if c.kind == "charge"
    ]
    assert [c.status for c in charges] == ["succeeded"]
    assert charges[0].idempotency_key == winner.deposit_idempotency_key

    r, p, v = tables.reservations, tables.payments, tables.vehicles
    assert _count(engine, r) == 1  # losers never wrote a reservation…
    assert _count(engine, r, r.c.status == ReservationStatus.CONFIRMED.value, r.c.id == winner.id) == 1
    assert _count(engine, p) == 1  # …nor a payment
    assert _count(engine, p, p.c.status == "succeeded", p.c.reservation_id == winner.id) == 1
    assert _count(engine, v, v.c.id == CAR, v.c.status == VehicleStatus.RESERVED.value) == 1
    ob = tables.outbox
    assert _count(engine, ob) == 3  # the winner's Initiated, DepositPaid, Confirmed; nothing else
    app.close()
    gateway.close()


@pytest.mark.postgres
def test_32_threads_race_for_one_car_on_postgres(pg_database: tuple[str, Engine], clock: FixedClock) -> None:
    url, module_engine = pg_database
    empty_all_tables(module_engine)
    engine = make_engine(url, pool_size=32, max_overflow=0)  # every thread really holds a connection
    try:
        _reservation_race(engine, clock, threads=32)
    finally:
        engine.dispose()


def test_16_threads_race_for_one_car_on_sqlite(tmp_path: Path, clock: FixedClock) -> None:
    # On SQLite the writers queue on BEGIN IMMEDIATE: no "database is locked" reaches anyone,
    # only VehicleUnavailable (any OperationalError would fail the race above).
    engine = make_engine(sqlite_url(tmp_path), pool_size=16, max_overflow=0)
    try:
        upgrade_database(engine)
        _reservation_race(engine, clock, threads=16)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def race_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated database with a pool big enough for 16 threads."""
    if request.param == "sqlite":
        engine = make_engine(sqlite_url(tmp_path), pool_size=16, max_overflow=0)
        upgrade_database(engine)
        yield engine
        engine.dispose()
        return
    url, module_engine = request.getfixturevalue("pg_database")
    empty_all_tables(module_engine)
    engine = make_engine(url, pool_size=16, max_overflow=0)
    yield engine
    engine.dispose()


def test_concurrent_checkouts_of_one_hold_place_one_order(race_engine: Engine, clock: FixedClock) -> None:
    app = sql_app(race_engine, clock=clock, ids=SequentialIds())
    load_demo(app.ctx.uow)
    held = reserve_vehicle(app.ctx, Actor("cus_demo"), vehicle_id=CAR, payment_token="tok_visa").reservation

    def attempt(_: int) -> str:
        try:
            return place_order(app.ctx, Actor("cus_demo"), spec_order(held.id)).id
        except ReservationNotUsable:
            return "refused"

    results = _race(8, attempt)
    app.close()
    assert sum(r != "refused" for r in results) == 1
    assert _count(race_engine, tables.orders) == 1
    assert _count(race_engine, tables.order_numbers) == 1


def test_concurrent_order_numbers_are_unique_and_gapless(race_engine: Engine) -> None:
    def allocate(_: int) -> int:
        with SqlUnitOfWork(race_engine, SequentialIds()) as uow:
            number = uow.orders.next_number(2025)
            uow.commit()
        return number

    numbers = _race(16, allocate)
    assert sorted(numbers) == list(range(10001, 10017))


def test_parallel_agreement_workers_and_signing_render_each_agreement_once(
    race_engine: Engine, clock: FixedClock
) -> None:
    settings = Settings(jwt_secret="sql-test-secret-" + "x" * 32, agreements="worker")
    app = sql_app(race_engine, clock=clock, ids=RandomIds(), settings=settings)
    load_demo(app.ctx.uow)
    cars = [f"veh_agr{n:02d}" for n in range(12)]
    with app.ctx.uow() as uow:
        for car in cars:
            uow.vehicles.upsert(vehicle(car))
        uow.commit()
    orders = []
    for n, car in enumerate(cars):
        buyer = Actor(f"cus_agr{n:02d}")
        held = reserve_vehicle(app.ctx, buyer, vehicle_id=car, payment_token="tok_visa").reservation
        orders.append((buyer, place_order(app.ctx, buyer, cash_order(held.id, car)).id))

    def work(n: int) -> int:
        if n < 4:  # four workers, small batches so that they really interleave
            return generate_due_agreements(app.ctx, batch_size=2)
        buyer, order_id = orders[n]  # while buyers open their signing envelopes
        start_signing(app.ctx, buyer, order_id)
        return 0

    rendered_by_workers = sum(_race(8, work))
    app.close()

    o, ob = tables.orders, tables.outbox
    assert _count(race_engine, o, o.c.awaits_agreement) == 0
    with race_engine.connect() as connection:
        documents = dict(connection.execute(select(o.c.id, o.c.documents)).all())
        generated = connection.execute(
            select(ob.c.aggregate_id, func.count())
            .where(ob.c.name == "PurchaseAgreementGenerated")
            .group_by(ob.c.aggregate_id)
        ).all()
    assert all(len(docs) == 1 and docs[0]["kind"] == "purchase_agreement" for docs in documents.values())
    assert sorted(generated) == sorted((order_id, 1) for _buyer, order_id in orders)
    assert 12 - 4 <= rendered_by_workers <= 12  # the signing buyers rendered the rest themselves


# -- several expiry sweepers in separate processes ------------------------------------------------

DUE = 210


def _reserve_many(url: str, gateway_path: Path, clock: FixedClock) -> None:
    """``DUE`` confirmed reservations (one per car and customer), charged at the shared gateway."""
    engine = make_engine(url)
    gateway = SandboxGateway(clock, gateway_path)
    try:
        upgrade_database(engine)
        app = sql_app(engine, clock=clock, ids=RandomIds(), gateway=gateway)
        with app.ctx.uow() as uow:
            for n in range(DUE):
                uow.vehicles.upsert(vehicle(f"veh_{n:03d}"))
            uow.commit()

        def reserve(n: int) -> None:
            reserve_vehicle(app.ctx, Actor(f"cus_{n:03d}"), vehicle_id=f"veh_{n:03d}", payment_token="tok_visa")

        with ThreadPoolExecutor(4) as pool:  # setup only: a little parallelism saves seconds
            list(pool.map(reserve, range(DUE)))
    finally:
        gateway.close()
        engine.dispose()


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def sweep_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL of its own for the multi-process sweep."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    with postgres_database() as url:
        yield url


@pytest.mark.slow
def test_parallel_expiry_sweeps_handle_each_reservation_once(sweep_database: str, tmp_path: Path) -> None:
    url = sweep_database
    gateway_path = tmp_path / "gw.sqlite3"
    clock = FixedClock(T0)
    _reserve_many(url, gateway_path, clock)

    processes = 3
    spawn = multiprocessing.get_context("spawn")  # no forked copies of pools or locks
    start = spawn.Barrier(processes)
    results: Any = spawn.Queue()
    later = (T0 + timedelta(hours=73)).isoformat()
    # Small batches: on SQLite the lock is not handed over fairly (a waiter sleeps in its busy
    # handler while the sweeper that holds it begins its next batch at once), and with batches of
    # 10 one sweeper sometimes finished all 21 before the others woke (seen on a loaded machine).
    batch = 2
    workers = [
        spawn.Process(target=sweep, args=(url, str(gateway_path), later, batch, start, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    counts = [results.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert sum(counts) == DUE, counts
    assert sum(1 for c in counts if c > 0) >= 2, f"the sweeps did not overlap: {counts}"

    engine = make_engine(url)
    try:
        r, f, p, ob, v = tables.reservations, tables.refunds, tables.payments, tables.outbox, tables.vehicles
        assert _count(engine, r, r.c.status == ReservationStatus.EXPIRED.value) == DUE
        assert _count(engine, r) == DUE
        assert _count(engine, f) == DUE
        with engine.connect() as connection:
            refunded_payments = connection.execute(select(func.count(func.distinct(f.c.payment_id)))).scalar_one()
            expired_events = connection.execute(
                select(func.count(), func.count(func.distinct(ob.c.aggregate_id))).where(
                    ob.c.name == "ReservationExpired"
                )
            ).one()
        assert refunded_payments == DUE
        assert tuple(expired_events) == (DUE, DUE)
        assert _count(engine, ob, ob.c.name == "RefundIssued") == DUE
        assert _count(engine, p, p.c.refunded_cents == 10000) == DUE
        assert _count(engine, v, v.c.status == VehicleStatus.AVAILABLE.value) == DUE
    finally:
        engine.dispose()

    gateway = SandboxGateway(clock, gateway_path)
    try:
        refunds = [g for g in gateway.activity(T0 - timedelta(days=1), T0 + timedelta(days=10)) if g.kind == "refund"]
    finally:
        gateway.close()
    assert len(refunds) == DUE
    assert len({g.idempotency_key for g in refunds}) == DUE


@pytest.mark.postgres
def test_a_buyer_waiting_behind_an_expiry_sweep_gets_the_car_it_frees(pg_engine: Engine, clock: FixedClock) -> None:
    """The buyer's claim finds the car still reserved by an overdue hold and goes to expire that
    hold itself, but a sweep holds the hold's row lock; when the sweep commits (hold expired, car
    available) the buyer must claim the car rather than report it taken."""
    app = sql_app(pg_engine, clock=clock, ids=SequentialIds())
    load_demo(app.ctx.uow)
    first = reserve_vehicle(app.ctx, Actor("cus_first"), vehicle_id=CAR, payment_token="tok_visa").reservation
    clock.advance(timedelta(hours=73))
    r, v = tables.reservations, tables.vehicles
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    pool = ThreadPoolExecutor(1)
    sweep = pg_engine.connect()
    try:
        sweep.execute(select(r.c.id).where(r.c.id == first.id).with_for_update())  # the sweep's claim
        buyer = pool.submit(reserve_vehicle, app.ctx, Actor("cus_second"), vehicle_id=CAR, payment_token="tok_visa")
        for _ in range(500):
            if buyer.done() or sweep.exec_driver_sql(waiting).scalar_one() >= 1:
                break
            threading.Event().wait(0.01)
        assert not buyer.done(), f"the buyer did not wait on the hold's row lock: {buyer.exception()!r}"
        sweep.execute(r.update().where(r.c.id == first.id).values(status=ReservationStatus.EXPIRED.value))
        sweep.execute(v.update().where(v.c.id == CAR).values(status=VehicleStatus.AVAILABLE.value))
        sweep.commit()
    finally:
        sweep.close()  # rolls back whatever did not commit, so the buyer can never stay blocked
        pool.shutdown(wait=True)
    second = buyer.result(timeout=30)
    assert second.reservation.status is ReservationStatus.CONFIRMED
    assert _count(pg_engine, v, v.c.id == CAR, v.c.status == VehicleStatus.RESERVED.value) == 1
    app.close()


def _one_customer_many_cars(engine: Engine, clock: FixedClock, threads: int) -> None:
    """One customer reserves ``threads`` different cars at once: the cap (1 active hold) lets
    exactly one through, whatever the interleaving."""
    app = sql_app(engine, clock=clock, ids=RandomIds())
    load_demo(app.ctx.uow)
    cars = [f"veh_cap{n:02d}" for n in range(threads)]
    with SqlUnitOfWork(engine, RandomIds()) as uow:
        for car in cars:
            uow.vehicles.upsert(vehicle(car))
        uow.commit()

    def attempt(n: int) -> ReservationResult | ReservationLimitReached:
        try:
            return reserve_vehicle(app.ctx, Actor("cus_greedy"), vehicle_id=cars[n], payment_token="tok_visa")
        except ReservationLimitReached as refused:  # anything else fails the test
            return refused

    results = _race(threads, attempt)
    assert sum(isinstance(r, ReservationResult) for r in results) == 1
    r, v = tables.reservations, tables.vehicles
    assert _count(engine, r, r.c.customer_id == "cus_greedy") == 1
    assert _count(engine, v, v.c.id.in_(cars), v.c.status == VehicleStatus.RESERVED.value) == 1
    app.close()


@pytest.mark.postgres
def test_one_customer_racing_for_many_cars_gets_one_on_postgres(
    pg_database: tuple[str, Engine], clock: FixedClock
) -> None:
    url, module_engine = pg_database
    empty_all_tables(module_engine)
    engine = make_engine(url, pool_size=16, max_overflow=0)
    try:
        _one_customer_many_cars(engine, clock, threads=16)
    finally:
        engine.dispose()


def test_one_customer_racing_for_many_cars_gets_one_on_sqlite(tmp_path: Path, clock: FixedClock) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    upgrade_database(engine)
    try:
        _one_customer_many_cars(engine, clock, threads=8)
    finally:
        engine.dispose()
