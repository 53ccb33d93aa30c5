"""HTTP fixtures: the in-memory app with the demo data behind Litestar's test client, tokens,
and the spec's requests."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import JwtTokens
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import App
from entrypoints.http.app import create_app

ADDRESS = {"street": "123 Main St", "city": "Toronto", "province": "ON", "postalCode": "M5V 2T6"}

#: The spec's POST /api/v1/orders request, verbatim (reservationId filled in per test).
SPEC_ORDER_REQUEST: dict[str, Any] = {
    "reservationId": "res_xyz789",
    "vehicleId": "veh_abc123",
    "contactInfo": {
        "firstName": "John",
        "lastName": "Doe",
        "email": "john@example.com",
        "phone": "416-555-1234",
        "address": dict(ADDRESS),
    },
    "tradeIn": {"tradeInId": "trade_123", "creditAmount": 800000},
    "payment": {"method": "finance", "financingApplicationId": "app_xyz789", "downPayment": 250000},
    "delivery": {"method": "delivery", "address": dict(ADDRESS), "preferredDate": "2025-12-28"},
}

SPEC_PRICING = {
    "vehiclePrice": 2499900,
    "tradeInCredit": -800000,
    "adminFee": 49900,
    "documentationFee": 15000,
    "subtotal": 1764800,
    "taxRate": 0.13,
    "taxAmount": 229424,
    "totalDue": 1994224,
}

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

_key_counter = iter(range(1, 1_000_000))


def new_key() -> str:
    """A fresh Idempotency-Key."""
    return f"test-key-{next(_key_counter)}"


def order_request(reservation_id: str, **changes: Any) -> dict[str, Any]:
    """The spec's order request for ``reservation_id``."""
    body = copy.deepcopy(SPEC_ORDER_REQUEST)
    body["reservationId"] = reservation_id
    body.update(changes)
    return body


def path_of(url: str) -> str:
    """The path of an absolute URL (the signing link points at the public URL)."""
    return urlsplit(url).path


@pytest.fixture
def core(memory_app: App) -> App:
    """The whole core in memory with the demo data (clock at the spec's reservation time)."""
    return memory_app


@pytest.fixture
def asgi(core: App) -> Litestar:
    """The HTTP app."""
    return create_app(core)


@pytest.fixture
def client(asgi: Litestar) -> Iterator[TestClient[Litestar]]:
    """Litestar's test client (exceptions become responses, as in production)."""
    with TestClient(asgi, raise_server_exceptions=False) as test_client:
        yield test_client


Bearer = Callable[..., dict[str, str]]


@pytest.fixture
def bearer(core: App) -> Bearer:
    """``bearer("cus_demo")`` → an Authorization header (real time: tokens expire by the wall clock)."""
    tokens = JwtTokens(core.jwt_secret)

    def make(subject: str = "cus_demo", role: Role = Role.CUSTOMER) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens.issue(subject, role, now=datetime.now(UTC))}"}

    return make


@pytest.fixture
def customer(bearer: Bearer) -> dict[str, str]:
    """The demo customer's Authorization header."""
    return bearer("cus_demo")


@pytest.fixture
def advisor(bearer: Bearer) -> dict[str, str]:
    """Sarah the advisor's Authorization header."""
    return bearer("adv_sarah", Role.ADVISOR)


@pytest.fixture
def stranger(bearer: Bearer) -> dict[str, str]:
    """Another customer's Authorization header."""
    return bearer("cus_other")


def reserve(client: TestClient[Litestar], headers: dict[str, str], vehicle: str = "veh_abc123") -> dict[str, Any]:
    """Reserve ``vehicle`` with tok_visa; the 201 body."""
    response = client.post(
        "/api/v1/reservations",
        json={"vehicleId": vehicle, "paymentMethod": {"type": "card", "token": "tok_visa"}},
        headers={**headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def place_spec_order(client: TestClient[Litestar], headers: dict[str, str]) -> dict[str, Any]:
    """Reserve the Civic and place the spec's order; the 201 body."""
    reservation = reserve(client, headers)
    response = client.post(
        "/api/v1/orders",
        json=order_request(reservation["reservationId"]),
        headers={**headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def placed_order(client: TestClient[Litestar], customer: dict[str, str]) -> dict[str, Any]:
    """The spec's order, placed by cus_demo."""
    return place_spec_order(client, customer)


def sign_order(client: TestClient[Litestar], headers: dict[str, str], order_id: str) -> None:
    """Start signing and complete it on the signing page as John Doe."""
    link = client.post(f"/api/v1/orders/{order_id}/documents/sign", headers=headers)
    assert link.status_code == 200, link.text
    page = path_of(link.json()["signatureUrl"])
    envelope = page.rsplit("/", 1)[1]
    done = client.post(page, data={"consent": "yes", "typedName": "John Doe", "csrfToken": envelope})
    assert done.status_code == 200, done.text
