"""Section "flash": a flash sale past one machine, simulated on this one.

Two "hosts" — two ``checkout serve --workers 2`` processes, each with a data directory of its
own — share one PostgreSQL database. 1,000 buyers (200 with ``--quick``), each a fresh customer
with a token made beforehand, race for 100 cars (20), ten buyers per car, spread over both hosts,
from 64 concurrent clients: exactly one hold per car, everyone else a 409, no 5xx. Then every
winner places the order at once, which serialises on the yearly order-number counter.

While the load runs, a sampler reads ``pg_stat_activity`` every 20 ms and counts the sessions
waiting on a lock by the statement they wait in, and the database connections open and busy:
the hot spots are named from those counts, not guessed."""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import psycopg

from bench import pg
from bench.http_load import JWT_SECRET, Customers, order_call, reservation_call
from bench.load import Call, LoadResult, run_load
from bench.report import Section, mark, percentile
from bench.seed import prepare_database
from bench.servers import ManagedProcess, checkout_env, checkout_server, cpu_seconds
from bench.statements import TEST_CARD
from checkout_core.model.order import Delivery, DeliveryMethod
from checkout_core.model.parties import Address, ContactInfo
from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import PlaceOrder, place_order
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import load_settings

CLIENTS = 64
#: Orders placed one at a time to measure the counter's hold (per agreement mode).
HOLD_RUNS = 40
WORKERS_PER_HOST = 2


@attrs.define
class Sampler:
    """Samples ``pg_stat_activity`` of one database on its own connection and thread."""

    url: str
    interval: float = 0.02
    lock_waits: Counter[str] = attrs.Factory(Counter)
    samples: int = 0
    max_connections: int = 0
    max_active: int = 0
    _stop: threading.Event = attrs.Factory(threading.Event)

    def _loop(self) -> None:
        with psycopg.connect(pg.libpq(self.url), autocommit=True) as connection:
            name = connection.info.dbname
            while not self._stop.is_set():
                rows = connection.execute(
                    "SELECT state, wait_event_type, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) "
                    "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchall()
                self.samples += 1
                self.max_connections = max(self.max_connections, len(rows))
                self.max_active = max(self.max_active, sum(1 for r in rows if r[0] != "idle"))
                for _state, wait, query in rows:
                    if wait == "Lock":
                        self.lock_waits[str(query)] += 1
                time.sleep(self.interval)

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        """Sample while the block runs."""
        thread = threading.Thread(target=self._loop, name="pg-sampler", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(5)

    def hot_spots(self, top: int = 3) -> list[str]:
        """The statements most often seen waiting on a lock, with the mean number waiting."""
        return [
            f"{n / max(self.samples, 1):.1f} session(s) waiting on average in: {query}…"
            for query, n in self.lock_waits.most_common(top)
        ]


def counter_hold_ms(url: str, cars: list[str], work: Path, *, agreements: str) -> list[float]:
    """How long each order keeps the year's order-number counter row locked: from the counter's
    UPDATE to the COMMIT of its transaction, one order at a time in this process (no waiting
    included: the bare hold, which bounds orders per second at 1000 / hold ms)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Connection, Engine

    holds: list[float] = []
    started: dict[int, float] = {}

    def before(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if "order_numbers" in statement:
            started[id(conn)] = time.perf_counter()

    def committed(conn: Connection) -> None:
        t0 = started.pop(id(conn), None)
        if t0 is not None:
            holds.append((time.perf_counter() - t0) * 1000)

    env = {
        "CHECKOUT_DATABASE_URL": url,
        "CHECKOUT_DATA_DIR": str(work / f"hold-{agreements}"),
        "CHECKOUT_JWT_SECRET": JWT_SECRET,
        "CHECKOUT_ENV": "development",
        "CHECKOUT_AGREEMENTS": agreements,
    }
    app = bootstrap(load_settings(env))
    address = Address.parse(street="123 Main St", city="Toronto", province="ON", postal_code="M5V 2T6")
    contact = ContactInfo(
        first_name="Bench", last_name="Buyer", email="buyer@example.com", phone="416-555-0100", address=address
    )
    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "commit", committed)
    try:
        for n, car in enumerate(cars):
            buyer = Actor(f"cus_hold_{agreements}_{n}")
            held = reserve_vehicle(app.ctx, buyer, vehicle_id=car, payment_token=TEST_CARD).reservation
            delivery = Delivery(method=DeliveryMethod.PICKUP)
            place_order(
                app.ctx, buyer, PlaceOrder(reservation_id=held.id, vehicle_id=car, contact=contact, delivery=delivery)
            )
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "commit", committed)
        app.close()
    return holds[2:]  # the first orders warm the caches and create the year's row


def database_cpu_seconds(url: str) -> dict[int, float]:
    """CPU used so far by each server process (backend) connected to ``url``'s database, read
    from /proc: PostgreSQL runs on this machine. Pools keep their connections, so the
    difference of two readings is the database's CPU for what ran between them."""
    with psycopg.connect(pg.libpq(url), autocommit=True) as connection:
        pids = [
            int(row[0])
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        ]
    return {pid: cpu_seconds(pid) for pid in pids}


def _cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _hosts(url: str, work: Path) -> list[ManagedProcess]:
    hosts = []
    for name in ("host-a", "host-b"):
        # Agreements by worker, the production setting: rendered inline, the PDF would be made
        # while the order-number counter is locked (see counter_hold_ms).
        env = checkout_env(
            database_url=url, data_dir=work / name, jwt_secret=JWT_SECRET, extra={"CHECKOUT_AGREEMENTS": "worker"}
        )
        hosts.append(checkout_server(f"flash-{name}", env, work, workers=WORKERS_PER_HOST))
    return hosts


def _row(label: str, result: LoadResult, expected: str, ok: bool) -> list[Any]:
    return [
        label,
        result.completed,
        result.status_summary(),
        result.server_errors,
        result.throughput,
        result.latency_ms(50),
        result.latency_ms(99),
        expected,
        mark(ok),
    ]


def run(quick: bool) -> Section:
    """The race for the cars, then the winners' orders; both judged by their outcome counts."""
    buyers, cars = (200, 20) if quick else (1000, 100)
    section = Section(
        "flash",
        f"Flash sale: {buyers:,} buyers, {cars} cars, 2 hosts × {WORKERS_PER_HOST} API processes, one PostgreSQL",
        ["step", "requests", "statuses", "5xx", "req/s", "p50 ms", "p99 ms", "expected", "verdict"],
    )
    with pg.fresh_database("bench_flash") as url, tempfile.TemporaryDirectory(prefix="bench-flash-") as tmp:
        car_ids = prepare_database(url, vehicles=cars)
        hosts = _hosts(url, Path(tmp))
        try:
            for host in hosts:
                host.launch()
            for host in hosts:
                host.wait_ready(timeout=120)
            bases = [h.base_url for h in hosts]
            customers = Customers("flash")
            calls = [reservation_call(customers, car_ids[n % cars]) for n in range(buyers)]
            random.Random(7).shuffle(calls)
            calls = [Call(c.method, c.path, c.headers, c.json, base=n % 2, tag=c.tag) for n, c in enumerate(calls)]
            cpu0 = sum(h.cpu_seconds() for h in hosts)
            db0 = database_cpu_seconds(url)
            with Sampler(url).running() as race_sampler:
                race = run_load(bases, calls, clients=CLIENTS, keep_body=lambda c, s: s == 201)
            race_cpu = sum(h.cpu_seconds() for h in hosts) - cpu0
            db1 = database_cpu_seconds(url)
            race_db_cpu = _cpu_between(db0, db1)
            holds = race.statuses[201]
            winners = [o for o in race.outcomes if o.status == 201]
            held_cars = Counter(o.call.tag[1] for o in winners)
            race_ok = holds == cars and race.server_errors == 0 and set(held_cars.values()) == {1}
            section.rows.append(_row("race for the cars (reserve)", race, f"{cars} × 201, rest 409", race_ok))

            orders = [order_call(customers, o.body["reservationId"], *o.call.tag) for o in winners]
            orders = [Call(c.method, c.path, c.headers, c.json, base=n % 2, tag=c.tag) for n, c in enumerate(orders)]
            cpu1 = sum(h.cpu_seconds() for h in hosts)
            with Sampler(url).running() as order_sampler:
                placed = run_load(bases, orders, clients=min(CLIENTS, len(orders)) or 1)
            order_cpu = sum(h.cpu_seconds() for h in hosts) - cpu1
            order_db_cpu = _cpu_between(db1, database_cpu_seconds(url))
            order_ok = placed.statuses[201] == len(orders) and placed.server_errors == 0
            section.rows.append(_row("winners place their orders", placed, f"{len(orders)} × 201", order_ok))
        finally:
            for host in hosts:
                host.stop()
        spare = prepare_database(url, vehicles=2 * HOLD_RUNS, prefix="veh_hold")
        hold_worker = counter_hold_ms(url, spare[:HOLD_RUNS], Path(tmp), agreements="worker")
        hold_inline = counter_hold_ms(url, spare[HOLD_RUNS:], Path(tmp), agreements="inline")
    section.notes += [
        f"race: {race.wall_seconds:.2f} s for {buyers} buyers; API CPU {race_cpu / max(race.completed, 1) * 1000:.1f} "
        f"ms per request, PostgreSQL CPU {race_db_cpu / max(race.completed, 1) * 1000:.1f} ms per request; "
        f"at most {race_sampler.max_connections} database connections open, "
        f"{race_sampler.max_active} busy at once",
        *(f"race hot spot: {spot}" for spot in race_sampler.hot_spots()),
        f"orders: {placed.wall_seconds:.2f} s for {len(orders)} orders = {placed.throughput:.0f} orders/s; API CPU "
        f"{order_cpu / max(placed.completed, 1) * 1000:.1f} ms per order, PostgreSQL CPU "
        f"{order_db_cpu / max(placed.completed, 1) * 1000:.1f} ms per order; at most {order_sampler.max_connections} "
        f"connections, {order_sampler.max_active} busy",
        *(f"orders hot spot: {spot}" for spot in order_sampler.hot_spots()),
        *(
            f"order-number counter held {statistics.median(h):.1f} ms median, {percentile(h, 99):.1f} ms p99 per order "
            f"(UPDATE to COMMIT, uncontended, CHECKOUT_AGREEMENTS={mode}): at most {1000 / statistics.median(h):.0f} "
            "orders/s per year's counter"
            for mode, h in (("worker", hold_worker), ("inline", hold_inline))
        ),
    ]
    if not race_ok:
        section.notes.append(f"race: expected {cars} holds, one per car, no 5xx; got {race.status_summary()}")
    if not order_ok:
        section.notes.append(f"orders: expected {len(orders)} × 201; got {placed.status_summary()}")
    section.data = {
        "buyers": buyers,
        "cars": cars,
        "race": {"wall_s": race.wall_seconds, "statuses": dict(race.statuses), "p99_ms": race.latency_ms(99)},
        "orders": {"wall_s": placed.wall_seconds, "statuses": dict(placed.statuses), "p99_ms": placed.latency_ms(99)},
        "race_cpu_s": race_cpu,
        "order_cpu_s": order_cpu,
        "race_db_cpu_s": race_db_cpu,
        "order_db_cpu_s": order_db_cpu,
        "race_lock_waits": dict(race_sampler.lock_waits),
        "order_lock_waits": dict(order_sampler.lock_waits),
        "samples": [race_sampler.samples, order_sampler.samples],
        "counter_hold_ms": {"worker": hold_worker, "inline": hold_inline},
    }
    return section
