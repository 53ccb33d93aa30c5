"""Two API processes and three expiry workers on one PostgreSQL database behave as one process.

The processes are the production commands — ``checkout serve`` twice (two ports) and
``checkout reservations expire --loop --interval 0.5`` three times — sharing the database and
the data directory (hence the sandbox gateway's records, as in an embedded install). The test
drives them over HTTP with 64 concurrent clients spread over both ports and checks the same
invariants a single process guarantees:

* one winner per car, everyone else 409, never a 5xx;
* every overdue hold expired exactly once and its deposit refunded exactly once — in the ledger,
  at the gateway and in the outbox (``ReservationExpired``, ``RefundIssued``).

How the holds become overdue: the hold is 48–72 h by policy (the settings refuse less) and the
servers run on the system clock, so after the reservations are made the test moves their
``expires_at`` into the past in the database — the state a 72-hour wait produces, without a
test-only clock in production code. At that moment a second wave of 64 customers races for the
same 16 cars while the three sweepers are running, so every overdue hold is contended by an API
process (which expires an overdue hold it finds on the car it is claiming) and by the sweepers
(``FOR UPDATE SKIP LOCKED``): exactly one of them may expire and refund it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bench.http_load import JWT_SECRET, RACE_CARS, RACE_CLIENTS, Customers, reservation_call
from bench.load import Call, LoadResult, run_load
from bench.seed import SANDBOX_FILE, prepare_database
from bench.servers import ManagedProcess, checkout_env, checkout_job, checkout_server
from sqlalchemy import Engine, func, select, update

from adapters.payments.sandbox import SandboxGateway
from adapters.sql import tables
from adapters.sql.engine import make_engine
from adapters.system.clock import SystemClock
from tests.multiprocess.conftest import pass_results, spread
from tests.postgres import postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(175)]

DISTINCT_CARS = RACE_CLIENTS - RACE_CARS  # the first race's losers each reserve another car
#: Small batches: the three sweepers and the API processes then interleave on the 64 due holds
#: instead of one sweeper claiming them all in its first transaction.
SWEEP = ["reservations", "expire", "--loop", "--interval", "0.5", "--batch-size", "4"]


@pytest.fixture
def database() -> Iterator[tuple[str, Engine, list[str]]]:
    """A fresh PostgreSQL database, migrated and seeded (demo data + 64 cars): (url, engine, cars)."""
    with postgres_database() as url:
        cars = prepare_database(url, vehicles=RACE_CARS + DISTINCT_CARS)
        engine = make_engine(url, pool_size=2)
        try:
            yield url, engine, cars
        finally:
            engine.dispose()


def _keep_unexpected(_call: Call, status: int) -> bool:
    """Keep the bodies of answers other than 201/409: a failure message then says what they were."""
    return status not in (201, 409)


def _summary(result: LoadResult) -> str:
    """Status counts, and the bodies of unexpected answers."""
    odd = [o.body for o in result.outcomes if o.status not in (201, 409)]
    return result.status_summary() + (f"; unexpected: {odd[:3]}" if odd else "")


def _assert_no_server_errors(result: LoadResult, what: str) -> None:
    assert result.server_errors == 0, f"{what}: {_summary(result)}"


def _winners(result: LoadResult) -> list[str]:
    """The cars of the 201s (the calls' tags are (customer, car))."""
    return [o.call.tag[1] for o in result.outcomes if o.status == 201]


def _count(engine: Engine, statement: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(statement).scalar_one())  # type: ignore[call-overload]


def _swept(worker: ManagedProcess) -> int:
    """How many reservations a worker expired, from its JSON Lines (one per pass)."""
    return sum(int(result["expired"]) for result in pass_results(worker, "expired"))


def test_two_api_processes_and_three_expiry_workers_behave_as_one(
    tmp_path: Path, database: tuple[str, Engine, list[str]], processes: list[ManagedProcess]
) -> None:
    url, engine, cars = database
    contested, others = cars[:RACE_CARS], cars[RACE_CARS:]
    started_at = datetime.now(UTC)
    env = checkout_env(database_url=url, data_dir=tmp_path / "data", jwt_secret=JWT_SECRET)

    # Everything starts at once on a data directory that is still empty (certificates, gateway
    # file and secrets are created by whichever process gets there first).
    apis = [checkout_server(f"api-{n}", env, tmp_path) for n in (1, 2)]
    workers = [checkout_job(f"expire-{n}", [*SWEEP, "--json"], env, tmp_path) for n in (1, 2, 3)]
    processes += [p.launch() for p in [*apis, *workers]]
    for api in apis:
        api.wait_ready(timeout=90)
    deadline = time.monotonic() + 60
    while not all(_swept_once(w) for w in workers):
        assert time.monotonic() < deadline, "\n\n".join(w.log_tail() for w in workers)
        assert all(w.process is not None and w.process.poll() is None for w in workers), [w.log_tail() for w in workers]
        time.sleep(0.1)
    bases = [api.base_url for api in apis]
    customers = Customers("mp")

    # 1. 64 clients race for 16 cars, over both API processes.
    race = [reservation_call(customers, contested[n % RACE_CARS]) for n in range(RACE_CLIENTS)]
    first = run_load(bases, spread(race), clients=RACE_CLIENTS, together=True, keep_body=_keep_unexpected)
    _assert_no_server_errors(first, "first race")
    assert sorted(_winners(first)) == sorted(contested), _summary(first)
    assert first.statuses[409] == RACE_CLIENTS - RACE_CARS, _summary(first)

    # 2. The 48 losers each take another car: all succeed.
    losers = [o.call.tag[0] for o in first.outcomes if o.status == 409]
    distinct = [reservation_call(customers, car, customer) for car, customer in zip(others, losers, strict=True)]
    second = run_load(bases, spread(distinct), clients=8, keep_body=_keep_unexpected)
    _assert_no_server_errors(second, "distinct cars")
    assert second.statuses == Counter({201: DISTINCT_CARS}), _summary(second)

    # 3. All 64 holds fall due at the instant 64 new customers, ready and waiting, race for the
    #    16 contested cars while the sweepers run.
    r = tables.reservations
    with engine.connect() as connection:
        old = list(connection.execute(select(r.c.id).where(r.c.status == "confirmed")).scalars())
    assert len(old) == RACE_CARS + DISTINCT_CARS

    def fall_due() -> None:
        with engine.begin() as connection:
            connection.execute(
                update(r).where(r.c.id.in_(old)).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )

    race = [reservation_call(customers, contested[n % RACE_CARS]) for n in range(RACE_CLIENTS)]
    third = run_load(
        bases, spread(race), clients=RACE_CLIENTS, together=True, on_start=fall_due, keep_body=_keep_unexpected
    )
    _assert_no_server_errors(third, "race for overdue cars")
    assert sorted(_winners(third)) == sorted(contested), _summary(third)
    assert third.statuses[409] == RACE_CLIENTS - RACE_CARS, _summary(third)

    # 4. The sweepers finish the rest.
    f = tables.refunds
    deadline = time.monotonic() + 60
    while _count(engine, select(func.count()).where(f.c.status == "succeeded")) < len(old):
        assert time.monotonic() < deadline, "\n\n".join(w.log_tail() for w in workers)
        time.sleep(0.2)
    time.sleep(1.5)  # three more passes: a double expiry or refund would show up now
    for worker in workers:
        assert worker.stop() == 0, worker.log_tail()  # SIGTERM: the pass in progress finishes
    for api in apis:
        api.stop()

    # Every overdue hold expired exactly once ...
    o, p = tables.outbox, tables.payments
    with engine.connect() as connection:
        statuses = dict(connection.execute(select(r.c.id, r.c.status).where(r.c.id.in_(old))).all())
        expired_events = Counter(
            connection.execute(select(o.c.aggregate_id).where(o.c.name == "ReservationExpired")).scalars()
        )
        deposits = {
            row.id: row
            for row in connection.execute(select(p).where(p.c.reservation_id.in_(old), p.c.purpose == "deposit"))
        }
        deposit_keys = set(connection.execute(select(p.c.idempotency_key).where(p.c.purpose == "deposit")).scalars())
        refunds = connection.execute(select(f)).all()
        refund_events = _count(engine, select(func.count()).where(o.c.name == "RefundIssued"))
        active = Counter(
            connection.execute(select(r.c.vehicle_id).where(r.c.status.in_(["confirmed", "pending_deposit"]))).scalars()
        )
        cars_by_status = Counter(
            connection.execute(select(tables.vehicles.c.status).where(tables.vehicles.c.id.in_(cars))).scalars()
        )
    assert set(statuses.values()) == {"expired"}
    assert expired_events == Counter(dict.fromkeys(old, 1))

    # ... its deposit refunded exactly once, in our ledger ...
    assert len(deposits) == len(old)
    assert Counter(row.payment_id for row in refunds) == Counter(dict.fromkeys(deposits, 1))
    assert {row.status for row in refunds} == {"succeeded"}
    assert all(row.refunded_cents == row.amount_cents for row in deposits.values())
    assert refund_events == len(old)

    # ... and at the gateway, which every process shares through the data directory.
    gateway = SandboxGateway(SystemClock(), tmp_path / "data" / SANDBOX_FILE)
    try:
        records = list(gateway.activity(started_at - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)))
    finally:
        gateway.close()
    gateway_refunds = Counter(x.idempotency_key for x in records if x.kind == "refund")
    assert gateway_refunds == Counter({f"{pay}:reservation_expired": 1 for pay in deposits})
    # One charge per winning reservation (16 + 48 + 16), none for the losers.
    charges = Counter(x.idempotency_key for x in records if x.kind == "charge")
    assert charges == Counter(dict.fromkeys(deposit_keys, 1))
    assert len(deposit_keys) == RACE_CARS + DISTINCT_CARS + RACE_CARS

    # One active hold per contested car (the new winners); the other cars are for sale again.
    assert active == Counter(dict.fromkeys(contested, 1))
    assert cars_by_status == Counter({"reserved": RACE_CARS, "available": DISTINCT_CARS})

    by_sweepers = sum(_swept(w) for w in workers)
    assert 0 < by_sweepers <= len(old)
    print(
        f"\n{len(old)} holds expired: {by_sweepers} by the sweepers "
        f"({', '.join(str(_swept(w)) for w in workers)}), {len(old) - by_sweepers} by the API on a new claim"
    )


def _swept_once(worker: ManagedProcess) -> bool:
    """The worker has finished its first pass (it is connected and sweeping)."""
    return bool(pass_results(worker, "expired"))
