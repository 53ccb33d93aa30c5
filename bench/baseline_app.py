"""The HTTP baselines: bare Litestar apps that run SQL and nothing else.

They serve the same three routes as the API under test, on a database with the same schema and
the same seed, under the same uvicorn settings, so the benchmark can print every figure of the
real server as a ratio to theirs. What they leave out is what the real server adds in Python:
token verification, the card guard, the payment gateway, the domain model, pricing and the
agreement PDF. Two modes (``BENCH_BASELINE_MODE``):

``required`` — the SQL the use case cannot avoid (the least of it: where one statement can
serve two requirements, it does): every statement below is there because the
specification or ``design.md`` demands what it writes or reads, in the transactions the design
demands (the gateway is never called inside a transaction, so the reservation saga is two).

* ``POST /api/v1/reservations`` — the ``Idempotency-Key`` claim (design: every POST); then the
  customer's active holds (design: cap per customer), the conditional ``UPDATE vehicles … WHERE
  status = 'available'`` (0 rows → 409), ``INSERT reservations`` and ``INSERT payments`` (both
  pending), the outbox (spec: ``VehicleReservationInitiated``); after the charge, the reservation
  and the payment confirmed and the outbox (``DepositPaid``, ``ReservationConfirmed``); then the
  response stored under the key. 10 statements in 4 transactions.
* ``POST /api/v1/orders`` — the key's claim; then the reservation joined with its car ``FOR
  UPDATE``, the least-loaded advisor (spec: ``AdvisorAssigned``), the order-number counter,
  ``INSERT orders``, the deposit linked to the order (design: it counts toward the order), the
  reservation converted, the car sale-pending, the outbox (``AdvisorAssigned``,
  ``PurchaseAgreementGenerated``); then the response stored. 10 statements in 3 transactions.
* ``GET /api/v1/orders/{id}`` — the order joined with its car (spec: ``vehicle``) and advisor
  (spec: ``advisor``), then its events (spec: ``timeline``). 2 statements (what was paid is kept
  on the order row, as the app keeps it).

``bare`` — only the state change itself, as a floor: reservations are one transaction (claim the
car, ``INSERT reservations``, ``INSERT payments``), orders one (the reservation ``FOR UPDATE``,
the number, ``INSERT orders``, ``UPDATE reservations``, ``UPDATE vehicles``), reads one
``SELECT``.

The caller is read from the bearer token's payload *without* verifying it (a baseline, never a
server to expose). Run with ``uvicorn bench.baseline_app:create_from_env --factory``,
``BENCH_BASELINE_DATABASE_URL`` and ``BENCH_BASELINE_MODE`` (``required``, the default, or
``bare``)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

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


# -- "required": the statements the specification and the design make unavoidable -------------

_IDEMPOTENCY_CLAIM = text(
    "INSERT INTO idempotency_keys (scope, key, request_hash, created_at, status_code, body, content_type)"
    " VALUES (:scope, :key, :hash, :now, NULL, :empty, 'application/json') ON CONFLICT DO NOTHING"
)
_IDEMPOTENCY_READ = text("SELECT status_code, body FROM idempotency_keys WHERE scope = :scope AND key = :key")
_IDEMPOTENCY_STORE = text(
    "UPDATE idempotency_keys SET status_code = :status, body = :body WHERE scope = :scope AND key = :key"
)
_COUNT_ACTIVE = text(
    "SELECT count(*) FROM reservations WHERE customer_id = :customer AND (status = 'pending_deposit'"
    " OR (status = 'confirmed' AND (expires_at IS NULL OR expires_at > :now)))"
)
_INSERT_PENDING_RESERVATION = text(
    "INSERT INTO reservations (id, vehicle_id, customer_id, status, deposit_cents, currency, hold_hours,"
    " created_at, expires_at, charge_id, order_id, updated_at)"
    " VALUES (:id, :vehicle, :customer, 'pending_deposit', 10000, 'CAD', 72, :now, NULL, NULL, NULL, :now)"
)
_INSERT_PENDING_PAYMENT = text(
    "INSERT INTO payments (id, purpose, method, amount_cents, refunded_cents, currency, status, idempotency_key,"
    " reservation_id, order_id, gateway_ref, failure_code, card_brand, card_last4, created_at, updated_at)"
    " VALUES (:id, 'deposit', 'card', 10000, 0, 'CAD', 'pending', :key, :reservation, NULL, NULL, NULL,"
    " NULL, NULL, :now, :now)"
)
_CONFIRM_RESERVATION = text(
    "UPDATE reservations SET status = 'confirmed', expires_at = :expires, charge_id = :charge, updated_at = :now"
    " WHERE id = :id AND status = 'pending_deposit'"
)
_CONFIRM_PAYMENT = text(
    "UPDATE payments SET status = 'succeeded', gateway_ref = :charge, card_brand = 'visa', card_last4 = '4242',"
    " updated_at = :now WHERE id = :id AND status = 'pending'"
)
_OUTBOX = text(
    "INSERT INTO outbox (id, aggregate_id, name, payload, occurred_at, published_at)"
    " VALUES (:id, :aggregate, :name, CAST(:payload AS JSONB), :now, NULL)"
)
_LEAST_LOADED_ADVISOR = text(
    "SELECT a.id FROM advisors a LEFT JOIN orders o ON o.advisor_id = a.id AND o.status IN"
    " ('pending_documents', 'pending_insurance', 'pending_payment', 'pending_delivery', 'in_transit', 'delivered')"
    " WHERE a.active GROUP BY a.id ORDER BY count(o.id), a.id LIMIT 1"
)
_INSERT_ORDER_FOR = text(
    "INSERT INTO orders (id, number, status, vehicle_id, customer_id, reservation_id, advisor_id, contact, pricing,"
    " payment_plan, trade_in, delivery, documents, insurance, envelope, paid_cents, refunded_cents, currency,"
    " created_at, updated_at, delivered_at, completed_at, closed_reason, version)"
    " VALUES (:id, :number, 'pending_documents', :vehicle, :customer, :reservation, :advisor,"
    " CAST(:contact AS JSONB), CAST(:pricing AS JSONB), CAST(:plan AS JSONB), NULL, CAST(:delivery AS JSONB),"
    " CAST('[]' AS JSONB), NULL, NULL, 10000, 0, 'CAD', :now, :now, NULL, NULL, NULL, 1)"
)
_LINK_DEPOSIT = text("UPDATE payments SET order_id = :order, updated_at = :now WHERE idempotency_key = :key")
_READ_ORDER_VIEW = text(
    "SELECT o.*, v.make, v.model, v.year, a.name AS advisor_name, a.email AS advisor_email,"
    " a.phone AS advisor_phone FROM orders o JOIN vehicles v ON v.id = o.vehicle_id"
    " LEFT JOIN advisors a ON a.id = o.advisor_id WHERE o.id = :id"
)
_ORDER_EVENTS = text("SELECT * FROM outbox WHERE aggregate_id = :id ORDER BY seq")


def _usable_reservation(connection: Connection, reservation: str, customer: str) -> Row[Any] | Response[Any]:
    """The caller's confirmed reservation joined with its car, locked; else the problem to answer."""
    row = connection.execute(_LOCK_RESERVATION, {"id": reservation}).first()
    if row is None or row.customer_id != customer:
        return _problem(404, "not_found")
    if row.status != "confirmed":
        return _problem(409, "reservation_not_usable")
    return row


def _events(aggregate: str, now: datetime, *named: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Outbox rows for one multi-row INSERT."""
    return [
        {"id": _new_id("evt"), "aggregate": aggregate, "name": name, "payload": json.dumps(payload), "now": now}
        for name, payload in named
    ]


def _replayed(connection: Connection, scope: str, key: str) -> Response[Any]:
    """A key claimed before: its stored response, or 409 while the first request still runs."""
    row = connection.execute(_IDEMPOTENCY_READ, {"scope": scope, "key": key}).first()
    if row is None or row.status_code is None:
        return _problem(409, "idempotency_key_in_use")
    return Response(json.loads(bytes(row.body)), status_code=row.status_code)


def _idempotent(
    engine: Engine, request: Request[Any, Any, Any], customer: str, body: bytes, work: Callable[[], Response[Any]]
) -> Response[Any]:
    """Claim the request's ``Idempotency-Key`` (own transaction), do ``work``, store its response."""
    key = request.headers.get("idempotency-key")
    if not key:
        return _problem(400, "idempotency_key_required")
    scope = f"{customer}:{request.method}:{request.url.path}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    with engine.begin() as connection:
        claim = {"scope": scope, "key": digest, "hash": hashlib.sha256(body).hexdigest(), "now": datetime.now(UTC)}
        if connection.execute(_IDEMPOTENCY_CLAIM, {**claim, "empty": b""}).rowcount != 1:
            return _replayed(connection, scope, digest)
    response = work()
    with engine.begin() as connection:
        stored = {"status": response.status_code, "body": json.dumps(response.content).encode()}
        connection.execute(_IDEMPOTENCY_STORE, {**stored, "scope": scope, "key": digest})
    return response


def create_required_app(engine: Engine) -> Litestar:
    """The ``required`` baseline around ``engine`` (see the module docstring)."""

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    def reserve_work(customer: str, vehicle: str) -> Response[Any]:
        now = datetime.now(UTC)
        reservation, payment, charge = _new_id("res"), _new_id("pay"), _new_id("pi")
        with engine.begin() as connection:
            if connection.execute(_COUNT_ACTIVE, {"customer": customer, "now": now}).scalar_one() >= 1:
                return _problem(409, "reservation_limit_reached")
            if connection.execute(_CLAIM, {"vehicle": vehicle}).rowcount != 1:
                return _problem(409, "vehicle_unavailable")
            values = {"now": now, "vehicle": vehicle, "customer": customer}
            connection.execute(_INSERT_PENDING_RESERVATION, {**values, "id": reservation})
            connection.execute(
                _INSERT_PENDING_PAYMENT,
                {**values, "id": payment, "key": f"{reservation}:deposit", "reservation": reservation},
            )
            initiated = {"reservationId": reservation, "vehicleId": vehicle, "userId": customer}
            connection.execute(_OUTBOX, _events(reservation, now, ("VehicleReservationInitiated", initiated)))
        # (the deposit is charged here, outside any transaction)
        expires = now + timedelta(hours=72)
        with engine.begin() as connection:
            connection.execute(
                _CONFIRM_RESERVATION, {"id": reservation, "expires": expires, "charge": charge, "now": now}
            )
            connection.execute(_CONFIRM_PAYMENT, {"id": payment, "charge": charge, "now": now})
            confirmed = {"reservationId": reservation, "vehicleId": vehicle, "expiresAt": expires.isoformat()}
            paid = {"reservationId": reservation, "amount": 10000}
            connection.execute(
                _OUTBOX, _events(reservation, now, ("DepositPaid", paid), ("ReservationConfirmed", confirmed))
            )
        body = {"reservationId": reservation, "vehicleId": vehicle, "customerId": customer, "status": "confirmed"}
        return Response(body, status_code=201)

    @post("/api/v1/reservations", sync_to_thread=True)
    def reserve(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> Response[Any]:
        customer = _caller(request)
        if customer is None:
            return _problem(401, "unauthorized")
        vehicle = str(data.get("vehicleId", ""))
        return _idempotent(
            engine, request, customer, json.dumps(data).encode(), lambda: reserve_work(customer, vehicle)
        )

    def place_work(customer: str, data: JSONBody[dict[str, Any]]) -> Response[Any]:
        reservation = str(data.get("reservationId", ""))
        now = datetime.now(UTC)
        order = _new_id("ord")
        with engine.begin() as connection:
            row = _usable_reservation(connection, reservation, customer)
            if isinstance(row, Response):
                return row
            advisor = connection.execute(_LEAST_LOADED_ADVISOR).scalar_one()
            number = f"CLT-{now.year}-{connection.execute(_NEXT_NUMBER, {'year': now.year}).scalar_one():05d}"
            connection.execute(
                _INSERT_ORDER_FOR,
                {
                    "id": order,
                    "number": number,
                    "vehicle": row.vehicle_id,
                    "customer": customer,
                    "reservation": reservation,
                    "advisor": advisor,
                    "contact": json.dumps(data.get("contactInfo", {})),
                    "pricing": json.dumps({"vehiclePrice": row.price_cents}),
                    "plan": json.dumps(data.get("payment", {})),
                    "delivery": json.dumps(data.get("delivery", {})),
                    "now": now,
                },
            )
            connection.execute(_LINK_DEPOSIT, {"order": order, "now": now, "key": f"{reservation}:deposit"})
            connection.execute(_CONVERT, {"order": order, "now": now, "id": reservation})
            connection.execute(_SALE_PENDING, {"vehicle": row.vehicle_id})
            connection.execute(
                _OUTBOX,
                _events(
                    order,
                    now,
                    ("AdvisorAssigned", {"orderId": order, "advisorId": advisor}),
                    ("PurchaseAgreementGenerated", {"orderId": order, "agreementId": _new_id("doc")}),
                ),
            )
        body = {"orderId": order, "orderNumber": number, "status": "pending_documents", "reservationId": reservation}
        return Response(body, status_code=201)

    @post("/api/v1/orders", sync_to_thread=True)
    def place(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> Response[Any]:
        customer = _caller(request)
        if customer is None:
            return _problem(401, "unauthorized")
        return _idempotent(engine, request, customer, json.dumps(data).encode(), lambda: place_work(customer, data))

    @get("/api/v1/orders/{order_id:str}", sync_to_thread=True)
    def read(request: Request[Any, Any, Any], order_id: FromPath[str]) -> Response[Any]:
        customer = _caller(request)
        if customer is None:
            return _problem(401, "unauthorized")
        with engine.connect() as connection:
            row = connection.execute(_READ_ORDER_VIEW, {"id": order_id}).mappings().first()
            if row is None or row["customer_id"] != customer:
                return _problem(404, "not_found")
            events = connection.execute(_ORDER_EVENTS, {"id": order_id}).mappings().all()
        body = {**row, "timeline": [dict(e) for e in events]}
        return Response(body)

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
