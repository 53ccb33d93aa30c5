"""Section 1: SQL statements per use case, counted with SQLAlchemy's ``before_cursor_execute``.

The App is built by the real composition root (``entrypoints.bootstrap.bootstrap``) on SQLite
and on PostgreSQL, with a fixed clock so the expiry can be reached by moving time. Counts are
deterministic, so ``tests/bench/test_statement_counts.py`` holds the same budgets with
:func:`measure`.

What is counted: every statement sent to the database cursor, inside the use case call only
(the demo data is loaded first). SQLite's ``BEGIN IMMEDIATE`` is sent by an engine hook straight
to the driver connection, so — like PostgreSQL's implicit BEGIN — it is not a statement here;
COMMIT and ROLLBACK are not cursor executions either.

Then the same checkout through HTTP (:func:`measure_http`): the real Litestar app over the real
SQL engine, one request at a time, counting per request the transactions (the engine's
``begin`` events, minus those of autocommit reads that send no BEGIN), COMMITs, ROLLBACKs, the
pool's pings, the statements, and the hops to a worker thread. Round trips = statements +
BEGIN + COMMIT/ROLLBACK + pings: psycopg sends BEGIN as a query of its own, and each of those
is a wait for the network. ``tests/bench/test_statement_counts.py`` pins the exact numbers."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
import attrs
import litestar.utils.sync
from litestar.testing import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.default import DefaultDialect

from adapters.auth.jwt_tokens import JwtTokens
from adapters.sql.engine import is_outside_transactions, make_engine
from adapters.sql.migrations import upgrade_database
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from bench import pg
from bench.report import Section, mark
from bench.seed import seed_due_reservations
from checkout_core.demo import load_demo
from checkout_core.model.order import Delivery, DeliveryMethod, PaymentChoice
from checkout_core.model.parties import Address, ContactInfo
from checkout_core.money import Money
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.order_view import order_details
from checkout_core.usecases.orders import PlaceOrder, place_order
from checkout_core.usecases.reservations import expire_due_reservations, reserve_vehicle
from entrypoints.bootstrap import bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings

#: The issue's budgets: use case → most statements allowed.
BUDGETS: dict[str, int] = {
    "reserve": 8,
    "place_order": 20,
    "get_order": 5,
    "expire_one": 6,
}

#: What each row measures, for the table.
DESCRIPTIONS: dict[str, str] = {
    "reserve": "reserve_vehicle (claim, charge, confirm)",
    "place_order": "place_order (the spec's financed order)",
    "get_order": "order_details (GET /orders/:id)",
    "expire_one": "expire_due_reservations, one due: its transaction",
}

#: Measured without a budget: the rest of that sweep, after its transaction committed and the
#: refund went to the gateway (recording the gateway's answer is a second transaction).
AFTER_EXPIRY = "expire_one_refund"
AFTER_EXPIRY_DESCRIPTION = "... then recording its refund's outcome"

#: The sweep of :func:`measure_sweep`: how many reservations are due, in batches of how many,
#: and the most statements one batch may send (claim with the deposits, expire, release, refunds,
#: payments, outbox; the refunds' outcomes and their outbox: 8 measured).
SWEEP_DUE = 100
SWEEP_BATCH = 100
SWEEP_BATCH_BUDGET = 12

SPEC_NOW = datetime(2025, 12, 23, 10, 30, tzinfo=UTC)
#: Stripe's test token for a Visa that succeeds (the sandbox gateway knows it).
TEST_CARD = "tok_visa"
JOHN = Actor("cus_demo")


@attrs.frozen
class Measured:
    """The statements one use case sent, in order."""

    statements: tuple[str, ...]
    #: How many statements had been sent at each COMMIT.
    commits: tuple[int, ...] = ()

    @property
    def count(self) -> int:
        """How many."""
        return len(self.statements)

    def split_at_first_commit(self) -> tuple[Measured, Measured]:
        """The first committed transaction's statements, and everything after them."""
        cut = self.commits[0] if self.commits else self.count
        rest = tuple(c - cut for c in self.commits[1:])
        return Measured(self.statements[:cut], self.commits[:1]), Measured(self.statements[cut:], rest)


def spec_order(reservation_id: str) -> PlaceOrder:
    """The spec's checkout: Ontario buyer, $8,000 trade-in, financed, home delivery."""
    address = Address.parse(street="123 Main St", city="Toronto", province="ON", postal_code="M5V 2T6")
    contact = ContactInfo(
        first_name="John", last_name="Doe", email="john@example.com", phone="416-555-1234", address=address
    )
    return PlaceOrder(
        reservation_id=reservation_id,
        vehicle_id="veh_abc123",
        contact=contact,
        trade_in_id="trade_123",
        claimed_trade_in_credit=800000,
        payment_method=PaymentChoice.FINANCE,
        financing_application_id="app_xyz789",
        down_payment=Money(250000),
        delivery=Delivery(method=DeliveryMethod.DELIVERY, address=address, preferred_date=date(2025, 12, 28)),
    )


@attrs.define
class _Recording:
    statements: list[str] = attrs.Factory(list)
    commits: list[int] = attrs.Factory(list)

    def measured(self) -> Measured:
        return Measured(tuple(self.statements), tuple(self.commits))


@contextmanager
def _recording(database_name: str) -> Iterator[_Recording]:
    """Record every statement sent to a database called ``database_name``, and where the
    transactions committed.

    The listeners sit on the ``Engine`` class because ``bootstrap`` keeps its engine to
    itself; filtering on the database name keeps other engines of the process out."""
    seen = _Recording()

    def on_execute(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if conn.engine.url.database == database_name:
            seen.statements.append(" ".join(statement.split()))

    def on_commit(conn: Any) -> None:
        if conn.engine.url.database == database_name:
            seen.commits.append(len(seen.statements))

    event.listen(Engine, "before_cursor_execute", on_execute)
    event.listen(Engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)
        event.remove(Engine, "commit", on_commit)


def measure(database_url: str, data_dir: Path) -> dict[str, Measured]:
    """Run the four use cases once on ``database_url`` (empty, any state of migration) and
    return the statements each sent."""
    settings = Settings(
        data_dir=data_dir, database_url=database_url, jwt_secret="bench-" + "s" * 40, environment="development"
    )
    clock = FixedClock(SPEC_NOW)
    app = bootstrap(settings, clock=clock, ids=SequentialIds())
    try:
        load_demo(app.ctx.uow)
        # The file path on SQLite, the database name on PostgreSQL.
        database = make_url(settings.effective_database_url).database or ""
        results: dict[str, Measured] = {}

        def take(name: str, call: Callable[[], object]) -> object:
            with _recording(database) as seen:
                value = call()
            results[name] = seen.measured()
            return value

        ctx = app.ctx
        reserved = take("reserve", lambda: reserve_vehicle(ctx, JOHN, vehicle_id="veh_abc123", payment_token=TEST_CARD))
        reservation_id = reserved.reservation.id  # type: ignore[attr-defined]
        order = take("place_order", lambda: place_order(ctx, JOHN, spec_order(reservation_id)))
        take("get_order", lambda: order_details(ctx, JOHN, order.id))  # type: ignore[attr-defined]
        # A second customer's hold, then 72 h later a sweep that finds exactly that one.
        reserve_vehicle(ctx, Actor("cus_sweep"), vehicle_id="veh_demo001", payment_token=TEST_CARD)
        clock.advance(timedelta(hours=settings.hold_hours, seconds=1))
        expired = take("expire_one", lambda: expire_due_reservations(ctx))
        if expired != 1:
            raise RuntimeError(f"the sweep expired {expired} reservations, expected exactly 1")
        # The budget is the expiry's own transaction; what follows the gateway call is kept apart.
        results["expire_one"], results[AFTER_EXPIRY] = results["expire_one"].split_at_first_commit()
        return results
    finally:
        app.close()


def measure_sweep(database_url: str, data_dir: Path, due: int = SWEEP_DUE) -> Measured:
    """Seed ``due`` confirmed reservations that expired an hour ago (deposits charged at the
    sandbox gateway in ``data_dir``) on ``database_url`` (empty) and return the statements of
    one ``expire_due_reservations`` sweep in batches of :data:`SWEEP_BATCH`. The sweep ends with
    one more claim that finds nothing when ``due`` is a multiple of the batch size."""
    settings = Settings(
        data_dir=data_dir, database_url=database_url, jwt_secret="bench-" + "s" * 40, environment="development"
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade_database(engine)
        seed_due_reservations(engine, data_dir, due)  # before the app opens the gateway's file
    finally:
        engine.dispose()
    app = bootstrap(settings, ids=SequentialIds())
    try:
        database = make_url(settings.effective_database_url).database or ""
        with _recording(database) as seen:
            expired = expire_due_reservations(app.ctx, batch_size=SWEEP_BATCH)
        if expired != due:
            raise RuntimeError(f"the sweep expired {expired} reservations, expected {due}")
        return seen.measured()
    finally:
        app.close()


#: The HTTP requests of :func:`measure_http`, in the order they are sent.
HTTP_REQUESTS: dict[str, str] = {
    "reserve": "POST /api/v1/reservations (Idempotency-Key)",
    "reserve_lost": "POST /api/v1/reservations, the car taken (409: a race's loser)",
    "place_order": "POST /api/v1/orders (Idempotency-Key)",
    "get_order": "GET /api/v1/orders/{id}",
}


@attrs.frozen
class HttpMeasured:
    """What one HTTP request cost at the database and in thread hops."""

    status: int
    statements: tuple[str, ...]
    #: Explicit transactions: BEGINs sent (an autocommit read sends none).
    transactions: int
    commits: int
    rollbacks: int
    #: The pool's liveness pings (``SELECT 1`` before handing a connection out).
    pings: int
    #: Calls that moved work to a worker thread (Litestar's sync handlers and ``anyio.to_thread``).
    hops: int

    @property
    def round_trips(self) -> int:
        """Every wait for the database: statements, BEGIN, COMMIT or ROLLBACK, pings."""
        return len(self.statements) + self.transactions + self.commits + self.rollbacks + self.pings


@attrs.define
class _HttpRecording:
    statements: list[str] = attrs.Factory(list)
    transactions: int = 0
    commits: int = 0
    rollbacks: int = 0
    pings: int = 0
    hops: int = 0

    def measured(self, status: int) -> HttpMeasured:
        return HttpMeasured(
            status=status,
            statements=tuple(self.statements),
            transactions=self.transactions,
            commits=self.commits,
            rollbacks=self.rollbacks,
            pings=self.pings,
            hops=self.hops,
        )


def _autocommit(conn: Any) -> bool:
    """Whether ``conn`` sends no BEGIN (nor COMMIT or ROLLBACK): reads outside transactions."""
    return is_outside_transactions(conn)


@contextmanager
def _recording_http(database_name: str) -> Iterator[_HttpRecording]:
    """Like :func:`_recording`, for everything a request costs (see :class:`HttpMeasured`)."""
    seen = _HttpRecording()

    def ours(conn: Any) -> bool:
        return bool(conn.engine.url.database == database_name)

    def on_execute(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if ours(conn):
            seen.statements.append(" ".join(statement.split()))

    def on_begin(conn: Any) -> None:
        if ours(conn) and not _autocommit(conn):
            seen.transactions += 1

    def on_commit(conn: Any) -> None:
        if ours(conn) and not _autocommit(conn):
            seen.commits += 1

    def on_rollback(conn: Any) -> None:
        if ours(conn) and not _autocommit(conn):
            seen.rollbacks += 1

    original_ping = DefaultDialect._do_ping_w_event
    original_to_thread = anyio.to_thread.run_sync
    original_sync_to_thread = litestar.utils.sync.sync_to_thread

    def counting_ping(self: DefaultDialect, dbapi_connection: Any) -> bool:
        seen.pings += 1  # only our engine pings while a request is measured
        return original_ping(self, dbapi_connection)

    async def counting_to_thread(*args: Any, **kwargs: Any) -> Any:
        seen.hops += 1
        return await original_to_thread(*args, **kwargs)

    async def counting_sync_to_thread(*args: Any, **kwargs: Any) -> Any:
        seen.hops += 1
        return await original_sync_to_thread(*args, **kwargs)

    listeners = (
        ("before_cursor_execute", on_execute),
        ("begin", on_begin),
        ("commit", on_commit),
        ("rollback", on_rollback),
    )
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    DefaultDialect._do_ping_w_event = counting_ping  # type: ignore[method-assign]  # measuring only, restored below
    anyio.to_thread.run_sync = counting_to_thread  # type: ignore[assignment]  # measuring only, restored below
    litestar.utils.sync.sync_to_thread = counting_sync_to_thread  # type: ignore[assignment]  # likewise
    try:
        yield seen
    finally:
        DefaultDialect._do_ping_w_event = original_ping  # type: ignore[method-assign]
        anyio.to_thread.run_sync = original_to_thread
        litestar.utils.sync.sync_to_thread = original_sync_to_thread
        for name, listener in listeners:
            event.remove(Engine, name, listener)


def spec_order_body(reservation_id: str) -> dict[str, Any]:
    """The spec's ``POST /api/v1/orders`` body (the same checkout as :func:`spec_order`)."""
    address = {"street": "123 Main St", "city": "Toronto", "province": "ON", "postalCode": "M5V 2T6"}
    return {
        "reservationId": reservation_id,
        "vehicleId": "veh_abc123",
        "contactInfo": {
            "firstName": "John",
            "lastName": "Doe",
            "email": "john@example.com",
            "phone": "416-555-1234",
            "address": address,
        },
        "tradeIn": {"tradeInId": "trade_123", "creditAmount": 800000},
        "payment": {"method": "finance", "financingApplicationId": "app_xyz789", "downPayment": 250000},
        "delivery": {"method": "delivery", "address": address, "preferredDate": "2025-12-28"},
    }


def measure_http(database_url: str, data_dir: Path) -> dict[str, HttpMeasured]:
    """Reserve, lose the same car as another customer (409), place the spec's order and read it
    back through the HTTP app on ``database_url`` (empty), one request at a time; what each
    request cost. The pool is warmed first (two reads), so the connections are reused as in a
    running server."""
    settings = Settings(
        data_dir=data_dir, database_url=database_url, jwt_secret="bench-" + "s" * 40, environment="development"
    )
    app = bootstrap(settings, clock=FixedClock(SPEC_NOW), ids=SequentialIds())
    try:
        load_demo(app.ctx.uow)
        database = make_url(settings.effective_database_url).database or ""
        token = JwtTokens(app.jwt_secret).issue(JOHN.id, Role.CUSTOMER, now=datetime.now(UTC))
        headers = {"Authorization": f"Bearer {token}"}
        results: dict[str, HttpMeasured] = {}
        with TestClient(create_app(app)) as client:
            for _ in range(2):
                client.get("/ready")

            def take(
                name: str,
                method: str,
                url: str,
                body: dict[str, Any] | None = None,
                *,
                caller: dict[str, str] = headers,
                expected: int | None = None,
            ) -> Any:
                sent = {**caller, "Idempotency-Key": f"bench-{name}"} if method == "POST" else caller
                with _recording_http(database) as seen:
                    response = client.request(method, url, json=body, headers=sent)
                results[name] = seen.measured(response.status_code)
                unexpected = response.status_code != expected if expected else response.status_code >= 300
                if unexpected:
                    raise RuntimeError(f"{method} {url} answered {response.status_code}: {response.text}")
                return response.json()

            car = {"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": TEST_CARD}}
            reservation = take("reserve", "POST", "/api/v1/reservations", car)
            rival = JwtTokens(app.jwt_secret).issue("cus_rival", Role.CUSTOMER, now=datetime.now(UTC))
            rival_headers = {"Authorization": f"Bearer {rival}"}
            take("reserve_lost", "POST", "/api/v1/reservations", car, caller=rival_headers, expected=409)
            order = take("place_order", "POST", "/api/v1/orders", spec_order_body(reservation["reservationId"]))
            take("get_order", "GET", f"/api/v1/orders/{order['orderId']}")
        return results
    finally:
        app.close()


#: The issue's HTTP targets: request → (most transactions, most round trips); the checkout
#: (reserve + place order) has a round-trip budget of its own.
HTTP_BUDGETS: dict[str, tuple[int, int | None]] = {
    "reserve": (2, None),
    "reserve_lost": (1, None),
    "place_order": (1, None),
    "get_order": (0, None),
}
CHECKOUT_ROUND_TRIP_BUDGET = 20


def run(quick: bool) -> Section:
    """Measure on SQLite and PostgreSQL and compare with the budgets."""
    del quick  # deterministic and fast: the same in both modes
    section = Section(
        "statements",
        "1. SQL statements per use case",
        ["use case", "SQLite", "PostgreSQL", "budget", "verdict"],
    )
    measured: dict[str, dict[str, Measured]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-statements-") as tmp:
        measured["sqlite"] = measure("", Path(tmp) / "sqlite")
        try:
            with pg.fresh_database() as url:
                measured["postgresql"] = measure(url, Path(tmp) / "postgres")
        except pg.PostgresUnavailable as error:
            section.notes.append(f"PostgreSQL skipped: {error}")
    sweeps: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory(prefix="bench-statements-") as tmp:
        sweeps["sqlite"] = measure_sweep("", Path(tmp) / "sqlite")
        try:
            with pg.fresh_database() as url:
                sweeps["postgresql"] = measure_sweep(url, Path(tmp) / "postgres")
        except pg.PostgresUnavailable:
            pass  # noted above
    for name, budget in BUDGETS.items():
        counts = [measured[db][name].count if db in measured else None for db in ("sqlite", "postgresql")]
        worst = max(c for c in counts if c is not None)
        section.rows.append([DESCRIPTIONS[name], *counts, f"<= {budget}", mark(worst <= budget)])
        if worst > budget:
            statements = measured["postgresql" if "postgresql" in measured else "sqlite"][name].statements
            listing = "; ".join(f"({n}) {summarize(s)}" for n, s in enumerate(statements, 1))
            section.notes.append(f"{name}: {worst} statements > {budget}: {listing}")
    after = [measured[db][AFTER_EXPIRY].count if db in measured else None for db in ("sqlite", "postgresql")]
    section.rows.append([AFTER_EXPIRY_DESCRIPTION, *after, "-", "-"])
    section.notes.append(
        "expire one reservation: the budget is read as the expiry's own transaction (claim with the deposit, "
        "expire, release the car, open the refund, reserve its amount, outbox); the refund then goes to the "
        "gateway outside any transaction and its answer is recorded in a second one (refund status, outbox): "
        f"{max(c for c in after if c is not None)} more statements, "
        f"{max(measured[db]['expire_one'].count + measured[db][AFTER_EXPIRY].count for db in measured)} in all"
    )
    batches = -(-SWEEP_DUE // SWEEP_BATCH) + (SWEEP_DUE % SWEEP_BATCH == 0)  # the last claim finds nothing
    sweep_counts = [sweeps[db].count if db in sweeps else None for db in ("sqlite", "postgresql")]
    section.rows.append(
        [
            f"expire_due_reservations, {SWEEP_DUE} due (+ refunds), {batches} claims",
            *sweep_counts,
            f"<= {SWEEP_BATCH_BUDGET}/batch",
            mark(max(c for c in sweep_counts if c is not None) <= SWEEP_BATCH_BUDGET * batches),
        ]
    )
    http: dict[str, dict[str, HttpMeasured]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-statements-") as tmp:
        http["sqlite"] = measure_http("", Path(tmp) / "sqlite")
        try:
            with pg.fresh_database() as url:
                http["postgresql"] = measure_http(url, Path(tmp) / "postgres")
        except pg.PostgresUnavailable:
            pass  # noted above
    _http_rows(section, http)
    section.data = {
        db: {name: {"count": m.count, "statements": list(m.statements)} for name, m in by_case.items()}
        for db, by_case in measured.items()
    }
    for db, by_request in http.items():
        section.data[db]["http"] = {
            name: {**attrs.asdict(m), "round_trips": m.round_trips} for name, m in by_request.items()
        }
    for db, sweep in sweeps.items():
        section.data[db]["expire_100"] = {"count": sweep.count, "statements": list(sweep.statements)}
    section.data["budgets"] = BUDGETS
    return section


def _http_rows(section: Section, http: dict[str, dict[str, HttpMeasured]]) -> None:
    """The HTTP rows: transactions, round trips and thread hops per request, and the checkout's
    round trips against the issue's budget."""
    dbs = ("sqlite", "postgresql")
    for name, (most_transactions, _) in HTTP_BUDGETS.items():
        label = HTTP_REQUESTS[name]
        txns = [http[db][name].transactions if db in http else None for db in dbs]
        worst = max(t for t in txns if t is not None)
        section.rows.append(
            [f"{label}: transactions", *txns, f"<= {most_transactions}", mark(worst <= most_transactions)]
        )
        trips = [http[db][name].round_trips if db in http else None for db in dbs]
        section.rows.append([f"{label}: round trips", *trips, "-", "-"])
        hops = [http[db][name].hops if db in http else None for db in dbs]
        section.rows.append([f"{label}: thread hops", *hops, "<= 1", mark(max(h for h in hops if h is not None) <= 1)])
    checkout = [
        http[db]["reserve"].round_trips + http[db]["place_order"].round_trips if db in http else None for db in dbs
    ]
    # The budget is PostgreSQL's: SQLite runs in-process, where a statement is no network round
    # trip (and a UnitOfWork.together block writes at each call); its count stands for comparison.
    on_postgres = checkout[1]
    section.rows.append(
        [
            "HTTP checkout (reserve + place order): round trips",
            *checkout,
            f"<= {CHECKOUT_ROUND_TRIP_BUDGET} on PostgreSQL",
            "-" if on_postgres is None else mark(on_postgres <= CHECKOUT_ROUND_TRIP_BUDGET),
        ]
    )
    for db, by_request in http.items():
        parts = [
            f"{name} {m.transactions} txn, {len(m.statements)} stmts + {m.transactions} BEGIN + "
            f"{m.commits} COMMIT + {m.rollbacks} ROLLBACK + {m.pings} pings = {m.round_trips}"
            for name, m in by_request.items()
        ]
        section.notes.append(f"HTTP on {db}: " + "; ".join(parts))


def summarize(statement: str) -> str:
    """``SELECT reservations WHERE id … FOR UPDATE``: the verb, the table and the WHERE columns,
    without the long column lists (enough to see which repository call sent it)."""
    verb = statement.split(" ", 1)[0].upper()
    if verb == "WITH":
        # Writes in one statement (PostgreSQL data-modifying CTEs): ``WITH INSERT outbox + UPDATE …``.
        # An INSERT of several rows is one CTE per row (``statements.combined``): named once. A
        # SELECT among them is named by what it selects from or calls (the customer's count).
        writes = re.findall(r"\bAS\s*\(\s*(INSERT INTO|UPDATE|DELETE FROM|SELECT) (\w+)", statement)
        if writes:
            return "WITH " + " + ".join(dict.fromkeys(f"{v.split(' ')[0]} {t}" for v, t in writes))
    if verb == "SELECT":
        # The outer query's table and conditions, not those of a subquery among its columns.
        while (flat := re.sub(r"\([^()]*\)", "", statement)) != statement:
            statement = flat
        table = re.search(r"\bFROM (\w+)", statement)
    elif verb == "INSERT":
        table = re.search(r"^INSERT INTO (\w+)", statement)
    else:
        table = re.search(r"^(?:UPDATE|DELETE FROM) (\w+)", statement)
    where = re.search(r"\bWHERE (.*?)(?: ORDER BY| GROUP BY| LIMIT| FOR UPDATE| RETURNING|$)", statement)
    columns = sorted(set(re.findall(r"\b\w+\.(\w+) (?:=|IN|<=|>=|<|>|IS)", where.group(1)))) if where else []
    parts = [verb, table.group(1) if table else "?"]
    if columns:
        parts.append("by " + ", ".join(columns))
    if "ON CONFLICT" in statement:
        parts.append("ON CONFLICT")
    if "FOR UPDATE" in statement:
        parts.append("FOR UPDATE" + (" SKIP LOCKED" if "SKIP LOCKED" in statement else ""))
    return " ".join(parts)
