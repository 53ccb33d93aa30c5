"""The HTTP baseline: a bare Litestar app that runs only the SQL each use case cannot avoid.

It serves the same three routes as the API under test, on a database with the same schema and
the same seed, under the same uvicorn settings, so the benchmark can print every figure of the
real server as a ratio to this one. What it leaves out is exactly what the real server adds:
token verification, the card guard, ``Idempotency-Key`` records, the payment gateway, the
domain model, the outbox, pricing and the agreement PDF.

* ``POST /api/v1/reservations`` — one transaction: the conditional ``UPDATE vehicles … WHERE
  status = 'available'`` (0 rows → 409), ``INSERT reservations``, ``INSERT payments``.
* ``POST /api/v1/orders`` — one transaction: the reservation joined with its car ``FOR UPDATE``,
  the order-number counter (``INSERT … ON CONFLICT DO UPDATE … RETURNING``), ``INSERT orders``,
  ``UPDATE reservations``, ``UPDATE vehicles``.
* ``GET /api/v1/orders/{id}`` — one ``SELECT`` by id.

The caller is read from the bearer token's payload *without* verifying it (a baseline, never a
server to expose). Run with ``uvicorn bench.baseline_app:create_from_env --factory`` and
``BENCH_BASELINE_DATABASE_URL``."""

from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar, Request, Response, get, post
from sqlalchemy import Engine, text

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


def create_app(engine: Engine) -> Litestar:
    """The baseline around ``engine`` (PostgreSQL, migrated, seeded like the real one)."""

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @post("/api/v1/reservations", sync_to_thread=True)
    def reserve(request: Request[Any, Any, Any], data: dict[str, Any]) -> Response[dict[str, Any]]:
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
    def place(request: Request[Any, Any, Any], data: dict[str, Any]) -> Response[dict[str, Any]]:
        customer = _caller(request)
        if customer is None:
            return _problem(401, "unauthorized")
        reservation = str(data.get("reservationId", ""))
        now = datetime.now(UTC)
        order = _new_id("ord")
        with engine.begin() as connection:
            row = connection.execute(_LOCK_RESERVATION, {"id": reservation}).first()
            if row is None or row.customer_id != customer:
                return _problem(404, "not_found")
            if row.status != "confirmed":
                return _problem(409, "reservation_not_usable")
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
    def read(request: Request[Any, Any, Any], order_id: str) -> Response[dict[str, Any]]:
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
    SQL adapter's ``make_engine`` exactly as the real server's (pool, pre-ping, isolation)."""
    return create_app(make_engine(os.environ["BENCH_BASELINE_DATABASE_URL"]))
