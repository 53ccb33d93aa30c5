"""Section 2: HTTP on PostgreSQL against the real server process, with two baselines.

Three servers run side by side under the same uvicorn settings (127.0.0.1, one worker by
default, log level warning), each on a fresh database seeded the same way:

* ``app`` — ``checkout serve`` (``entrypoints.http.asgi:create_from_env``) with the embedded
  sandbox gateway and local document store in a temporary data directory, agreements rendered
  by a ``checkout documents generate --loop`` process beside it;
* ``baseline`` — :mod:`bench.baseline_app` ``required``: the minimal correct design (the same
  guarantees in the fewest transactions and statements a hand-written Litestar + SQL app needs);
* ``bare`` — only the state change, a floor.

Every figure is measured in **repetitions, interleaved**: the app's reservations at 1 client,
then the baseline's, then the bare one's, then the app's again … (``Plan.repetitions`` times,
3 by default), so that the figures a ratio is made of were taken seconds apart, and each row
prints the median with the min–max of its repetitions; the ratio is the median of the
per-repetition (paired) ratios. All servers get the same calls in the same order from the same
bounded load generator (:class:`bench.load.LoadProcess`), which runs in a process of its own:
its CPU share of a core is printed per row, and a row whose generator went over half a core is
marked (its figure is then a floor for that server).

CPU per request is counted for each server as its processes' CPU (``/proc/<pid>/stat``), plus
the PostgreSQL backends of its database (the ``pg_stat_activity`` rows of that database, whose
``/proc`` CPU is read before and after each run; PostgreSQL's shared background processes — WAL
writer, checkpointer — are not), plus for the app the document worker's CPU: after each order
run the benchmark waits until the worker has rendered every agreement the run left it, so the
row holds the whole cost of an order. The "CPU ratio" is the baseline's total CPU per request
over the app's: what the throughput ratio would be on a host where CPU is the only limit."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import psycopg
from sqlalchemy import func, make_url, select

from adapters.auth.jwt_tokens import JwtTokens
from adapters.sql import tables
from adapters.sql.engine import make_engine
from bench import pg
from bench.load import Call, LoadProcess, LoadResult, run_load
from bench.report import Section, cell, mark
from bench.seed import HISTORY, prepare_database
from bench.servers import (
    ManagedProcess,
    checkout_env,
    checkout_job,
    checkout_server,
    cpu_seconds,
    host_cpu_seconds,
    uvicorn_server,
)
from checkout_core.usecases.context import Role

JWT_SECRET = "bench-jwt-secret-" + "x" * 32
TARGET_RATIO = 0.8
#: A row whose load generator used more than this share of one core is marked.
GENERATOR_LIMIT = 0.5
#: ``nice -n`` of the document worker that runs beside the API during the HTTP runs.
WORKER_NICENESS = 10
RACE_CLIENTS = 64
#: ``application_name`` of the benchmark's own connections to a measured database.
MONITOR = "bench-monitor"
RACE_CARS = 16

ADDRESS = {"street": "123 Main St", "city": "Toronto", "province": "ON", "postalCode": "M5V 2T6"}


@attrs.frozen
class Plan:
    """How much load: client counts, bounded request counts per run, repetitions of each run."""

    levels: tuple[int, ...]
    reservations: int
    orders: int
    reads: int
    #: Race rounds (64 clients, 16 cars) per repetition, merged into one figure.
    race_rounds: int
    max_seconds: float
    workers: int = 1
    repetitions: int = 1

    @property
    def cars_needed(self) -> int:
        """Distinct cars the plan reserves (warm-up, one per reservation, 16 per race round)."""
        runs = len(self.levels) * self.repetitions
        return 16 + self.reservations * runs + RACE_CARS * self.race_rounds * self.repetitions

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        """The quick plan (a few minutes) or the full one; 3 repetitions of every run in both."""
        if quick:
            return cls(
                levels=(1, 8), reservations=30, orders=15, reads=100, race_rounds=1, max_seconds=15, repetitions=3
            )
        return cls(
            levels=(1, 8, 32), reservations=240, orders=120, reads=600, race_rounds=2, max_seconds=60, repetitions=3
        )


class Customers:
    """Fresh customers with valid tokens (a customer may hold one reservation at a time)."""

    def __init__(self, prefix: str) -> None:
        self._tokens = JwtTokens(JWT_SECRET)
        self._prefix = prefix
        self._next = 0
        self._headers: dict[str, dict[str, str]] = {}

    def new(self) -> str:
        """The next unused customer id."""
        self._next += 1
        return f"cus_{self._prefix}{self._next:06d}"

    def auth(self, customer: str) -> dict[str, str]:
        """``Authorization`` for ``customer`` (tokens are made once, outside the timed runs)."""
        if customer not in self._headers:
            token = self._tokens.issue(customer, Role.CUSTOMER, now=datetime.now(UTC))
            self._headers[customer] = {"Authorization": f"Bearer {token}"}
        return self._headers[customer]


#: UUID hex digits spelled as letters (see :func:`idempotency_key`).
_NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` without digits.

    A random UUID would be the natural choice, but the card guard refuses any kept header with
    a Luhn-valid run of 13–19 digits (dashes allowed between them), and about 1 UUID in 360 has
    one (``44e01297-3328-4720-…``): a benchmark or test must not fail on that (reported)."""
    return "bench-" + uuid.uuid4().hex.translate(_NO_DIGITS)


def reservation_call(customers: Customers, car: str, customer: str | None = None) -> Call:
    """``POST /api/v1/reservations`` for ``car`` by a fresh (or the given) customer."""
    customer = customer or customers.new()
    headers = {**customers.auth(customer), "Idempotency-Key": idempotency_key()}
    body = {"vehicleId": car, "paymentMethod": {"type": "card", "token": "tok_visa"}}
    return Call("POST", "/api/v1/reservations", headers, body, tag=(customer, car))


def order_call(customers: Customers, reservation: str, customer: str, car: str) -> Call:
    """``POST /api/v1/orders``: a cash purchase picked up at the dealer, Ontario buyer."""
    body = {
        "reservationId": reservation,
        "vehicleId": car,
        "contactInfo": {
            "firstName": "Bench",
            "lastName": "Buyer",
            "email": "buyer@example.com",
            "phone": "416-555-0100",
            "address": ADDRESS,
        },
        "payment": {"method": "cash"},
        "delivery": {"method": "pickup"},
    }
    headers = {**customers.auth(customer), "Idempotency-Key": idempotency_key()}
    return Call("POST", "/api/v1/orders", headers, body, tag=customer)


@attrs.frozen
class Cpu:
    """CPU seconds used by one server's parts."""

    server: float = 0.0
    worker: float = 0.0
    postgres: float = 0.0
    #: Every process of the host (ours, the generator, PostgreSQL, and anyone else's).
    host: float = 0.0

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.server - other.server,
            self.worker - other.worker,
            self.postgres - other.postgres,
            self.host - other.host,
        )

    @property
    def total(self) -> float:
        """All of it."""
        return self.server + self.worker + self.postgres


def _nothing() -> float:
    return 0.0


@attrs.frozen
class Meter:
    """Where one server's CPU is read, and what to wait for after a run (``settle``: the
    document worker's backlog) before reading it."""

    server: Callable[[], float] = _nothing
    worker: Callable[[], float] = _nothing
    postgres: Callable[[], float] = _nothing
    settle: Callable[[str], None] | None = None

    def read(self) -> Cpu:
        """The cumulative CPU seconds now."""
        return Cpu(self.server(), self.worker(), self.postgres(), host_cpu_seconds())


class PostgresCpu:
    """The CPU time of the PostgreSQL backends connected to one database (its connection pools'
    and workers'), from ``/proc``: PostgreSQL runs on this host. Backends seen before and gone
    since keep the CPU last read for them; PostgreSQL's shared processes are not counted."""

    def __init__(self, url: str) -> None:
        self._database = make_url(url).database
        self._admin = psycopg.connect(pg.libpq(pg.server_url()), autocommit=True, connect_timeout=5)
        self._seen: dict[int, float] = {}

    def __call__(self) -> float:
        """The backends' cumulative CPU seconds."""
        rows = self._admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name IS DISTINCT FROM %s",
            (self._database, MONITOR),
        )
        for (pid,) in rows.fetchall():
            now = cpu_seconds(int(pid))
            if now > 0:
                self._seen[int(pid)] = now
        return sum(self._seen.values())

    def close(self) -> None:
        """Close the monitoring connection."""
        self._admin.close()


@contextmanager
def postgres_cpu(url: str) -> Iterator[PostgresCpu]:
    """A :class:`PostgresCpu` for ``url``'s database, closed on the way out."""
    meter = PostgresCpu(url)
    try:
        yield meter
    finally:
        meter.close()


@attrs.frozen
class Measurement:
    """One repetition of one run: what the generator saw, and the server's CPU meanwhile."""

    result: LoadResult
    cpu: Cpu
    #: Wall seconds of the whole measurement: the runs' own time plus, between a race's rounds,
    #: the generator's set-up (the host's CPU share is taken over this).
    elapsed: float = 0.0

    def per_request_ms(self, part: str) -> float | None:
        """CPU milliseconds per request of ``server``, ``worker``, ``postgres`` or ``total``."""
        if not self.result.completed:
            return None
        return float(getattr(self.cpu, part)) * 1000 / self.result.completed


@attrs.define
class TargetRun:
    """Everything one server did: each run's repetitions per scenario and client count, the
    repetitions merged (``results``), and checks."""

    results: dict[str, dict[int, LoadResult]] = attrs.Factory(dict)
    reps: dict[str, dict[int, list[Measurement]]] = attrs.Factory(dict)
    problems: list[str] = attrs.Factory(list)
    peak_rss_kib: dict[int, tuple[int, str]] = attrs.Factory(dict)
    #: With a document worker beside the API: what it rendered (see ``_check_agreements``).
    agreements: dict[str, Any] = attrs.Factory(dict)

    def add(self, scenario: str, clients: int, result: LoadResult, cpu: Cpu = Cpu(), elapsed: float = 0.0) -> None:
        """Record a repetition and check that no request failed on the server side."""
        reps = self.reps.setdefault(scenario, {}).setdefault(clients, [])
        reps.append(Measurement(result, cpu, elapsed or result.wall_seconds))
        self.results.setdefault(scenario, {})[clients] = _merge([m.result for m in reps])
        if result.server_errors:
            self.problems.append(f"{scenario} @ {clients} clients: {result.server_errors} 5xx/no answer")


def _kept(result: LoadResult, status: int) -> list[tuple[Call, Any]]:
    return [(o.call, o.body) for o in result.outcomes if o.status == status and o.body is not None]


Steps = Generator[str, None, TargetRun]


def finish(steps: Steps) -> TargetRun:
    """Run every step of one server's sequence; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: TargetRun = done.value
            return result


def interleaved(*sequences: Steps) -> list[TargetRun]:
    """Run several servers' sequences step by step in turn (A's first measurement, then B's,
    then A's second …), so that each pair of figures a ratio is made of was measured within
    seconds of each other: this machine's speed drifts by tens of percent over minutes, which
    running one server's whole sequence after the other's turned into ratio noise."""
    results: list[TargetRun | None] = [None] * len(sequences)
    active = list(range(len(sequences)))
    while active:
        for index in list(active):
            try:
                next(sequences[index])
            except StopIteration as done:
                results[index] = done.value
                active.remove(index)
    return [r for r in results if r is not None]


def exercise(
    base_url: str,
    cars: Sequence[str],
    plan: Plan,
    prefix: str,
    *,
    only: Sequence[str] = ("reserve", "race", "order", "read"),
    meter: Meter = Meter(),
    generator: LoadProcess | None = None,
) -> Steps:
    """Run the scenarios of ``plan`` against one server, the same sequence for every server: a
    generator that yields the scenario's name after each measured repetition (for
    :func:`interleaved`; :func:`finish` runs it through) and returns the server's results.
    ``generator``: the load runs in that process (else in this one)."""
    run = TargetRun()
    customers = Customers(prefix)
    free = iter(cars)

    def load(calls: Sequence[Call], clients: int, *, together: bool = False) -> LoadResult:
        if generator is not None:
            return generator.run(
                [base_url],
                calls,
                clients=clients,
                max_seconds=plan.max_seconds,
                together=together,
                keep_statuses=frozenset({201}),
            )
        return run_load(
            [base_url],
            calls,
            clients=clients,
            max_seconds=plan.max_seconds,
            together=together,
            keep_body=lambda _call, status: status == 201,  # the ids of what was created, for the next steps
        )

    def one(calls: Sequence[Call], clients: int) -> Callable[[], list[LoadResult]]:
        return lambda: [load(calls, clients)]

    def measured(scenario: str, clients: int, runs: Callable[[], list[LoadResult]]) -> list[LoadResult]:
        """A recorded repetition, with the server's CPU during it (and while it settles; the
        host's during the run only, since it is compared with the run's wall time)."""
        before = meter.read()
        started = time.perf_counter()
        results = runs()
        elapsed = time.perf_counter() - started
        host = host_cpu_seconds() - before.host
        if meter.settle is not None:
            meter.settle(scenario)
        run.add(scenario, clients, _merge(results), attrs.evolve(meter.read() - before, host=host), elapsed)
        return results

    # Warm-up (not measured): the thread pool, the connection pool, imports on first use.
    warm = load([reservation_call(customers, next(free)) for _ in range(16)], 8)
    warm_held = _kept(warm, 201)
    load([order_call(customers, b["reservationId"], c.tag[0], c.tag[1]) for c, b in warm_held[:8]], 4)
    if meter.settle is not None:
        meter.settle("order")

    held: list[tuple[str, str, str]] = []  # (reservation, customer, car)
    if "reserve" in only or "order" in only:
        for clients in plan.levels:
            for _rep in range(plan.repetitions):
                calls = [reservation_call(customers, next(free)) for _ in range(plan.reservations)]
                (result,) = measured("reserve", clients, one(calls, clients))
                held += [(b["reservationId"], c.tag[0], c.tag[1]) for c, b in _kept(result, 201)]
                yield "reserve"

    if "race" in only:
        for rep in range(plan.repetitions):
            rounds = [[next(free) for _ in range(RACE_CARS)] for _ in range(plan.race_rounds)]

            def race(rounds: list[list[str]] = rounds) -> list[LoadResult]:
                return [
                    load(
                        [reservation_call(customers, contested[n % RACE_CARS]) for n in range(RACE_CLIENTS)],
                        RACE_CLIENTS,
                        together=True,
                    )
                    for contested in rounds
                ]

            for number, result in enumerate(measured("race", RACE_CLIENTS, race)):
                winners = [c.tag[1] for c, _b in _kept(result, 201)]
                if len(winners) != RACE_CARS or len(set(winners)) != RACE_CARS:
                    run.problems.append(
                        f"race repetition {rep + 1} round {number + 1}: {len(winners)} winners on "
                        f"{len(set(winners))} cars (expected {RACE_CARS} on {RACE_CARS}); {result.status_summary()}"
                    )
            yield "race"

    orders: list[tuple[str, str]] = []  # (order, customer)
    if "order" in only:
        todo = iter(held)
        for clients in plan.levels:
            for _rep in range(plan.repetitions):
                batch = [next(todo, None) for _ in range(plan.orders)]
                calls = [order_call(customers, r, c, v) for r, c, v in (b for b in batch if b is not None)]
                (result,) = measured("order", clients, one(calls, clients))
                orders += [(b["orderId"], c.tag) for c, b in _kept(result, 201)]
                yield "order"

    if "read" in only and orders:
        for clients in plan.levels:
            for _rep in range(plan.repetitions):
                calls = [
                    Call(
                        "GET",
                        f"/api/v1/orders/{orders[n % len(orders)][0]}",
                        customers.auth(orders[n % len(orders)][1]),
                    )
                    for n in range(plan.reads)
                ]
                measured("read", clients, one(calls, clients))
                yield "read"
    return run


def _merge(results: Sequence[LoadResult]) -> LoadResult:
    """Several runs as one result (throughput over the summed wall time)."""
    return LoadResult(
        [o for r in results for o in r.outcomes],
        sum(r.wall_seconds for r in results),
        sum(r.client_cpu_seconds for r in results),
        results[0].clients if results else 0,
    )


@contextmanager
def running(server: ManagedProcess) -> Iterator[ManagedProcess]:
    """A started server, stopped on the way out."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def app_server(
    plan: Plan,
    work: Path,
    *,
    agreements: str = "worker",
    only: Sequence[str] | None = None,
    generator: LoadProcess | None = None,
) -> Iterator[Steps]:
    """The real server on a fresh database, started: seed, ``checkout serve``; yields its
    sequence of measurements (which ends by reading its memory), stops it on the way out.

    ``agreements="worker"`` is the production topology (docs/operations.md): the API leaves
    each new order's PDF to a ``checkout documents generate --loop`` process running beside
    it on the same machine; its CPU is counted in every row (after an order run, once it has
    rendered every agreement of the run), and every order is checked to end up with exactly
    one agreement. ``"inline"`` renders it inside the checkout request."""
    name = "app" if agreements == "worker" else "app-inline"
    with pg.fresh_database() as url, postgres_cpu(url) as database_cpu:
        cars = prepare_database(url, vehicles=plan.cars_needed, history=HISTORY)
        placed_since = datetime.now(UTC)  # the seeded history's orders are older
        data_dir = work / name
        env = checkout_env(database_url=url, data_dir=data_dir, jwt_secret=JWT_SECRET)
        env["CHECKOUT_AGREEMENTS"] = agreements
        server = checkout_server(name, env, work, workers=plan.workers)
        # The benchmark's own queries (waiting for the worker) are not the app's: left out of its CPU.
        engine = make_engine(
            make_url(url).update_query_dict({"application_name": MONITOR}).render_as_string(hide_password=False)
        )
        with running(server):
            worker = None
            if agreements == "worker":
                argv = ["documents", "generate", "--loop", "--interval", "0.2"]
                # A background job beside the API on the same host: a lower CPU priority, as it
                # would be deployed (docs/operations.md).
                worker = checkout_job(f"{name}-documents", argv, env, work, niceness=WORKER_NICENESS).launch()
                _wait_for_first_pass(worker)

            def settle(scenario: str) -> None:
                if scenario == "order":
                    _wait_for_agreements(engine)

            meter = Meter(
                server=server.cpu_seconds,
                worker=worker.cpu_seconds if worker is not None else _nothing,
                postgres=database_cpu,
                settle=settle if worker is not None else None,
            )

            def steps() -> Steps:
                run = yield from exercise(
                    server.base_url,
                    cars,
                    plan,
                    "a",
                    meter=meter,
                    generator=generator,
                    **({"only": only} if only else {}),
                )
                if worker is not None:
                    run.agreements = _check_agreements(engine, placed_since)
                    if not run.agreements["exactly_once"]:
                        run.problems.append("document worker: not exactly one agreement per order")
                run.peak_rss_kib = server.peak_rss_kib()
                return run

            try:
                yield steps()
            finally:
                if worker is not None:
                    worker.stop()
                engine.dispose()


def run_app(plan: Plan, work: Path, **options: Any) -> TargetRun:
    """:func:`app_server`'s whole sequence, alone."""
    with app_server(plan, work, **options) as steps:
        return finish(steps)


def _wait_for_first_pass(worker: ManagedProcess, timeout: float = 60.0) -> None:
    """Until the worker has started and run its first (empty) pass: its start-up is not counted."""
    deadline = time.monotonic() + timeout
    while not any("generated" in line for line in worker.output_lines()):
        if time.monotonic() > deadline or (worker.process is not None and worker.process.poll() is not None):
            raise RuntimeError(f"{worker.name} did not start:\n{worker.log_tail()}")
        time.sleep(0.1)


def _wait_for_agreements(engine: Any, timeout: float = 120.0) -> None:
    """Until the document worker has rendered every agreement it was left (or ``timeout``)."""
    o = tables.orders
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(select(func.count()).where(o.c.awaits_agreement)).scalar_one()
            connection.rollback()
            if waiting == 0:
                return
            time.sleep(0.05)


def _check_agreements(engine: Any, placed_since: datetime) -> dict[str, Any]:
    """After the runs: does each order placed since ``placed_since`` (this run's, not the seeded
    history's) have exactly one agreement (in its documents and in the outbox)?"""
    _wait_for_agreements(engine)
    o, ob = tables.orders, tables.outbox
    with engine.connect() as connection:
        documents = connection.execute(select(o.c.id, o.c.documents).where(o.c.created_at >= placed_since)).all()
        generated: dict[str, int] = dict(
            connection.execute(
                select(ob.c.aggregate_id, func.count())
                .where(ob.c.name == "PurchaseAgreementGenerated", ob.c.occurred_at >= placed_since)
                .group_by(ob.c.aggregate_id)
            ).all()
        )
    agreements = [sum(d["kind"] == "purchase_agreement" for d in docs) for _id, docs in documents]
    exactly_once = all(n == 1 for n in agreements) and all(generated.get(i) == 1 for i, _d in documents)
    return {"orders": len(documents), "rendered": sum(agreements), "exactly_once": exactly_once}


@contextmanager
def baseline_server(
    plan: Plan, work: Path, mode: str = "required", *, generator: LoadProcess | None = None
) -> Iterator[Steps]:
    """A baseline (:mod:`bench.baseline_app`, ``required`` or ``bare``) on its own fresh
    database, seeded the same way, started; yields its sequence of measurements."""
    with pg.fresh_database() as url, postgres_cpu(url) as database_cpu:
        cars = prepare_database(url, vehicles=plan.cars_needed, history=HISTORY)
        env = checkout_env(database_url=url, data_dir=work / f"baseline-{mode}", jwt_secret=JWT_SECRET)
        env["BENCH_BASELINE_DATABASE_URL"] = url
        env["BENCH_BASELINE_MODE"] = mode
        name = f"baseline-{mode}"
        server = uvicorn_server(name, "bench.baseline_app:create_from_env", env, work, workers=plan.workers)
        meter = Meter(server=server.cpu_seconds, postgres=database_cpu)
        with running(server):
            yield exercise(server.base_url, cars, plan, "b", meter=meter, generator=generator)


def run_baseline(plan: Plan, work: Path, mode: str = "required") -> TargetRun:
    """:func:`baseline_server`'s whole sequence, alone."""
    with baseline_server(plan, work, mode) as steps:
        return finish(steps)


SCENARIOS: dict[str, str] = {
    "reserve": "reserve, distinct cars",
    "race": "reserve, 64 clients race for 16 cars",
    "order": "place order",
    "read": "get order",
}

HEADERS = [
    "scenario",
    "clients",
    "reps × requests",
    "app req/s (min–max)",
    "app p50 ms",
    "app p99 ms",
    "base req/s (min–max)",
    "base p50 ms",
    "base p99 ms",
    "ratio (min–max)",
    "verdict",
    "bare req/s",
    "ratio to bare",
    "app CPU ms/req: API + PG + doc worker",
    "base CPU ms/req: API + PG",
    "CPU ratio",
    "generator % of a core: app / base",
    "limited by (app)",
    "app statuses",
]


def run(quick: bool, *, workers: int = 1) -> Section:
    """The three servers, interleaved, then the comparison table."""
    plan = attrs.evolve(Plan.for_mode(quick), workers=workers)
    section = Section(
        "http",
        f"2. HTTP on PostgreSQL: the app against the minimal correct design ({workers} uvicorn worker(s), "
        f"median of {plan.repetitions} interleaved repetitions)",
        list(HEADERS),
    )
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp, LoadProcess() as generator:
        work = Path(tmp)
        with (
            app_server(plan, work, generator=generator) as app_steps,
            baseline_server(plan, work, "required", generator=generator) as baseline_steps,
            baseline_server(plan, work, "bare", generator=generator) as bare_steps,
        ):
            app, baseline, bare = interleaved(app_steps, baseline_steps, bare_steps)
        inline = run_app(plan, work, agreements="inline", only=("order",), generator=generator)
    for scenario, label in SCENARIOS.items():
        for clients in app.reps.get(scenario, {}):
            section.rows.append(_row(label, scenario, clients, app, baseline, bare))
    for clients in inline.reps.get("order", {}):
        label = "place order [agreement rendered in the request, diagnostic]"
        section.rows.append(_row(label, "order", clients, inline, baseline, bare))
    for name, target in (
        ("app", app),
        ("app, agreements inline", inline),
        ("baseline", baseline),
        ("bare baseline", bare),
    ):
        section.notes += [f"{name}: {p}" for p in target.problems]
    section.notes += _agreement_notes(app)
    section.notes += [
        f"ratio = app / baseline throughput, the median of the {plan.repetitions} paired repetitions "
        f"(target >= {TARGET_RATIO}); CPU ratio = the baseline's CPU per request over the app's, everything "
        "counted (server, its PostgreSQL backends, and for the app the document worker): the throughput ratio "
        "on a host where CPU is the only limit",
        "baseline = the minimal correct design: idempotent POSTs, one winner per car, the deposit's intent "
        "before the charge, the outbox of the spec's events — reserve 2 statements in 2 transactions, place "
        "order 2 in 1, read 1 (bench/baseline_app.py says what each does); bare = the state change alone, a floor",
        f"load generator: its own process; a row whose generator used more than {GENERATOR_LIMIT:.0%} of a core "
        "is marked '!' (the figure is then a floor for that server)",
    ]
    peak = max((kib for kib, _cmd in app.peak_rss_kib.values()), default=0)
    section.notes.append(f"app server peak RSS after this section: {peak / 1024:.0f} MiB (VmHWM)")
    section.data = {
        "plan": attrs.asdict(plan),
        "cores": os.cpu_count(),
        "app": _summary(app),
        "baseline": _summary(baseline),
        "bare_baseline": _summary(bare),
        "app_agreements_inline": _summary(inline),
    }
    return section


def _agreement_notes(app: TargetRun) -> list[str]:
    """What the document worker beside the API did during the run."""
    a = app.agreements
    if not a:
        return []
    return [
        "place order: CHECKOUT_AGREEMENTS=worker, the production topology — the API commits the order and answers; "
        f"one `checkout documents generate --loop` process beside it on the same cores (nice {WORKER_NICENESS}) "
        f"renders the PDFs ({a['rendered']} agreements for {a['orders']} orders, exactly one per order: "
        f"{'yes' if a['exactly_once'] else 'NO'}); its CPU is the 'doc worker' term of every app row, read once "
        "it has rendered every agreement of the run. The diagnostic rows render it inside the request instead."
    ]


def _spread(values: Sequence[float]) -> tuple[float, float, float] | None:
    """Median, min and max; None for no values."""
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def _with_range(values: Sequence[float]) -> str | None:
    """``85.0 (80.1–90.2)``."""
    spread = _spread(values)
    if spread is None:
        return None
    median, low, high = spread
    return f"{cell(median)} ({cell(low)}–{cell(high)})"


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _limit(clients: int, reps: Sequence[Measurement], cores: int) -> str:
    """What limits the app's figure in that row, from where the time went (medians): the load
    generator, the API's one core, the host's cores (busy with this run's processes or with
    anyone else's: the machine is shared), else waiting (one request at a time, locks, I/O)."""
    timed = [m for m in reps if m.result.wall_seconds > 0]
    if not timed:
        return "-"
    generator = max(m.result.client_cpu_share for m in timed)
    api = _median([m.cpu.server / m.result.wall_seconds for m in timed]) or 0.0
    ours = (
        _median([(m.cpu.total + m.result.client_cpu_seconds) / (m.elapsed or m.result.wall_seconds) for m in timed])
        or 0.0
    )
    host = _median([m.cpu.host / (m.elapsed or m.result.wall_seconds) for m in timed]) or 0.0
    if generator > GENERATOR_LIMIT:
        return f"load generator ({generator:.0%} of a core)"
    if api >= 0.8:
        return f"API process CPU ({api:.0%} of its core)"
    if host >= 0.85 * cores:
        return f"host CPU ({host / cores:.0%} busy; this run {ours / cores:.0%}, API {api:.0%} of a core)"
    if clients == 1:
        return f"round trips, one request at a time (API {api:.0%} of a core)"
    return f"waits: locks, I/O (API {api:.0%} of a core, host {host / cores:.0%} busy)"


def _cpu_cell(reps: Sequence[Measurement], parts: Sequence[str]) -> str | None:
    """``4.1 + 1.2 + 6.5 = 11.8`` (medians of each part and of the total)."""
    medians = [_median([m.per_request_ms(p) for m in reps]) for p in parts]
    total = _median([m.per_request_ms("total") for m in reps])
    if total is None or any(v is None for v in medians):
        return None
    return " + ".join(cell(v) for v in medians) + f" = {cell(total)}"


def _row(label: str, scenario: str, clients: int, app: TargetRun, baseline: TargetRun, bare: TargetRun) -> list[Any]:
    """One table row: the app's figures, the baseline's, the paired throughput ratio and the
    verdict, the bare baseline's throughput, CPU per request with every part, the generator's
    share of a core and what limits the row."""
    mine = app.reps[scenario][clients]
    base = baseline.reps.get(scenario, {}).get(clients, [])
    floor = bare.reps.get(scenario, {}).get(clients, [])
    ratios = [
        a.result.throughput / b.result.throughput for a, b in zip(mine, base, strict=False) if b.result.throughput
    ]
    floor_ratios = [
        a.result.throughput / b.result.throughput for a, b in zip(mine, floor, strict=False) if b.result.throughput
    ]
    app_total = [m.per_request_ms("total") for m in mine]
    base_total = [m.per_request_ms("total") for m in base]
    cpu_ratios = [b / a for a, b in zip(app_total, base_total, strict=True) if a and b]
    ratio = _median(ratios)
    generators = [max(m.result.client_cpu_share for m in reps) for reps in (mine, base) if reps]
    marked = "!" if any(g > GENERATOR_LIMIT for g in generators) else ""
    merged = app.results[scenario][clients]
    return [
        label,
        clients,
        f"{len(mine)} × {round(statistics.mean(m.result.completed for m in mine))}",
        _with_range([m.result.throughput for m in mine]),
        _median([m.result.latency_ms(50) for m in mine]),
        _median([m.result.latency_ms(99) for m in mine]),
        _with_range([m.result.throughput for m in base]),
        _median([m.result.latency_ms(50) for m in base]),
        _median([m.result.latency_ms(99) for m in base]),
        _with_range(ratios),
        mark(ratio is not None and ratio >= TARGET_RATIO),
        _median([m.result.throughput for m in floor]),
        _median(floor_ratios),
        _cpu_cell(mine, ("server", "postgres", "worker")),
        _cpu_cell(base, ("server", "postgres")),
        _median(cpu_ratios),
        " / ".join(f"{g:.0%}" for g in generators) + (f" {marked}" if marked else ""),
        _limit(clients, mine, os.cpu_count() or 1),
        merged.status_summary(),
    ]


def _summary(run: TargetRun) -> dict[str, Any]:
    def as_row(m: Measurement) -> dict[str, Any]:
        r = m.result
        return {
            "requests": r.completed,
            "wall_seconds": r.wall_seconds,
            "throughput": r.throughput,
            "p50_ms": r.latency_ms(50),
            "p90_ms": r.latency_ms(90),
            "p99_ms": r.latency_ms(99),
            "statuses": {str(k): v for k, v in r.statuses.items()},
            "cpu_seconds": attrs.asdict(m.cpu),
            "cpu_ms_per_request": {p: m.per_request_ms(p) for p in ("server", "postgres", "worker", "total")},
            "elapsed_seconds": m.elapsed,
            "host_cpu_share": m.cpu.host / m.elapsed if m.elapsed else None,
            "client_cpu_share": r.client_cpu_share,
        }

    return {
        "repetitions": {s: {str(c): [as_row(m) for m in reps] for c, reps in by.items()} for s, by in run.reps.items()},
        "problems": run.problems,
        "agreements": run.agreements,
        "peak_rss_kib": {str(pid): {"kib": kib, "cmd": cmd} for pid, (kib, cmd) in run.peak_rss_kib.items()},
    }
