"""Bearer tokens and who may reach what: 401 without a valid token, 404 for another
customer's things (never 403, so ids cannot be probed), 403 for advisor-only steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import JwtTokens
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import App
from tests.http.conftest import PDF, new_key, order_request, reserve

Client = TestClient[Litestar]

API_ROUTES = [
    ("GET", "/api/v1/reservations"),
    ("POST", "/api/v1/reservations"),
    ("GET", "/api/v1/reservations/res_000001"),
    ("DELETE", "/api/v1/reservations/res_000001"),
    ("GET", "/api/v1/orders"),
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/orders/ord_000001"),
    ("POST", "/api/v1/orders/ord_000001/cancel"),
    ("POST", "/api/v1/orders/ord_000001/documents/sign"),
    ("GET", "/api/v1/orders/ord_000001/documents"),
    ("GET", "/api/v1/orders/ord_000001/documents/audit"),
    ("GET", "/api/v1/orders/ord_000001/documents/doc_000001"),
    ("POST", "/api/v1/orders/ord_000001/insurance"),
    ("POST", "/api/v1/orders/ord_000001/insurance/verify"),
    ("POST", "/api/v1/orders/ord_000001/insurance/reject"),
    ("GET", "/api/v1/orders/ord_000001/payments/bank-transfer"),
    ("POST", "/api/v1/orders/ord_000001/payments/card"),
    ("POST", "/api/v1/payments/bank-transfers"),
    ("GET", "/api/v1/payments/reconciliation?since=2025-12-01&until=2025-12-31"),
    ("POST", "/api/v1/orders/ord_000001/delivery/schedule"),
    ("POST", "/api/v1/orders/ord_000001/delivery/dispatch"),
    ("POST", "/api/v1/orders/ord_000001/delivery/deliver"),
    ("POST", "/api/v1/orders/ord_000001/complete"),
    ("POST", "/api/v1/orders/ord_000001/return"),
]


def _bad_tokens(core: App) -> dict[str, str]:
    now = datetime.now(UTC)
    tokens = JwtTokens(core.jwt_secret)
    return {
        "garbage": "Bearer not-a-jwt",
        "wrong scheme": "Basic dXNlcjpwYXNz",
        "empty bearer": "Bearer ",
        "other secret": f"Bearer {JwtTokens('another-secret-' + 'y' * 32).issue('cus_demo', Role.CUSTOMER, now=now)}",
        "expired": f"Bearer {tokens.issue('cus_demo', Role.CUSTOMER, now=now - timedelta(days=2))}",
        "alg none": "Bearer "
        + jwt.encode(
            {"sub": "cus_demo", "role": "advisor", "iss": "checkout", "aud": "checkout-api"}, key="", algorithm="none"
        ),
    }


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_every_api_route_needs_a_token(client: Client, method: str, path: str) -> None:
    response = client.request(method, path, headers={"Idempotency-Key": new_key()})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "unauthorized"


def test_bad_tokens_are_401(client: Client, core: App) -> None:
    for name, value in _bad_tokens(core).items():
        response = client.get("/api/v1/orders", headers={"Authorization": value})
        assert response.status_code == 401, name
        assert response.json()["code"] == "unauthorized", name


def test_public_routes_need_no_token(client: Client) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    assert client.get("/schema/openapi.json").status_code == 200
    # Provider webhooks verify the provider's signature instead (here: none configured / none valid).
    assert client.post("/api/v1/webhooks/stripe", content=b"{}").status_code == 503
    assert client.post("/api/v1/webhooks/signing", content=b"{}").status_code == 400


def _order_with_proof(client: Client, customer: dict[str, str]) -> dict[str, Any]:
    reservation = reserve(client, customer)
    order: dict[str, Any] = client.post(
        "/api/v1/orders",
        json=order_request(reservation["reservationId"]),
        headers={**customer, "Idempotency-Key": new_key()},
    ).json()
    client.post(
        f"/api/v1/orders/{order['orderId']}/insurance",
        files={"file": ("p.pdf", PDF, "application/pdf")},
        data={"policyNumber": "POL-1", "provider": "Intact"},
        headers=customer,
    )
    return order


def test_another_customers_order_is_404_everywhere(
    client: Client, customer: dict[str, str], stranger: dict[str, str]
) -> None:
    order = _order_with_proof(client, customer)
    oid = order["orderId"]
    document = client.get(f"/api/v1/orders/{oid}/documents", headers=customer).json()["items"][0]["id"]
    key = {"Idempotency-Key": new_key()}
    attempts = {
        "get": client.get(f"/api/v1/orders/{oid}", headers=stranger),
        "documents": client.get(f"/api/v1/orders/{oid}/documents", headers=stranger),
        "download": client.get(f"/api/v1/orders/{oid}/documents/{document}", headers=stranger),
        "sign": client.post(f"/api/v1/orders/{oid}/documents/sign", headers=stranger),
        "insurance": client.post(
            f"/api/v1/orders/{oid}/insurance",
            files={"file": ("p.pdf", PDF, "application/pdf")},
            data={"policyNumber": "POL-2", "provider": "Aviva"},
            headers=stranger,
        ),
        "bank transfer": client.get(f"/api/v1/orders/{oid}/payments/bank-transfer", headers=stranger),
        "card": client.post(
            f"/api/v1/orders/{oid}/payments/card", json={"token": "tok_visa"}, headers={**stranger, **key}
        ),
        "cancel": client.post(f"/api/v1/orders/{oid}/cancel", headers=stranger),
        "reservation": client.get(f"/api/v1/reservations/{order['reservationId']}", headers=stranger),
        "cancel reservation": client.delete(f"/api/v1/reservations/{order['reservationId']}", headers=stranger),
        "order from their reservation": client.post(
            "/api/v1/orders",
            json=order_request(order["reservationId"]),
            headers={**stranger, "Idempotency-Key": new_key()},
        ),
    }

    for name, response in attempts.items():
        assert response.status_code == 404, (name, response.text)
        assert response.json()["code"] == "not_found", name
    assert client.get("/api/v1/orders", headers=stranger).json()["items"] == []
    assert client.get("/api/v1/reservations", headers=stranger).json()["items"] == []
    assert client.get(f"/api/v1/orders/{oid}", headers=customer).json()["status"] == "pending_documents"


def test_advisor_only_steps_are_403_for_customers(
    client: Client, customer: dict[str, str], advisor: dict[str, str]
) -> None:
    order = _order_with_proof(client, customer)
    url = f"/api/v1/orders/{order['orderId']}"
    attempts = {
        "verify": client.post(f"{url}/insurance/verify", headers=customer),
        "reject": client.post(f"{url}/insurance/reject", json={"reason": "no"}, headers=customer),
        "schedule": client.post(
            f"{url}/delivery/schedule",
            json={"date": "2025-12-28", "timeWindow": "10:00 AM - 2:00 PM"},
            headers=customer,
        ),
        "dispatch": client.post(f"{url}/delivery/dispatch", headers=customer),
        "deliver": client.post(f"{url}/delivery/deliver", headers=customer),
        "complete": client.post(f"{url}/complete", headers=customer),
        "return": client.post(f"{url}/return", json={"reason": "changed my mind"}, headers=customer),
        "record transfer": client.post(
            "/api/v1/payments/bank-transfers",
            json={"reference": order["orderNumber"], "amount": 1000, "bankReference": "TX-1"},
            headers={**customer, "Idempotency-Key": new_key()},
        ),
    }

    for name, response in attempts.items():
        assert response.status_code == 403, (name, response.text)
        assert response.json()["code"] == "forbidden", name
    # The advisor may, and sees every customer's order.
    assert client.get(url, headers=advisor).status_code == 200
    assert client.post(f"{url}/insurance/reject", json={"reason": "blurry"}, headers=advisor).status_code == 200
    assert [o["orderId"] for o in client.get("/api/v1/orders", headers=advisor).json()["items"]] == [order["orderId"]]
