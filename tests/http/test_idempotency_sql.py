"""``Idempotency-Key`` over the SQL adapter (SQLite and PostgreSQL): the claim rides in the use
case's first transaction and the answer in its last, in the handler's one thread call — and the
rules of docs/http-api.md "Idempotency" still hold: replays are byte-identical, another body is
422, a duplicate in flight is 409, a 5xx releases the key. Also: no pool pre-ping, a dead pooled
connection is replaced on the first statement of a transaction."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Engine, event, select, update
from sqlalchemy.engine import make_url

from adapters.sql import mapping, tables
from adapters.sql.engine import SQLITE_READ_ONLY, is_outside_transactions, make_engine
from adapters.sql.idempotency import SqlCall, SqlIdempotencyStore
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.model.reservation import Reservation, ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.ports.idempotency import ABANDONED_AFTER, IdempotencyRecord, KeyTaken, StoredAnswer
from checkout_core.usecases.context import SYSTEM
from checkout_core.usecases.ledger_audit import audit_ledger
from checkout_core.usecases.reservations.reserving import apply_deposit_outcome
from entrypoints.bootstrap import App, bootstrap
from entrypoints.http.app import create_app
from entrypoints.http.idempotency import request_hash
from entrypoints.settings import Settings
from tests.http.conftest import new_key, order_request
from tests.http.gateways import GATEWAY_DOWN, SpyGateway
from tests.postgres import postgres_database, server_url

Client = TestClient[Litestar]
RESERVE = {"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}}
DECLINED = {"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_chargeDeclined"}}


@pytest.fixture
def spy(clock: FixedClock) -> SpyGateway:
    """The counting gateway."""
    return SpyGateway(clock)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database: a SQLite file in the data directory ("") or a fresh PostgreSQL one."""
    if request.param == "sqlite":
        yield ""
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def core(database_url: str, tmp_path: Path, clock: FixedClock, spy: SpyGateway) -> Iterator[App]:
    """The real composition root over SQL, charging through the spy (overrides the memory app)."""
    app = _sql_app(database_url, tmp_path, clock, spy)
    yield app
    app.close()


def _sql_app(database_url: str, tmp_path: Path, clock: FixedClock, spy: SpyGateway, **settings: Any) -> App:
    """:func:`core`'s app, with ``settings`` changed (the caller closes it)."""
    app = bootstrap(
        Settings(
            data_dir=tmp_path, database_url=database_url, jwt_secret="t" * 48, environment="development", **settings
        ),
        clock=clock,
        ids=SequentialIds(),
        gateway=spy,
    )
    load_demo(app.ctx.uow)
    return app


@contextmanager
def transactions(core: App) -> Iterator[list[str]]:
    """The database events of whatever runs inside: "begin", "commit", "rollback"."""
    seen: list[str] = []
    database = make_url(core.settings.effective_database_url).database

    def listener(name: str) -> Any:
        def on(conn: Any) -> None:
            # Reads outside transactions send no BEGIN, COMMIT or ROLLBACK (PostgreSQL, SQLite).
            if conn.engine.url.database == database and not is_outside_transactions(conn):
                seen.append(name)

        return on

    listeners = [(name, listener(name)) for name in ("begin", "commit", "rollback")]
    for name, fn in listeners:
        event.listen(Engine, name, fn)
    try:
        yield seen
    finally:
        for name, fn in listeners:
            event.remove(Engine, name, fn)


def _reserve(client: Client, headers: dict[str, str], key: str, body: dict[str, Any] | None = None) -> Any:
    return client.post("/api/v1/reservations", json=body or RESERVE, headers={**headers, "Idempotency-Key": key})


def _stored(core: App, status: int | None = None) -> list[Any]:
    engine = make_engine(core.settings.effective_database_url)
    try:
        with engine.connect() as connection:
            rows = list(connection.execute(select(tables.idempotency_keys)).mappings())
    finally:
        engine.dispose()
    return [row for row in rows if status is None or row["status_code"] == status]


def test_reserve_and_order_replay_byte_for_byte(
    client: Client, customer: dict[str, str], spy: SpyGateway, core: App
) -> None:
    key = new_key()
    with transactions(core) as reserve_events:
        first = _reserve(client, customer, key)
    replay = _reserve(client, customer, key)
    assert first.status_code == replay.status_code == 201, first.text
    assert replay.content == first.content
    assert replay.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert replay.headers["content-type"] == "application/json"
    assert spy.charges == 1
    # Claim + hold + intent, then settle + answer: two transactions, both committed. On
    # PostgreSQL each is one statement, sent outside any transaction (the key's claim, the
    # car's and the hold in the first; the settling and its answer, with its row-count checks
    # inside it, in the second): none.
    postgres = core.settings.effective_database_url.startswith("postgresql")
    assert reserve_events == ([] if postgres else ["begin", "commit"] * 2)

    order_key = new_key()
    body = order_request(first.json()["reservationId"])
    with transactions(core) as order_events:
        placed = client.post("/api/v1/orders", json=body, headers={**customer, "Idempotency-Key": order_key})
    again = client.post("/api/v1/orders", json=body, headers={**customer, "Idempotency-Key": order_key})
    assert placed.status_code == again.status_code == 201, placed.text
    assert again.content == placed.content
    assert again.headers["idempotent-replayed"] == "true"
    assert order_events == ["begin", "commit"]  # claim, order and answer in one
    assert len(_stored(core, 201)) == 2


def test_a_decline_is_stored_with_the_settlement(
    client: Client, customer: dict[str, str], spy: SpyGateway, core: App
) -> None:
    key = new_key()
    with transactions(core) as events:
        first = _reserve(client, customer, key, DECLINED)
    again = _reserve(client, customer, key, DECLINED)
    assert first.status_code == again.status_code == 402
    assert again.content == first.content
    assert again.headers["content-type"] == "application/problem+json"
    assert again.headers["idempotent-replayed"] == "true"
    assert spy.charges == 1
    # On PostgreSQL the claim and the hold are one statement outside any transaction; the
    # decline's settling (the car released too) is the one transaction.
    postgres = core.settings.effective_database_url.startswith("postgresql")
    assert events == ["begin", "commit"] * (1 if postgres else 2)
    # The car went back on sale in the transaction that stored the 402.
    assert _reserve(client, customer, new_key()).status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (RESERVE, 409, "vehicle_unavailable"),  # the car the first customer holds
        ({**RESERVE, "vehicleId": "veh_nowhere"}, 404, "not_found"),
    ],
)
def test_a_refused_reservation_is_stored_with_its_claim_in_one_transaction(
    client: Client,
    customer: dict[str, str],
    stranger: dict[str, str],
    spy: SpyGateway,
    core: App,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    """A race's loser: the claim, the refusal's reads and the stored answer in one transaction
    (it was three: the claim rolled back with the refusal, claimed again to look for the key's
    earlier hold, the answer in a transaction of its own); replayed like any answer. On
    PostgreSQL the key's claim commits with the statement that failed to claim the car (outside
    any transaction), then the refusal's reads — the car's holder, locked — and the answer are
    one transaction; no such car reads nothing, and its answer is a statement alone."""
    assert _reserve(client, customer, new_key()).status_code == 201
    key = new_key()
    with transactions(core) as events:
        lost = _reserve(client, stranger, key, body)
    again = _reserve(client, stranger, key, body)
    assert (lost.status_code, lost.json()["code"]) == (status, code), lost.text
    postgres = core.settings.effective_database_url.startswith("postgresql")
    assert events == ([] if postgres and status == 404 else ["begin", "commit"])
    assert again.content == lost.content
    assert again.headers["idempotent-replayed"] == "true"
    assert spy.charges == 1
    assert len(_stored(core, status)) == 1


def test_a_reservation_past_the_limit_is_stored_with_its_claim_in_one_transaction(
    client: Client, customer: dict[str, str], spy: SpyGateway, core: App
) -> None:
    assert _reserve(client, customer, new_key()).status_code == 201
    key, other_car = new_key(), {**RESERVE, "vehicleId": "veh_demo001"}
    with transactions(core) as events:
        refused = _reserve(client, customer, key, other_car)
    again = _reserve(client, customer, key, other_car)
    assert (refused.status_code, refused.json()["code"]) == (409, "reservation_limit_reached"), refused.text
    # PostgreSQL: the claim's statement (outside any transaction), a read of the key's earlier
    # hold and the answer, each on its own — no transaction at all.
    postgres = core.settings.effective_database_url.startswith("postgresql")
    assert events == ([] if postgres else ["begin", "commit"])
    assert again.content == refused.content
    assert again.headers["idempotent-replayed"] == "true"
    assert spy.charges == 1


def test_a_retry_keeps_its_claim_while_it_asks_the_gateway_about_its_first_charge(
    database_url: str, tmp_path: Path, clock: FixedClock, spy: SpyGateway, customer: dict[str, str]
) -> None:
    """The first attempt's answer was lost (a 5xx released the key; its hold waits for its
    deposit). The retry meets that hold in its car's way — under a limit of two it is the car's
    holder, not the caller's limit, that refuses — and must hold the key, committed, before it
    asks the gateway what became of the first charge: a duplicate then finds it in progress."""
    app = _sql_app(database_url, tmp_path, clock, spy, max_active_reservations=2)
    claims_seen: list[list[Any]] = []
    ask = spy.find_charge

    def find_charge(*, idempotency_key: str, ledger_id: str) -> Any:
        claims_seen.append(_stored(app))  # from another connection: what is committed
        return ask(idempotency_key=idempotency_key, ledger_id=ledger_id)

    spy.find_charge = find_charge  # type: ignore[method-assign]  # a probe on the spy's delegate
    try:
        with TestClient(create_app(app), raise_server_exceptions=False) as client:
            key = new_key()
            spy.fail_with = GATEWAY_DOWN
            assert _reserve(client, customer, key).status_code == 503
            spy.fail_with = None
            retried = _reserve(client, customer, key)
    finally:
        app.close()
    assert retried.status_code == 201, retried.text
    assert len(claims_seen) == 1
    assert [row["status_code"] for row in claims_seen[0]] == [None]  # claimed, no answer yet
    assert spy.charges == 2  # the first one failed before reaching the card


def test_the_same_key_with_another_body_is_422(client: Client, customer: dict[str, str], core: App) -> None:
    """On PostgreSQL the second request's claim rides in its first statement, the one that
    claims its car: the key's UNIQUE violation undoes that statement whole — the other car stays
    free, and nothing was charged."""
    key = new_key()
    assert _reserve(client, customer, key).status_code == 201
    other = _reserve(client, customer, key, {**RESERVE, "vehicleId": "veh_demo001"})
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    with core.ctx.uow() as uow:
        car = uow.vehicles.get("veh_demo001")
        assert car is not None and car.status is VehicleStatus.AVAILABLE
        assert [r.vehicle_id for r in uow.reservations.list(customer_id="cus_demo")] == ["veh_abc123"]


def test_a_replay_refused_before_its_first_statement_is_still_replayed(
    database_url: str, tmp_path: Path, clock: FixedClock, spy: SpyGateway, customer: dict[str, str]
) -> None:
    """A reservation's claim rides in its first statement (PostgreSQL), after the attempt limit
    is counted: a replay over the limit is refused (429) before it learns it is a replay. The
    first answer still wins — the retry gets it, byte for byte, and nothing more is charged."""
    app = _sql_app(database_url, tmp_path, clock, spy, rate_limits=(("reservations_per_customer", 1, 600),))
    try:
        with TestClient(create_app(app), raise_server_exceptions=False) as client:
            key = new_key()
            first = _reserve(client, customer, key)
            replayed = _reserve(client, customer, key)
            fresh = _reserve(client, customer, new_key(), {**RESERVE, "vehicleId": "veh_demo001"})
    finally:
        app.close()
    assert first.status_code == 201, first.text
    assert (replayed.status_code, replayed.content) == (201, first.content)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert (fresh.status_code, fresh.json()["code"]) == (429, "too_many_attempts")  # the limit itself holds
    assert spy.charges == 1


def test_an_abandoned_claim_is_taken_over_through_the_first_statement(
    client: Client, customer: dict[str, str], core: App, clock: FixedClock, spy: SpyGateway
) -> None:
    """A claim left without an answer (its process died before anything else committed) is taken
    over by the retry once abandoned: on PostgreSQL the retry's first statement fails on the key,
    the claim is taken over the usual way, and that statement goes again — the car is claimed
    once, by the retry."""
    key = new_key()
    scope = "cus_demo POST /api/v1/reservations"
    digest = hashlib.sha256(key.encode()).hexdigest()
    body_hash = request_hash(json.dumps(RESERVE).encode(), "application/json")
    assert core.idempotency.claim(scope=scope, key=digest, request_hash=body_hash, now=clock.now()) is None
    early = _reserve(client, customer, key)
    assert (early.status_code, early.json()["code"]) == (409, "idempotency_in_progress")
    clock.advance(ABANDONED_AFTER + timedelta(seconds=1))
    retried = _reserve(client, customer, key)
    assert retried.status_code == 201, retried.text
    assert retried.json()["status"] == "confirmed"
    assert _reserve(client, customer, key).content == retried.content
    assert spy.charges == 1


def test_a_5xx_releases_the_key(client: Client, customer: dict[str, str], spy: SpyGateway, core: App) -> None:
    key = new_key()
    spy.fail_with = GATEWAY_DOWN
    failed = _reserve(client, customer, key)
    assert (failed.status_code, failed.json()["code"]) == (503, "payment_gateway_unavailable")
    assert _stored(core) == []  # claimed with the intent, released after the gateway failed

    spy.fail_with = None
    retried = _reserve(client, customer, key)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert retried.json()["status"] == "confirmed"


def test_a_duplicate_in_flight_is_409(client: Client, customer: dict[str, str], spy: SpyGateway) -> None:
    """The claim committed with the intent, before the gateway call: a duplicate arriving while
    the first request waits for the gateway finds it unfinished."""
    key = new_key()
    spy.hold()
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.update(first=_reserve(client, customer, key)))
    first.start()
    try:
        assert spy.entered.wait(timeout=10), "the first request never reached the gateway"
        duplicate = _reserve(client, customer, key)
    finally:
        spy.release()
        first.join(timeout=10)
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "idempotency_in_progress")
    assert results["first"].status_code == 201
    assert _reserve(client, customer, key).content == results["first"].content
    assert spy.charges == 1


def test_a_4xx_before_any_unit_of_work_is_claimed_and_stored_in_one_transaction(
    client: Client, customer: dict[str, str], core: App
) -> None:
    """The handler refused the form before the use case opened a transaction: the transaction
    that claimed the key stores the 400 and commits."""
    headers = {**customer, "Idempotency-Key": new_key()}
    body = order_request("res_any")
    body["contactInfo"]["email"] = "not an email"
    with transactions(core) as events:
        first = client.post("/api/v1/orders", json=body, headers=headers)
    assert (first.status_code, first.json()["field"]) == (400, "contactInfo.email"), first.text
    assert events == ["begin", "commit"]
    again = client.post("/api/v1/orders", json=body, headers=headers)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


def test_a_4xx_inside_the_use_case_is_stored_after_its_rollback(
    client: Client, customer: dict[str, str], core: App
) -> None:
    """The use case's transaction failed (and took the claim with it): the answer is stored with a
    new claim in one more transaction. Never a transaction held open past the use case's own end:
    a gateway call could follow a caught error."""
    key = new_key()
    headers = {**customer, "Idempotency-Key": key}
    body = order_request("res_missing")
    with transactions(core) as events:
        first = client.post("/api/v1/orders", json=body, headers=headers)
    assert first.status_code == 404, first.text
    assert events == ["begin", "rollback", "begin", "commit"]
    again = client.post("/api/v1/orders", json=body, headers=headers)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    other = client.post("/api/v1/orders", json=order_request("res_other"), headers=headers)
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


def test_an_order_on_a_car_withdrawn_under_its_hold_is_409_and_nothing_is_written(
    client: Client, customer: dict[str, str], core: App
) -> None:
    """The car's move to sale_pending rides in the order's one statement: when it finds the car
    no longer reserved the whole transaction rolls back, and the 409 is stored for a retry."""
    held = _reserve(client, customer, new_key())
    assert held.status_code == 201, held.text
    reservation_id = held.json()["reservationId"]
    with core.ctx.uow() as uow:
        assert uow.vehicles.set_status(RESERVE["vehicleId"], VehicleStatus.WITHDRAWN) == 1
        uow.commit()
    headers = {**customer, "Idempotency-Key": new_key()}
    body = order_request(reservation_id)
    first = client.post("/api/v1/orders", json=body, headers=headers)
    assert (first.status_code, first.json()["code"]) == (409, "vehicle_unavailable"), first.text
    assert first.headers["content-type"] == "application/problem+json"
    again = client.post("/api/v1/orders", json=body, headers=headers)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    with core.ctx.uow() as uow:
        assert uow.orders.list() == []
        reservation = uow.reservations.get(reservation_id)
        assert reservation is not None and reservation.status is ReservationStatus.CONFIRMED
        car = uow.vehicles.get(RESERVE["vehicleId"])
        assert car is not None and car.status is VehicleStatus.WITHDRAWN


def test_a_body_refused_before_the_handler_is_stored_too(client: Client, customer: dict[str, str]) -> None:
    headers = {**customer, "Idempotency-Key": new_key(), "Content-Type": "application/json"}
    broken = b'{"vehicleId": "veh_abc123",'
    first = client.post("/api/v1/reservations", content=broken, headers=headers)
    assert first.status_code == 400
    again = client.post("/api/v1/reservations", content=broken, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content
    spaced = client.post("/api/v1/reservations", content=broken + b" ", headers=headers)
    assert (spaced.status_code, spaced.json()["code"]) == (422, "idempotency_key_reused")


def test_a_get_sends_no_begin(client: Client, customer: dict[str, str], core: App) -> None:
    reservation = _reserve(client, customer, new_key()).json()
    with transactions(core) as events:
        response = client.get(f"/api/v1/reservations/{reservation['reservationId']}", headers=customer)
    assert response.status_code == 200
    assert events == []


# -- the adapter on its own -------------------------------------------------------------------


@pytest.fixture
def engine(core: App) -> Iterator[Engine]:
    """A second engine on the app's database (the app's own is private to bootstrap)."""
    engine = make_engine(core.settings.effective_database_url)
    yield engine
    engine.dispose()


def _hold(uow: SqlUnitOfWork) -> None:
    """A write (statement level: repository names are not what this module tests)."""
    vehicles = tables.vehicles
    uow.execute(update(vehicles).where(vehicles.c.id == "veh_abc123").values(status="reserved"))


def _read(uow: SqlUnitOfWork) -> int:
    vehicles = tables.vehicles
    return len(uow.execute(select(vehicles.c.id).where(vehicles.c.id == "veh_abc123")).all())


def _record(engine: Engine, scope: str) -> IdempotencyRecord | None:
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_READ_ONLY: True})  # never waits behind an open writer
        where = tables.idempotency_keys.c.scope == scope
        row = connection.execute(select(tables.idempotency_keys).where(where)).mappings().first()
    return None if row is None else mapping.from_row(row, IdempotencyRecord)


def test_a_read_only_first_transaction_keeps_the_claim(engine: Engine, clock: FixedClock) -> None:
    """A use case that only reads in its first transaction commits it anyway (the claim is all
    it wrote): the key stays claimed while the use case goes on."""
    store = SqlIdempotencyStore(engine)
    with store.begin(scope="s1", key="k", request_hash="h", now=clock.now()) as call:
        assert call.existing is None
        with SqlUnitOfWork(engine, SequentialIds()) as uow:
            assert _read(uow) == 1
        # Committed: another request with the key finds it in progress (and does not wait).
        with store.begin(scope="s1", key="k", request_hash="h", now=clock.now()) as other:
            assert other.existing is not None and other.existing.status_code is None
        call.finish(None)
    assert _record(engine, "s1") is None  # released


def test_a_claim_lost_with_a_failed_transaction_is_made_again(engine: Engine, clock: FixedClock) -> None:
    """A first transaction that fails rolls the claim back with it; the next one claims again, and
    raises KeyTaken if another request got the key in between."""
    store = SqlIdempotencyStore(engine)
    with store.begin(scope="s4", key="k", request_hash="h", now=clock.now()) as call:
        with SqlUnitOfWork(engine, SequentialIds()) as uow:
            _hold(uow)
            uow.rollback()  # the use case failed
        assert _record(engine, "s4") is None
        assert store.claim(scope="s4", key="k", request_hash="h", now=clock.now()) is None  # someone else
        # SQLite claims as the unit of work begins, PostgreSQL with its first statement: either
        # way the use case goes no further.
        with pytest.raises(KeyTaken) as taken, SqlUnitOfWork(engine, SequentialIds()) as uow:
            _hold(uow)
        assert taken.value.record.status_code is None
        assert call.finish(None) is None
        assert _record(engine, "s4") is not None  # the other request's claim, untouched


def test_a_final_commit_followed_by_another_transaction_commits_early(engine: Engine, clock: FixedClock) -> None:
    """A commit marked final that something follows after all is committed when the next unit of
    work begins; the answer then goes in a transaction of its own — nothing is lost."""
    store = SqlIdempotencyStore(engine)
    with store.begin(scope="s2", key="k", request_hash="h", now=clock.now()) as call:
        with SqlUnitOfWork(engine, SequentialIds()) as uow:
            _hold(uow)
            uow.mark_final()
            uow.commit()
        assert _record(engine, "s2") is None  # parked: not committed yet
        with SqlUnitOfWork(engine, SequentialIds()) as uow:
            assert _read(uow) == 1
        assert _record(engine, "s2") is not None  # committed when the next one began
        assert call.finish(StoredAnswer(status_code=201, body=b"{}")) is None
    record = _record(engine, "s2")
    assert record is not None and (record.status_code, record.body) == (201, b"{}")


def test_a_second_request_waits_for_the_first_claim(engine: Engine, clock: FixedClock) -> None:
    """Two requests with one key: the second's claim finds the first's (in progress, then
    answered) — never both go ahead."""
    store = SqlIdempotencyStore(engine)
    outcome: dict[str, Any] = {}
    with store.begin(scope="s3", key="k", request_hash="h", now=clock.now()) as first:
        with SqlUnitOfWork(engine, SequentialIds()) as uow:
            _hold(uow)
            uow.mark_final()
            uow.commit()

        def second() -> None:
            with store.begin(scope="s3", key="k", request_hash="h", now=clock.now()) as call:
                outcome["existing"] = call.existing

        waiting = threading.Thread(target=second)
        waiting.start()
        waiting.join(timeout=0.5)  # blocked behind the open transaction (PostgreSQL, SQLite alike)
        first.finish(StoredAnswer(status_code=201, body=b'{"a":1}'))
    waiting.join(timeout=30)
    assert not waiting.is_alive()
    existing = outcome["existing"]
    assert existing is not None and (existing.status_code, existing.body) == (201, b'{"a":1}')


# -- no pre-ping ------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_requests_survive_the_server_dropping_pooled_connections(
    client: Client, customer: dict[str, str], core: App
) -> None:
    """The pool does not ping: when the server has killed its connections (a restart, a proxy's
    idle cut-off), the first statement of the next transaction fails on a dead connection and is
    sent again on a new one. Reads, claims and use cases all go on."""
    reservation = _reserve(client, customer, new_key())
    assert reservation.status_code == 201
    reservation_url = f"/api/v1/reservations/{reservation.json()['reservationId']}"
    assert client.get(reservation_url, headers=customer).status_code == 200
    for request in ("get", "post", "get"):
        assert _terminate_backends(core) >= 1
        if request == "get":
            assert client.get(reservation_url, headers=customer).status_code == 200
        else:
            response = client.post(
                "/api/v1/orders",
                json=order_request(reservation.json()["reservationId"]),
                headers={**customer, "Idempotency-Key": new_key()},
            )
            assert response.status_code == 201, response.text


def _terminate_backends(core: App) -> int:
    database = make_url(core.settings.effective_database_url).database
    conninfo = server_url().set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


@pytest.mark.postgres
def test_the_postgres_pool_recycles_instead_of_pinging() -> None:
    with postgres_database() as url:
        engine = make_engine(url)
        try:
            assert engine.pool._pre_ping is False  # what create_engine(pool_pre_ping=...) sets
            assert engine.pool._recycle == 1800
        finally:
            engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_checkout_sends_no_statement_through_sqlalchemys_execution(
    client: Client, customer: dict[str, str], core: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL every statement of a checkout and a read goes straight to psycopg
    (adapters/sql/direct.py; issue 16): SQLAlchemy's execution path costs 50-100 us a statement."""
    from sqlalchemy.engine import Connection

    through_sqlalchemy: list[str] = []
    original = Connection._execute_clauseelement

    def spy(self: Connection, element: Any, *args: Any, **kwargs: Any) -> Any:
        through_sqlalchemy.append(str(element).split("\n")[0][:80])
        return original(self, element, *args, **kwargs)

    monkeypatch.setattr(Connection, "_execute_clauseelement", spy)
    reserved = _reserve(client, customer, new_key())
    assert reserved.status_code == 201, reserved.text
    order = client.post(
        "/api/v1/orders",
        json=order_request(reserved.json()["reservationId"]),
        headers={**customer, "Idempotency-Key": new_key()},
    )
    assert order.status_code == 201, order.text
    assert client.get(f"/api/v1/orders/{order.json()['orderId']}", headers=customer).status_code == 200
    assert through_sqlalchemy == []


def test_a_reservation_dying_between_its_settling_and_its_answer_is_answered_by_the_retry(
    client: Client, customer: dict[str, str], spy: SpyGateway, core: App, clock: FixedClock, monkeypatch: Any
) -> None:
    """The last boundary of a reservation: settled, the request about to answer. On PostgreSQL
    the settling and the stored answer are one statement, outside a transaction
    (``mark_final(outcome=…)``): the retry is answered at once with that answer. On SQLite both
    were one transaction and die together: the retry, once the claim counts as abandoned,
    answers with the one confirmed hold. Either way, one charge."""

    def die(call: SqlCall, answer: StoredAnswer | None) -> None:
        # The process dies here: its connection closes (an open transaction rolls back), the
        # answer is never stored, nothing after runs. (Raised through the test client, a Crash
        # would take its event loop with it: the answer the client gets here is never stored.)
        parked, call._parked = call._parked, None
        assert parked is not None
        parked[0].invalidate()

    key = new_key()
    with monkeypatch.context() as patched:
        patched.setattr(SqlCall, "_commit_parked", die)
        _reserve(client, customer, key)
    postgres = core.settings.effective_database_url.startswith("postgresql")
    with core.ctx.uow() as uow:
        held = uow.reservations.active_for_vehicle("veh_abc123")
    assert held is not None
    assert held.status is (ReservationStatus.CONFIRMED if postgres else ReservationStatus.PENDING_DEPOSIT)
    in_flight = _reserve(client, customer, key)
    if postgres:
        assert in_flight.status_code == 201, in_flight.text
        assert in_flight.headers["idempotent-replayed"] == "true"
        retried = in_flight
    else:
        assert (in_flight.status_code, in_flight.json()["code"]) == (409, "idempotency_in_progress")
        clock.advance(ABANDONED_AFTER + timedelta(seconds=1))
        retried = _reserve(client, customer, key)
    assert retried.status_code == 201, retried.text
    assert (retried.json()["reservationId"], retried.json()["status"]) == (held.id, "confirmed")
    assert spy.charges == 1
    replay = _reserve(client, customer, key)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == retried.content
    assert audit_ledger(core.ctx, SYSTEM).is_clean


def test_a_reservation_settled_by_someone_else_first_stores_what_was_decided(
    client: Client, customer: dict[str, str], spy: SpyGateway, core: App
) -> None:
    """The request announced its answer with its settling (``mark_final(outcome=…)``), but a
    webhook settled the deposit between the charge and that statement: on PostgreSQL the
    statement's row checks fail it whole — neither the settling nor the announced answer is
    written —, the use case finds the hold settled, and what is stored and replayed is that
    answer. One charge, one DepositPaid, a clean ledger."""
    charge = spy.charge

    def charge_then_webhook(**kwargs: Any) -> Any:
        made = charge(**kwargs)
        metadata = kwargs["metadata"]

        def settle() -> None:  # another thread: the webhook, outside this request
            with core.ctx.uow() as uow:
                held = uow.reservations.get(metadata["reservation_id"])
                deposit = uow.ledger.get_payment(metadata["ledger_id"])
                assert held is not None and deposit is not None
                apply_deposit_outcome(core.ctx, uow, held, deposit, made)
                uow.commit()

        webhook = threading.Thread(target=settle)
        webhook.start()
        webhook.join(timeout=10)
        return made

    spy.charge = charge_then_webhook  # type: ignore[method-assign]  # the webhook rides on the charge
    key = new_key()
    answered = _reserve(client, customer, key)
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "confirmed"
    replay = _reserve(client, customer, key)
    assert (replay.status_code, replay.content) == (201, answered.content)
    assert replay.headers["idempotent-replayed"] == "true"
    [record] = _stored(core)
    assert (record["status_code"], bytes(record["body"])) == (201, answered.content)
    with core.ctx.uow() as uow:
        events = [e.name for e in uow.outbox.for_aggregate(answered.json()["reservationId"])]
    assert events.count("DepositPaid") == 1
    assert spy.charges == 1
    assert audit_ledger(core.ctx, SYSTEM).is_clean


def test_an_answer_that_cannot_be_made_early_does_not_hold_up_the_settling(
    client: Client, customer: dict[str, str], spy: SpyGateway, core: App, monkeypatch: Any
) -> None:
    """The answer a reservation announces is rendered before its settling is written (to go in
    the same statement): if that fails, the settling is written anyway — the charge is never left
    unrecorded for a presentation error — and the answer is stored after it as usual."""

    def broken(call: SqlCall, outcome: object) -> Any:
        raise RuntimeError("cannot render")

    monkeypatch.setattr(SqlCall, "early_answer", broken)
    key = new_key()
    answered = _reserve(client, customer, key)
    assert answered.status_code == 201, answered.text
    with core.ctx.uow() as uow:
        held = uow.reservations.get(answered.json()["reservationId"])
    assert held is not None and held.status is ReservationStatus.CONFIRMED
    replay = _reserve(client, customer, key)
    assert (replay.status_code, replay.content) == (201, answered.content)
    assert spy.charges == 1


def test_a_hold_refused_by_its_own_insert_after_a_take_over_is_a_409(
    client: Client, customer: dict[str, str], core: App, clock: FixedClock, spy: SpyGateway
) -> None:
    """Damaged data — a live hold on a car marked available — met by a retry that takes its key
    over (so its claim and hold go in a transaction, not alone): the hold's INSERT is refused by
    the one-live-hold index, and the request answers 409 ``vehicle_unavailable`` (not a 500 from
    reading on in the aborted transaction); nothing is written or charged."""
    other = {**RESERVE, "vehicleId": "veh_demo001"}
    engine = make_engine(core.settings.effective_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                tables.reservations.insert().values(
                    mapping.to_row(
                        attrs.evolve(
                            Reservation.start(
                                id="res_damaged",
                                vehicle_id="veh_demo001",
                                customer_id="cus_someone",
                                deposit=core.ctx.policy.deposit,
                                hold_hours=72,
                                now=clock.now(),
                            ),
                            pending_events=[],
                        )
                    )
                )
            )
    finally:
        engine.dispose()
    key = new_key()
    scope = "cus_demo POST /api/v1/reservations"
    digest = hashlib.sha256(key.encode()).hexdigest()
    body_hash = request_hash(json.dumps(other).encode(), "application/json")
    assert core.idempotency.claim(scope=scope, key=digest, request_hash=body_hash, now=clock.now()) is None
    clock.advance(ABANDONED_AFTER + timedelta(seconds=1))
    refused = _reserve(client, customer, key, other)
    assert (refused.status_code, refused.json()["code"]) == (409, "vehicle_unavailable"), refused.text
    with core.ctx.uow() as uow:
        car = uow.vehicles.get("veh_demo001")
        assert car is not None and car.status is VehicleStatus.AVAILABLE
        assert uow.reservations.list(customer_id="cus_demo") == []
    assert spy.charges == 0
