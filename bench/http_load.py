"""Section 2: HTTP on PostgreSQL against the real server process, with a bare baseline.

Three servers run side by side under the same uvicorn settings (127.0.0.1, one worker by
default, log level warning), each on a fresh database seeded the same way:

* ``app`` — ``checkout serve`` (``entrypoints.http.asgi:create_from_env``) with the embedded
  sandbox gateway and local document store in a temporary data directory, agreements rendered
  by a ``checkout documents generate --loop`` process beside it;
* ``baseline`` — :mod:`bench.baseline_app`, only the SQL the use cases cannot avoid;
* ``bare`` — the same app with only the state change, a floor.

They are measured in turn, one measurement each (the app's reservations at 1 client, then the
baseline's, then the bare one's, then the app's at 8 clients …), so that the figures a ratio is
made of were taken seconds apart. All get the same calls in the same order, from the same bounded load generator
(:mod:`bench.load`): reservations on distinct cars, 64 clients racing for 16 cars (checked:
exactly 16 winners, no 5xx), order placement, order reads — at several client counts. Every
app figure is printed with the baseline's and their ratio (target: at least 0.5)."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy import func, select

from adapters.auth.jwt_tokens import JwtTokens
from adapters.sql import tables
from adapters.sql.engine import make_engine
from bench import pg
from bench.load import Call, LoadResult, run_load
from bench.report import Section, mark
from bench.seed import prepare_database, sandbox_journal_mode
from bench.servers import ManagedProcess, checkout_env, checkout_job, checkout_server, uvicorn_server
from checkout_core.usecases.context import Role

JWT_SECRET = "bench-jwt-secret-" + "x" * 32
TARGET_RATIO = 0.5
#: ``nice -n`` of the document worker that runs beside the API during the HTTP runs.
WORKER_NICENESS = 10
RACE_CLIENTS = 64
RACE_CARS = 16

ADDRESS = {"street": "123 Main St", "city": "Toronto", "province": "ON", "postalCode": "M5V 2T6"}


@attrs.frozen
class Plan:
    """How much load: client counts and bounded request counts per run."""

    levels: tuple[int, ...]
    reservations: int
    orders: int
    reads: int
    race_rounds: int
    max_seconds: float
    workers: int = 1

    @property
    def cars_needed(self) -> int:
        """Distinct cars the plan reserves (warm-up, one per reservation, 16 per race round)."""
        return 16 + self.reservations * len(self.levels) + RACE_CARS * self.race_rounds

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        """The quick plan (a minute or so) or the full one."""
        if quick:
            return cls(levels=(1, 8), reservations=30, orders=15, reads=100, race_rounds=1, max_seconds=15)
        return cls(levels=(1, 8, 32), reservations=240, orders=120, reads=600, race_rounds=4, max_seconds=60)


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


@attrs.define
class TargetRun:
    """Everything one server did: results per scenario and client count, plus checks."""

    results: dict[str, dict[int, LoadResult]] = attrs.Factory(dict)
    #: The server's CPU seconds (all its processes) during each run.
    cpu: dict[str, dict[int, float]] = attrs.Factory(dict)
    problems: list[str] = attrs.Factory(list)
    peak_rss_kib: dict[int, tuple[int, str]] = attrs.Factory(dict)
    #: With a document worker beside the API: what it rendered (see ``_drain_agreements``).
    agreements: dict[str, Any] = attrs.Factory(dict)

    def add(self, scenario: str, clients: int, result: LoadResult, cpu: float = 0.0) -> None:
        """Record a run and check that no request failed on the server side."""
        self.results.setdefault(scenario, {})[clients] = result
        self.cpu.setdefault(scenario, {})[clients] = cpu
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
    server_cpu: Callable[[], float] = lambda: 0.0,
) -> Steps:
    """Run the scenarios of ``plan`` against one server, the same sequence for every server: a
    generator that yields the scenario's name after each measured run (for :func:`interleaved`;
    :func:`finish` runs it through) and returns the server's results."""
    run = TargetRun()
    customers = Customers(prefix)
    free = iter(cars)

    def created(_call: Call, status: int) -> bool:
        return status == 201  # keep the ids of what was created, for the next steps

    def load(calls: Sequence[Call], clients: int, *, together: bool = False) -> LoadResult:
        return run_load(
            [base_url], calls, clients=clients, max_seconds=plan.max_seconds, together=together, keep_body=created
        )

    def measured(scenario: str, clients: int, calls: Sequence[Call]) -> LoadResult:
        """A recorded run, with the server's CPU time during it."""
        before = server_cpu()
        result = load(calls, clients)
        run.add(scenario, clients, result, server_cpu() - before)
        return result

    # Warm-up (not measured): the thread pool, the connection pool, imports on first use.
    warm = load([reservation_call(customers, next(free)) for _ in range(16)], 8)
    warm_held = _kept(warm, 201)
    load([order_call(customers, b["reservationId"], c.tag[0], c.tag[1]) for c, b in warm_held[:8]], 4)

    held: list[tuple[str, str, str]] = []  # (reservation, customer, car)
    if "reserve" in only or "order" in only:
        for clients in plan.levels:
            result = measured(
                "reserve", clients, [reservation_call(customers, next(free)) for _ in range(plan.reservations)]
            )
            held += [(b["reservationId"], c.tag[0], c.tag[1]) for c, b in _kept(result, 201)]
            yield "reserve"

    if "race" in only:
        race: list[LoadResult] = []
        before = server_cpu()
        for round_ in range(plan.race_rounds):
            contested = [next(free) for _ in range(RACE_CARS)]
            calls = [reservation_call(customers, contested[n % RACE_CARS]) for n in range(RACE_CLIENTS)]
            result = load(calls, RACE_CLIENTS, together=True)
            race.append(result)
            winners = [c.tag[1] for c, _b in _kept(result, 201)]
            if len(winners) != RACE_CARS or len(set(winners)) != RACE_CARS:
                run.problems.append(
                    f"race round {round_ + 1}: {len(winners)} winners on {len(set(winners))} cars "
                    f"(expected {RACE_CARS} on {RACE_CARS}); {result.status_summary()}"
                )
        run.add("race", RACE_CLIENTS, _merge(race), server_cpu() - before)
        yield "race"

    orders: list[tuple[str, str]] = []  # (order, customer)
    if "order" in only:
        todo = iter(held)
        for clients in plan.levels:
            batch = [next(todo, None) for _ in range(plan.orders)]
            calls = [order_call(customers, r, c, v) for r, c, v in (b for b in batch if b is not None)]
            result = measured("order", clients, calls)
            orders += [(b["orderId"], c.tag) for c, b in _kept(result, 201)]
            yield "order"

    if "read" in only and orders:
        for clients in plan.levels:
            calls = [
                Call("GET", f"/api/v1/orders/{orders[n % len(orders)][0]}", customers.auth(orders[n % len(orders)][1]))
                for n in range(plan.reads)
            ]
            measured("read", clients, calls)
            yield "read"
    return run


def _merge(results: Sequence[LoadResult]) -> LoadResult:
    """Several race rounds as one result (throughput over the summed wall time)."""
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
    sandbox_wal: bool = False,
    agreements: str = "worker",
    only: Sequence[str] | None = None,
) -> Iterator[Steps]:
    """The real server on a fresh database, started: seed, ``checkout serve``; yields its
    sequence of measurements (which ends by reading its memory), stops it on the way out.

    ``agreements="worker"`` is the production topology (docs/operations.md): the API leaves
    each new order's PDF to a ``checkout documents generate --loop`` process running beside
    it on the same machine; its CPU is measured too, and every order is checked to end up with
    exactly one agreement. ``"inline"`` renders it inside the checkout request."""
    name = "app-wal" if sandbox_wal else "app" if agreements == "worker" else "app-inline"
    with pg.fresh_database() as url:
        cars = prepare_database(url, vehicles=plan.cars_needed)
        data_dir = work / name
        if sandbox_wal:
            sandbox_journal_mode(data_dir, "wal")
        env = checkout_env(database_url=url, data_dir=data_dir, jwt_secret=JWT_SECRET)
        env["CHECKOUT_AGREEMENTS"] = agreements
        server = checkout_server(name, env, work, workers=plan.workers)
        with running(server):
            worker = None
            if agreements == "worker":
                argv = ["documents", "generate", "--loop", "--interval", "0.2"]
                # A background job beside the API on the same host: a lower CPU priority, as it
                # would be deployed (docs/operations.md); its lag is measured below.
                worker = checkout_job(f"{name}-documents", argv, env, work, niceness=WORKER_NICENESS).launch()
                _wait_for_first_pass(worker)

            def steps() -> Steps:
                worker_cpu_before = worker.cpu_seconds() if worker is not None else 0.0
                run = yield from exercise(
                    server.base_url, cars, plan, "a", server_cpu=server.cpu_seconds, **({"only": only} if only else {})
                )
                if worker is not None:
                    run.agreements = _drain_agreements(url, worker, worker_cpu_before)
                    if not run.agreements["exactly_once"]:
                        run.problems.append("document worker: not exactly one agreement per order")
                run.peak_rss_kib = server.peak_rss_kib()
                return run

            try:
                yield steps()
            finally:
                if worker is not None:
                    worker.stop()


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


def _drain_agreements(url: str, worker: ManagedProcess, cpu_before: float, timeout: float = 120.0) -> dict[str, Any]:
    """Wait for the document worker to render every agreement the run left it, then check that
    each order has exactly one (in its documents and in the outbox)."""
    engine = make_engine(url)
    o, ob = tables.orders, tables.outbox
    started = time.monotonic()
    try:
        with engine.connect() as connection:
            while time.monotonic() - started < timeout:
                waiting = connection.execute(select(func.count()).where(o.c.awaits_agreement)).scalar_one()
                connection.rollback()
                if waiting == 0:
                    break
                time.sleep(0.1)
            documents = connection.execute(select(o.c.id, o.c.documents)).all()
            generated: dict[str, int] = dict(
                connection.execute(
                    select(ob.c.aggregate_id, func.count())
                    .where(ob.c.name == "PurchaseAgreementGenerated")
                    .group_by(ob.c.aggregate_id)
                ).all()
            )
    finally:
        engine.dispose()
    agreements = [sum(d["kind"] == "purchase_agreement" for d in docs) for _id, docs in documents]
    exactly_once = all(n == 1 for n in agreements) and all(generated.get(i) == 1 for i, _d in documents)
    return {
        "orders": len(documents),
        "rendered": sum(agreements),
        "exactly_once": exactly_once,
        "drain_seconds_after_the_run": time.monotonic() - started,
        "worker_cpu_seconds": worker.cpu_seconds() - cpu_before,
    }


@contextmanager
def baseline_server(plan: Plan, work: Path, mode: str = "required") -> Iterator[Steps]:
    """A baseline (:mod:`bench.baseline_app`, ``required`` or ``bare``) on its own fresh
    database, seeded the same way, started; yields its sequence of measurements."""
    with pg.fresh_database() as url:
        cars = prepare_database(url, vehicles=plan.cars_needed)
        env = checkout_env(database_url=url, data_dir=work / f"baseline-{mode}", jwt_secret=JWT_SECRET)
        env["BENCH_BASELINE_DATABASE_URL"] = url
        env["BENCH_BASELINE_MODE"] = mode
        name = f"baseline-{mode}"
        server = uvicorn_server(name, "bench.baseline_app:create_from_env", env, work, workers=plan.workers)
        with running(server):
            yield exercise(server.base_url, cars, plan, "b", server_cpu=server.cpu_seconds)


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


def run(quick: bool, *, workers: int = 1) -> Section:
    """Both servers, then the comparison table."""
    plan = attrs.evolve(Plan.for_mode(quick), workers=workers)
    section = Section(
        "http",
        f"2. HTTP on PostgreSQL, real server vs the SQL-only baselines ({workers} uvicorn worker(s))",
        [
            "scenario",
            "clients",
            "requests",
            "app req/s",
            "app p50 ms",
            "app p99 ms",
            "base req/s",
            "base p50 ms",
            "base p99 ms",
            "app CPU ms/req",
            "base CPU ms/req",
            "ratio",
            "verdict",
            "bare req/s",
            "ratio to bare",
            "app statuses",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        work = Path(tmp)
        with (
            app_server(plan, work) as app_steps,
            baseline_server(plan, work, "required") as baseline_steps,
            baseline_server(plan, work, "bare") as bare_steps,
        ):
            app, baseline, bare = interleaved(app_steps, baseline_steps, bare_steps)
        inline = run_app(plan, work, agreements="inline", only=("order",))
        wal = run_app(plan, work, sandbox_wal=True, only=("reserve",)) if not quick else None
    for scenario, label in SCENARIOS.items():
        for clients in app.results.get(scenario, {}):
            section.rows.append(_row(label, scenario, clients, app, baseline, bare))
    for clients in inline.results.get("order", {}):
        label = "place order [agreement rendered in the request, diagnostic]"
        section.rows.append(_row(label, "order", clients, inline, baseline, bare))
    if wal is not None:
        for clients in wal.results.get("reserve", {}):
            label = "reserve, distinct cars [sandbox file in WAL mode, diagnostic]"
            section.rows.append(_row(label, "reserve", clients, wal, baseline, bare))
    for name, target in (
        ("app", app),
        ("app, agreements inline", inline),
        ("baseline", baseline),
        ("bare baseline", bare),
    ):
        section.notes += [f"{name}: {p}" for p in target.problems]
    section.notes += _agreement_notes(app)
    section.notes.append(
        "baseline = the SQL the use case cannot avoid (Idempotency-Key record, the saga's two transactions, "
        "the per-customer cap, the outbox, the order view's car, advisor and timeline: bench/baseline_app.py "
        "says which requirement each statement serves); bare = the state change alone, a floor"
    )
    section.notes += _generator_notes(app, baseline, bare)
    peak = max((kib for kib, _cmd in app.peak_rss_kib.values()), default=0)
    section.notes.append(f"app server peak RSS after this section: {peak / 1024:.0f} MiB (VmHWM)")
    section.data = {
        "plan": attrs.asdict(plan),
        "app": _summary(app),
        "baseline": _summary(baseline),
        "bare_baseline": _summary(bare),
        "app_agreements_inline": _summary(inline),
        **({"app_sandbox_wal": _summary(wal)} if wal is not None else {}),
    }
    return section


def _agreement_notes(app: TargetRun) -> list[str]:
    """What the document worker beside the API did during the run."""
    a = app.agreements
    if not a:
        return []
    per = a["worker_cpu_seconds"] * 1000 / a["rendered"] if a["rendered"] else 0.0
    return [
        "place order: CHECKOUT_AGREEMENTS=worker, the production topology — the API commits the order and answers; "
        f"one `checkout documents generate --loop` process beside it on the same 2 cores (nice {WORKER_NICENESS}) "
        "renders the PDFs "
        f"({a['rendered']} agreements for {a['orders']} orders, {per:.1f} ms of its CPU each, the last one "
        f"{a['drain_seconds_after_the_run']:.1f} s after the run ended; exactly one per order: "
        f"{'yes' if a['exactly_once'] else 'NO'}). The diagnostic rows render it inside the request instead."
    ]


def _cpu_per_request(run: TargetRun, scenario: str, clients: int) -> float | None:
    """The server's CPU milliseconds per request in that run (all its processes)."""
    result = run.results.get(scenario, {}).get(clients)
    cpu = run.cpu.get(scenario, {}).get(clients)
    if result is None or cpu is None or not result.completed:
        return None
    return cpu * 1000 / result.completed


def _row(label: str, scenario: str, clients: int, app: TargetRun, baseline: TargetRun, bare: TargetRun) -> list[Any]:
    """One table row: the app's figures, the baseline's, the throughput ratio and the verdict,
    then the bare baseline's throughput and the ratio to it."""
    mine = app.results[scenario][clients]
    base = baseline.results.get(scenario, {}).get(clients)
    ratio = mine.throughput / base.throughput if base and base.throughput else None
    floor = bare.results.get(scenario, {}).get(clients)
    floor_ratio = mine.throughput / floor.throughput if floor and floor.throughput else None
    return [
        label,
        clients,
        mine.completed,
        mine.throughput,
        mine.latency_ms(50),
        mine.latency_ms(99),
        base.throughput if base else None,
        base.latency_ms(50) if base else None,
        base.latency_ms(99) if base else None,
        _cpu_per_request(app, scenario, clients),
        _cpu_per_request(baseline, scenario, clients),
        ratio,
        mark(ratio is not None and ratio >= TARGET_RATIO),
        floor.throughput if floor else None,
        floor_ratio,
        mine.status_summary(),
    ]


def _generator_notes(*runs: TargetRun) -> list[str]:
    """Say when the load generator itself was near a full core (the figure is then a floor)."""
    busy = [
        f"{scenario}@{clients}: {result.client_cpu_share:.0%}"
        for run in runs
        for scenario, by_clients in run.results.items()
        for clients, result in by_clients.items()
        if result.client_cpu_share >= 0.85
    ]
    if not busy:
        return []
    return ["load generator near one full core (figures are floors, the baseline's most): " + ", ".join(busy)]


def _summary(run: TargetRun) -> dict[str, Any]:
    as_row: Callable[[LoadResult], dict[str, Any]] = lambda r: {  # noqa: E731
        "requests": r.completed,
        "wall_seconds": r.wall_seconds,
        "throughput": r.throughput,
        "p50_ms": r.latency_ms(50),
        "p90_ms": r.latency_ms(90),
        "p99_ms": r.latency_ms(99),
        "statuses": {str(k): v for k, v in r.statuses.items()},
        "server_cpu_ms_per_request": None,
        "client_cpu_share": r.client_cpu_share,
    }
    results = {s: {str(c): as_row(r) for c, r in by.items()} for s, by in run.results.items()}
    for scenario, by in results.items():
        for clients, row in by.items():
            row["server_cpu_ms_per_request"] = _cpu_per_request(run, scenario, int(clients))
    return {
        "results": results,
        "problems": run.problems,
        "agreements": run.agreements,
        "peak_rss_kib": {str(pid): {"kib": kib, "cmd": cmd} for pid, (kib, cmd) in run.peak_rss_kib.items()},
    }
