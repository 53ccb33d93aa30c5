"""The HTTP baselines: bare Litestar apps that run SQL and nothing else.

They serve the same three routes as the API under test, on a database with the same schema and
the same seed, under the same uvicorn settings, so the benchmark can print every figure of the
real server as a ratio to theirs. What they leave out is what the real server adds in Python:
token verification, the card guard, the payment gateway, the domain model, pricing and the
agreement PDF. Two modes (``BENCH_BASELINE_MODE``):

``required`` — **the minimal correct design**: the guarantees the specification and
``design.md`` demand, in the fewest transactions and statements a hand-written Litestar + SQL
app on PostgreSQL needs (data-modifying CTEs put several writes in one statement; a statement on
its own is atomic, so a single-statement transaction runs in autocommit, without ``BEGIN`` and
``COMMIT`` round trips). It does *not* copy the app's own split of the work. The guarantees:

* idempotent POSTs: the ``Idempotency-Key`` is claimed in the same statement as the work it
  guards (a replay never claims a car twice), the first answer — 4xx included — is stored and
  replayed, the same key with another body is 422, a key still in flight is 409;
* exactly one winner per car: the conditional ``UPDATE vehicles … WHERE status = 'available'``
  (PostgreSQL re-checks the condition after waiting for a rival's row lock), backed by the
  schema's unique partial index on active reservations;
* the deposit's intent is committed before the charge (the gateway is never called inside a
  transaction), and the charge's outcome is recorded after it;
* the outbox holds the spec's events in the transaction of the state change they describe.

Per request:

* ``POST /api/v1/reservations`` — **2 statements in 2 transactions.** Transaction 1, one
  statement: claim the key; count the customer's active holds (design: cap per customer);
  claim the car; ``INSERT`` the reservation and its payment, both pending (the money rule:
  the intent before the charge); the outbox (``VehicleReservationInitiated``). The charge
  happens between the transactions. Transaction 2, one statement (autocommit): the
  reservation and the payment settled, the outbox (``DepositPaid``, ``ReservationConfirmed``),
  the response stored under the key. A request that loses the car (409) stores its answer
  instead, in transaction 1: 2 statements, 1 transaction.
* ``POST /api/v1/orders`` — **2 statements in 1 transaction.** One statement: claim the key;
  convert the reservation (conditional: confirmed, unexpired, the caller's, for that car — the
  claim that makes an order once per reservation); the car sale-pending; the least-loaded
  advisor (spec: ``AdvisorAssigned``); the order-number counter; ``INSERT orders``; the deposit
  linked to the order (design: it counts toward the order); the outbox (``AdvisorAssigned``,
  ``PurchaseAgreementGenerated`` — the agreement itself is rendered elsewhere, as the app's
  worker does). Then the response stored under the key: a second statement, because PostgreSQL
  does not let one statement update a row that a sibling CTE inserted.
* ``GET /api/v1/orders/{id}`` — **1 statement** (autocommit): the caller's order joined with its
  car (spec: ``vehicle``) and advisor (spec: ``advisor``), its events aggregated as the
  ``timeline`` in a subquery (what was paid is kept on the order row, as the app keeps it).

``bare`` — only the state change itself, as a floor: reservations are one transaction (claim the
car, ``INSERT reservations``, ``INSERT payments``), orders one (the reservation ``FOR UPDATE``,
the number, ``INSERT orders``, ``UPDATE reservations``, ``UPDATE vehicles``), reads one
``SELECT``; no idempotency, no outbox, no saga.

The caller is read from the bearer token's payload *without* verifying it (a baseline, never a
server to expose), and no gateway is called. Run with ``uvicorn
bench.baseline_app:create_from_env --factory``, ``BENCH_BASELINE_DATABASE_URL`` and
``BENCH_BASELINE_MODE`` (``required``, the default, or ``bare``)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import Connection, Engine, Row, text

from adapters.sql.engine import make_engine

_PROBLEM = "application/problem+json"


def _caller(request: Request[Any, Any, Any]) -> str | None:
    """The token's ``sub`` claim, unverified (see the module docstring)."""
    header = request.headers.get("authorization", "")
    try:
        payload = header.removeprefix("Bearer ").split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) else None


def _problem(status: int, code: str) -> Response[dict[str, Any]]:
    return Response({"status": status, "code": code}, status_code=status, media_type=_PROBLEM)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


_CLAIM = text("UPDATE vehicles SET status = 'reserved' WHERE id = :vehicle AND status = 'available'")
_INSERT_RESERVATION = text(
    "INSERT INTO reservations (id, vehicle_id, customer_id, status, deposit_cents, currency, hold_hours,"
    " created_at, expires_at, charge_id, order_id, updated_at)"
    " VALUES (:id, :vehicle, :customer, 'confirmed', 10000, 'CAD', 72, :now, :expires, :charge, NULL, :now)"
)
_INSERT_PAYMENT = text(
    "INSERT INTO payments (id, purpose, method, amount_cents, refunded_cents, currency, status, idempotency_key,"
    " reservation_id, order_id, gateway_ref, failure_code, card_brand, card_last4, created_at, updated_at)"
    " VALUES (:id, 'deposit', 'card', 10000, 0, 'CAD', 'succeeded', :key, :reservation, NULL, :charge, NULL,"
    " 'visa', '4242', :now, :now)"
)
_LOCK_RESERVATION = text(
    "SELECT r.customer_id, r.status, r.vehicle_id, v.price_cents FROM reservations r"
    " JOIN vehicles v ON v.id = r.vehicle_id WHERE r.id = :id FOR UPDATE OF r"
)
_NEXT_NUMBER = text(
    "INSERT INTO order_numbers (year, last_value) VALUES (:year, 10001)"
    " ON CONFLICT (year) DO UPDATE SET last_value = order_numbers.last_value + 1 RETURNING last_value"
)
_INSERT_ORDER = text(
    "INSERT INTO orders (id, number, status, vehicle_id, customer_id, reservation_id, advisor_id, contact, pricing,"
    " payment_plan, trade_in, delivery, documents, insurance, envelope, paid_cents, refunded_cents, currency,"
    " created_at, updated_at, delivered_at, completed_at, closed_reason, version)"
    " VALUES (:id, :number, 'pending_documents', :vehicle, :customer, :reservation, 'adv_sarah',"
    " CAST(:contact AS JSONB), CAST(:pricing AS JSONB), CAST(:plan AS JSONB), NULL, CAST(:delivery AS JSONB),"
    " CAST('[]' AS JSONB), NULL, NULL, 10000, 0, 'CAD', :now, :now, NULL, NULL, NULL, 1)"
)
_CONVERT = text("UPDATE reservations SET status = 'converted', order_id = :order, updated_at = :now WHERE id = :id")
_SALE_PENDING = text("UPDATE vehicles SET status = 'sale_pending' WHERE id = :vehicle")
_READ_ORDER = text("SELECT * FROM orders WHERE id = :id")


def _usable_reservation(connection: Connection, reservation: str, customer: str) -> Row[Any] | Response[Any]:
    """The caller's confirmed reservation joined with its car, locked; else the problem to answer."""
    row = connection.execute(_LOCK_RESERVATION, {"id": reservation}).first()
    if row is None or row.customer_id != customer:
        return _problem(404, "not_found")
    if row.status != "confirmed":
        return _problem(409, "reservation_not_usable")
    return row


# -- "required": the minimal correct design (see the module docstring) -------------------------

# Every POST starts with the key's claim, a CTE of the statement doing the work, so that a replay
# (a conflict: no row) leaves every other CTE of that statement without input.
_RESERVE = text(
    "WITH key AS (INSERT INTO idempotency_keys (scope, key, request_hash, created_at, status_code, body,"
    " content_type) VALUES (:scope, :key, :hash, :now, NULL, ''::bytea, 'application/json')"
    " ON CONFLICT DO NOTHING RETURNING 1)"
    ", active AS (SELECT count(*) AS n FROM reservations WHERE customer_id = :customer"
    "   AND (status = 'pending_deposit' OR (status = 'confirmed' AND expires_at > :now)))"
    ", car AS (UPDATE vehicles SET status = 'reserved' WHERE id = :vehicle AND status = 'available'"
    "   AND EXISTS (SELECT FROM key) AND (SELECT n FROM active) < :cap RETURNING id)"
    ", res AS (INSERT INTO reservations (id, vehicle_id, customer_id, status, deposit_cents, currency, hold_hours,"
    "   created_at, expires_at, charge_id, order_id, updated_at)"
    "   SELECT :reservation, id, :customer, 'pending_deposit', 10000, 'CAD', 72, :now, NULL, NULL, NULL, :now"
    "   FROM car RETURNING id)"
    ", pay AS (INSERT INTO payments (id, purpose, method, amount_cents, refunded_cents, currency, status,"
    "   idempotency_key, reservation_id, order_id, gateway_ref, failure_code, card_brand, card_last4, created_at,"
    "   updated_at) SELECT :payment, 'deposit', 'card', 10000, 0, 'CAD', 'pending', :deposit_key, id, NULL, NULL,"
    "   NULL, NULL, NULL, :now, :now FROM res RETURNING id)"
    ", evt AS (INSERT INTO outbox (id, aggregate_id, name, payload, occurred_at, published_at)"
    "   SELECT :event, id, 'VehicleReservationInitiated', CAST(:initiated AS JSONB), :now, NULL FROM res)"
    " SELECT (SELECT count(*) FROM key) AS claimed, (SELECT count(*) FROM car) AS reserved,"
    " (SELECT n FROM active) AS active"
)
_SETTLE = text(
    "WITH res AS (UPDATE reservations SET status = 'confirmed', expires_at = :expires, charge_id = :charge,"
    "   updated_at = :now WHERE id = :reservation AND status = 'pending_deposit' RETURNING id)"
    ", pay AS (UPDATE payments SET status = 'succeeded', gateway_ref = :charge, card_brand = 'visa',"
    "   card_last4 = '4242', updated_at = :now WHERE id = :payment AND status = 'pending')"
    ", evt AS (INSERT INTO outbox (id, aggregate_id, name, payload, occurred_at, published_at)"
    "   SELECT e.id, res.id, e.name, CAST(e.payload AS JSONB), :now, NULL FROM res,"
    "   (VALUES (:paid_event, 'DepositPaid', :paid, 1), (:confirmed_event, 'ReservationConfirmed', :confirmed, 2))"
    "   AS e (id, name, payload, n) ORDER BY e.n)"
    " UPDATE idempotency_keys SET status_code = :status, body = :body WHERE scope = :scope AND key = :key"
)
_PLACE = text(
    "WITH key AS (INSERT INTO idempotency_keys (scope, key, request_hash, created_at, status_code, body,"
    " content_type) VALUES (:scope, :key, :hash, :now, NULL, ''::bytea, 'application/json')"
    " ON CONFLICT DO NOTHING RETURNING 1)"
    ", conv AS (UPDATE reservations SET status = 'converted', order_id = :order, updated_at = :now"
    "   WHERE id = :reservation AND customer_id = :customer AND vehicle_id = :vehicle AND status = 'confirmed'"
    "   AND expires_at > :now AND EXISTS (SELECT FROM key) RETURNING vehicle_id, deposit_cents)"
    ", car AS (UPDATE vehicles SET status = 'sale_pending' WHERE id = (SELECT vehicle_id FROM conv)"
    "   RETURNING id, price_cents)"
    ", adv AS (SELECT a.id FROM advisors a LEFT JOIN orders o ON o.advisor_id = a.id AND o.status IN"
    "   ('pending_documents', 'pending_insurance', 'pending_payment', 'pending_delivery', 'in_transit', 'delivered')"
    "   WHERE a.active AND EXISTS (SELECT FROM conv) GROUP BY a.id ORDER BY count(o.id), a.id LIMIT 1)"
    ", num AS (INSERT INTO order_numbers (year, last_value) SELECT :year, 10001 FROM conv"
    "   ON CONFLICT (year) DO UPDATE SET last_value = order_numbers.last_value + 1 RETURNING last_value)"
    ", ord AS (INSERT INTO orders (id, number, status, vehicle_id, customer_id, reservation_id, advisor_id, contact,"
    "   pricing, payment_plan, trade_in, delivery, documents, insurance, envelope, paid_cents, refunded_cents,"
    "   currency, created_at, updated_at, delivered_at, completed_at, closed_reason, version)"
    "   SELECT :order, 'CLT-' || :year || '-' || lpad(num.last_value::text, 5, '0'), 'pending_documents', car.id,"
    "   :customer, :reservation, adv.id, CAST(:contact AS JSONB), jsonb_build_object('vehiclePrice', car.price_cents),"
    "   CAST(:plan AS JSONB), NULL, CAST(:delivery AS JSONB), CAST('[]' AS JSONB), NULL, NULL, conv.deposit_cents, 0,"
    "   'CAD', :now, :now, NULL, NULL, NULL, 1 FROM conv, car, num, adv RETURNING number, advisor_id)"
    ", dep AS (UPDATE payments SET order_id = :order, updated_at = :now WHERE idempotency_key = :deposit_key"
    "   AND EXISTS (SELECT FROM conv))"
    ", evt AS (INSERT INTO outbox (id, aggregate_id, name, payload, occurred_at)"
    "   SELECT :assigned_event, :order, 'AdvisorAssigned',"
    "   jsonb_build_object('orderId', CAST(:order AS TEXT), 'advisorId', ord.advisor_id), :now FROM ord"
    "   UNION ALL SELECT :agreement_event, :order, 'PurchaseAgreementGenerated',"
    "   jsonb_build_object('orderId', CAST(:order AS TEXT)), :now FROM ord)"
    " SELECT (SELECT count(*) FROM key) AS claimed, ord.number, ord.advisor_id FROM (SELECT 1) AS one"
    " LEFT JOIN ord ON true"
)
_STORE = text("UPDATE idempotency_keys SET status_code = :status, body = :body WHERE scope = :scope AND key = :key")
_STORED = text("SELECT request_hash, status_code, body FROM idempotency_keys WHERE scope = :scope AND key = :key")
_WHY_NOT_USABLE = text("SELECT customer_id, status FROM reservations WHERE id = :id")
_READ_ORDER_VIEW = text(
    "SELECT o.*, v.make, v.model, v.year, a.name AS advisor_name, a.email AS advisor_email,"
    " a.phone AS advisor_phone, (SELECT coalesce(jsonb_agg(jsonb_build_object('name', e.name, 'payload', e.payload,"
    " 'occurredAt', e.occurred_at) ORDER BY e.seq), '[]') FROM outbox e WHERE e.aggregate_id = o.id) AS timeline"
    " FROM orders o JOIN vehicles v ON v.id = o.vehicle_id LEFT JOIN advisors a ON a.id = o.advisor_id"
    " WHERE o.id = :id AND o.customer_id = :customer"
)

#: The per-customer cap on active holds (the app's default policy).
MAX_ACTIVE_RESERVATIONS = 1


@attrs.frozen
class _Key:
    """A POST's ``Idempotency-Key`` as stored: its scope, the key's digest, the body's digest."""

    scope: str
    key: str
    hash: str

    def params(self, now: datetime) -> dict[str, Any]:
        """The bind parameters of the key's claim."""
        return {"scope": self.scope, "key": self.key, "hash": self.hash, "now": now}

    def store(self, response: Response[Any]) -> dict[str, Any]:
        """The bind parameters that store ``response`` under the key."""
        body = json.dumps(response.content).encode()
        return {"scope": self.scope, "key": self.key, "status": response.status_code, "body": body}


def _key(request: Request[Any, Any, Any], customer: str, data: dict[str, Any]) -> _Key | None:
    header = request.headers.get("idempotency-key")
    if not header:
        return None
    body = json.dumps(data, sort_keys=True).encode()
    return _Key(
        f"{customer}:POST:{request.url.path}",
        hashlib.sha256(header.encode()).hexdigest(),
        hashlib.sha256(body).hexdigest(),
    )


def _replay(connection: Connection, key: _Key) -> Response[Any]:
    """The answer to a key claimed before: its stored response; 422 for another body; 409 while
    the first request is still running (or committed after this statement's snapshot)."""
    row = connection.execute(_STORED, {"scope": key.scope, "key": key.key}).first()
    if row is not None and row.request_hash != key.hash:
        return _problem(422, "idempotency_key_reused")
    if row is None or row.status_code is None:
        return _problem(409, "idempotency_in_progress")
    return Response(json.loads(bytes(row.body)), status_code=row.status_code)


def no_charge(_deposit_key: str) -> str:
    """The baseline's stand-in for the gateway: no call, a fresh charge id."""
    return _new_id("pi")


def create_required_app(engine: Engine, charge: Callable[[str], str] = no_charge) -> Litestar:
    """The ``required`` baseline around ``engine`` (see the module docstring). ``charge`` is
    called between the reservation's two transactions with the deposit's idempotency key and
    returns the charge id (a test looks at the database from there)."""
    # One statement is atomic on its own: no BEGIN/COMMIT round trips for it.
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @post("/api/v1/reservations", sync_to_thread=True)
    def reserve(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> Response[Any]:
        customer = _caller(request)
        if customer is None:
            return _problem(401, "unauthorized")
        key = _key(request, customer, data)
        if key is None:
            return _problem(400, "idempotency_key_required")
        vehicle = str(data.get("vehicleId", ""))
        now = datetime.now(UTC)
        reservation, payment = _new_id("res"), _new_id("pay")
        initiated = {"reservationId": reservation, "vehicleId": vehicle, "userId": customer}
        with engine.begin() as connection:  # transaction 1: the claim and the deposit's intent
            row = connection.execute(
                _RESERVE,
                {
                    **key.params(now),
                    "customer": customer,
                    "vehicle": vehicle,
                    "cap": MAX_ACTIVE_RESERVATIONS,
                    "reservation": reservation,
                    "payment": payment,
                    "deposit_key": f"{reservation}:deposit",
                    "event": _new_id("evt"),
                    "initiated": json.dumps(initiated),
                },
            ).one()
            if not row.claimed:
                return _replay(connection, key)
            if not row.reserved:
                refused = (
                    _problem(409, "reservation_limit_reached")
                    if row.active >= MAX_ACTIVE_RESERVATIONS
                    else _problem(409, "vehicle_unavailable")
                )
                connection.execute(_STORE, key.store(refused))
                return refused
        # The deposit is charged outside any transaction, with a key derived from the reservation.
        charge_id = charge(f"{reservation}:deposit")
        expires = now + timedelta(hours=72)
        body = {"reservationId": reservation, "vehicleId": vehicle, "customerId": customer, "status": "confirmed"}
        response = Response(body, status_code=201)
        with autocommit.connect() as connection:  # transaction 2: the outcome, the events, the answer
            connection.execute(
                _SETTLE,
                {
                    **key.store(response),
                    "reservation": reservation,
                    "payment": payment,
                    "charge": charge_id,
                    "expires": expires,
                    "now": now,
                    "paid_event": _new_id("evt"),
                    "paid": json.dumps({"reservationId": reservation, "amount": 10000}),
                    "confirmed_event": _new_id("evt"),
                    "confirmed": json.dumps(
                        {"reservationId": reservation, "vehicleId": vehicle, "expiresAt": expires.isoformat()}
                    ),
                },
            )
        return response

    @post("/api/v1/orders", sync_to_thread=True)
    def place(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> Response[Any]:
        customer = _caller(request)
        if customer is None:
            return _problem(401, "unauthorized")
        key = _key(request, customer, data)
        if key is None:
            return _problem(400, "idempotency_key_required")
        reservation = str(data.get("reservationId", ""))
        now = datetime.now(UTC)
        order = _new_id("ord")
        with engine.begin() as connection:
            row = connection.execute(
                _PLACE,
                {
                    **key.params(now),
                    "customer": customer,
                    "reservation": reservation,
                    "vehicle": str(data.get("vehicleId", "")),
                    "order": order,
                    "year": now.year,
                    "contact": json.dumps(data.get("contactInfo", {})),
                    "plan": json.dumps(data.get("payment", {})),
                    "delivery": json.dumps(data.get("delivery", {})),
                    "deposit_key": f"{reservation}:deposit",
                    "assigned_event": _new_id("evt"),
                    "agreement_event": _new_id("evt"),
                },
            ).one()
            if not row.claimed:
                return _replay(connection, key)
            if row.number is None:
                # Rare path: say why the reservation could not be used (one more read).
                held = connection.execute(_WHY_NOT_USABLE, {"id": reservation}).first()
                if held is None or held.customer_id != customer:
                    response = _problem(404, "not_found")
                else:
                    response = _problem(409, "reservation_not_usable")
            else:
                body = {
                    "orderId": order,
                    "orderNumber": row.number,
                    "status": "pending_documents",
                    "reservationId": reservation,
                    "advisorId": row.advisor_id,
                }
                response = Response(body, status_code=201)
            connection.execute(_STORE, key.store(response))
        return response

    @get("/api/v1/orders/{order_id:str}", sync_to_thread=True)
    def read(request: Request[Any, Any, Any], order_id: FromPath[str]) -> Response[Any]:
        customer = _caller(request)
        if customer is None:
            return _problem(401, "unauthorized")
        with autocommit.connect() as connection:
            row = connection.execute(_READ_ORDER_VIEW, {"id": order_id, "customer": customer}).mappings().first()
        if row is None:
            return _problem(404, "not_found")
        return Response(dict(row))

    app = Litestar(route_handlers=[health, reserve, place, read], logging_config=None, debug=False)
    app.on_shutdown.append(engine.dispose)
    return app


def create_app(engine: Engine) -> Litestar:
    """The ``bare`` baseline around ``engine`` (PostgreSQL, migrated, seeded like the real one)."""

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @post("/api/v1/reservations", sync_to_thread=True)
    def reserve(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> Response[dict[str, Any]]:
        customer = _caller(request)
        if customer is None:
            return _problem(401, "unauthorized")
        vehicle = str(data.get("vehicleId", ""))
        now = datetime.now(UTC)
        reservation, payment, charge = _new_id("res"), _new_id("pay"), _new_id("pi")
        with engine.begin() as connection:
            if connection.execute(_CLAIM, {"vehicle": vehicle}).rowcount != 1:
                return _problem(409, "vehicle_unavailable")
            values = {"now": now, "vehicle": vehicle, "customer": customer, "charge": charge}
            connection.execute(_INSERT_RESERVATION, {**values, "id": reservation, "expires": now + timedelta(hours=72)})
            connection.execute(
                _INSERT_PAYMENT, {**values, "id": payment, "key": f"{reservation}:deposit", "reservation": reservation}
            )
        body = {"reservationId": reservation, "vehicleId": vehicle, "customerId": customer, "status": "confirmed"}
        return Response(body, status_code=201)

    @post("/api/v1/orders", sync_to_thread=True)
    def place(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> Response[dict[str, Any]]:
        customer = _caller(request)
        if customer is None:
            return _problem(401, "unauthorized")
        reservation = str(data.get("reservationId", ""))
        now = datetime.now(UTC)
        order = _new_id("ord")
        with engine.begin() as connection:
            row = _usable_reservation(connection, reservation, customer)
            if isinstance(row, Response):
                return row
            number = f"CLT-{now.year}-{connection.execute(_NEXT_NUMBER, {'year': now.year}).scalar_one():05d}"
            connection.execute(
                _INSERT_ORDER,
                {
                    "id": order,
                    "number": number,
                    "vehicle": row.vehicle_id,
                    "customer": customer,
                    "reservation": reservation,
                    "contact": json.dumps(data.get("contactInfo", {})),
                    "pricing": json.dumps({"vehiclePrice": row.price_cents}),
                    "plan": json.dumps(data.get("payment", {})),
                    "delivery": json.dumps(data.get("delivery", {})),
                    "now": now,
                },
            )
            connection.execute(_CONVERT, {"order": order, "now": now, "id": reservation})
            connection.execute(_SALE_PENDING, {"vehicle": row.vehicle_id})
        body = {"orderId": order, "orderNumber": number, "status": "pending_documents", "reservationId": reservation}
        return Response(body, status_code=201)

    @get("/api/v1/orders/{order_id:str}", sync_to_thread=True)
    def read(request: Request[Any, Any, Any], order_id: FromPath[str]) -> Response[dict[str, Any]]:
        customer = _caller(request)
        if customer is None:
            return _problem(401, "unauthorized")
        with engine.connect() as connection:
            row = connection.execute(_READ_ORDER, {"id": order_id}).mappings().first()
        if row is None or row["customer_id"] != customer:
            return _problem(404, "not_found")
        return Response(dict(row))

    app = Litestar(route_handlers=[health, reserve, place, read], logging_config=None, debug=False)
    app.on_shutdown.append(engine.dispose)
    return app


def create_from_env() -> Litestar:
    """The uvicorn factory: the engine from ``BENCH_BASELINE_DATABASE_URL``, configured by the
    SQL adapter's ``make_engine`` exactly as the real server's (pool, pre-ping, isolation), and
    the mode from ``BENCH_BASELINE_MODE``."""
    engine = make_engine(os.environ["BENCH_BASELINE_DATABASE_URL"])
    mode = os.environ.get("BENCH_BASELINE_MODE", "required")
    if mode == "bare":
        return create_app(engine)
    if mode == "required":
        return create_required_app(engine)
    raise ValueError(f"BENCH_BASELINE_MODE must be 'required' or 'bare', not {mode!r}")
