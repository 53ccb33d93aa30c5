"""Headers a security review looks for: ``X-Content-Type-Options: nosniff`` on every response,
``Cache-Control: no-store`` on everything that may carry personal data (all but the public
OpenAPI pages), and ``OPTIONS`` answers that list every method of the path."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.http.conftest import PDF, new_key, path_of, reserve

Client = TestClient[Litestar]


def _assert_private(response: httpx.Response, cache_control: str = "no-store") -> None:
    assert response.headers["x-content-type-options"] == "nosniff", response.request.url
    assert response.headers.get_list("cache-control") == [cache_control], response.request.url


def test_json_answers_and_problems_are_no_store_and_nosniff(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    oid = placed_order["orderId"]
    answers = {
        "order": client.get(f"/api/v1/orders/{oid}", headers=customer),
        "orders": client.get("/api/v1/orders", headers=customer),
        "reservations": client.get("/api/v1/reservations", headers=customer),
        "documents": client.get(f"/api/v1/orders/{oid}/documents", headers=customer),
        "signing link": client.post(f"/api/v1/orders/{oid}/documents/sign", headers=customer),
        "health": client.get("/health"),
        "ready": client.get("/ready"),
    }
    problems = {
        "401": client.get("/api/v1/orders"),
        "404 (not theirs)": client.get("/api/v1/orders/ord_nope", headers=customer),
        "404 (no route)": client.get("/no/such/path"),
        "400 (validation)": client.post(
            "/api/v1/reservations", json={"vehicleId": 1}, headers={**customer, "Idempotency-Key": new_key()}
        ),
        "405": client.put("/api/v1/orders", headers=customer),
        "415": client.post(
            f"/api/v1/orders/{oid}/cancel", content=b"x", headers={**customer, "Content-Type": "text/plain"}
        ),
        "400 (card number)": client.get("/api/v1/orders?q=4242424242424242", headers=customer),
    }
    for name, response in answers.items():
        assert response.status_code < 300, (name, response.text)
        _assert_private(response)
    for name, response in problems.items():
        assert response.status_code >= 400, name
        assert response.headers["content-type"] == "application/problem+json", name
        _assert_private(response)


def test_a_created_resource_and_its_replay_are_no_store(client: Client, customer: dict[str, str]) -> None:
    body = {"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}}
    headers = {**customer, "Idempotency-Key": new_key()}
    created = client.post("/api/v1/reservations", json=body, headers=headers)
    replayed = client.post("/api/v1/reservations", json=body, headers=headers)

    assert created.status_code == replayed.status_code == 201
    assert replayed.headers["idempotent-replayed"] == "true"
    _assert_private(created)
    _assert_private(replayed)


def test_documents_and_the_signing_page_stay_uncached(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    oid = placed_order["orderId"]
    document = client.get(f"/api/v1/orders/{oid}/documents", headers=customer).json()["items"][0]["id"]
    download = client.get(f"/api/v1/orders/{oid}/documents/{document}", headers=customer)
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")
    _assert_private(download, "private, no-store")  # the route's own value is kept, not doubled

    page = path_of(client.post(f"/api/v1/orders/{oid}/documents/sign", headers=customer).json()["signatureUrl"])
    html = client.get(page)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["referrer-policy"] == "no-referrer"
    _assert_private(html)
    pdf = client.get(page + "/agreement.pdf")
    assert pdf.status_code == 200
    _assert_private(pdf)

    upload = client.post(
        f"/api/v1/orders/{oid}/insurance",
        files={"file": ("proof.pdf", PDF, "application/pdf")},
        data={"policyNumber": "POL-1", "provider": "Intact"},
        headers=customer,
    )
    _assert_private(upload)


def test_the_public_openapi_document_may_be_cached(client: Client) -> None:
    for path in ("/schema/openapi.json", "/schema"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "cache-control" not in response.headers


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/orders", "GET, OPTIONS, POST"),
        ("/api/v1/reservations", "GET, OPTIONS, POST"),
        ("/api/v1/orders/ord_000001", "GET, OPTIONS"),
        ("/api/v1/reservations/res_000001", "DELETE, GET, OPTIONS"),
        ("/api/v1/orders/ord_000001/documents/sign", "OPTIONS, POST"),
        ("/sign/ord_000001/env_x", "GET, OPTIONS, POST"),
        ("/health", "GET, OPTIONS"),
    ],
)
def test_options_lists_every_method_of_the_path(
    client: Client, customer: dict[str, str], path: str, methods: str
) -> None:
    for headers in ({}, customer):  # the methods of a path are public: no token needed
        response = client.options(path, headers=headers)
        assert response.status_code == 204, response.text
        assert response.headers["allow"] == methods
        assert response.content == b""
        _assert_private(response)


def test_options_agrees_with_405(client: Client, customer: dict[str, str]) -> None:
    for path in ("/api/v1/orders", "/api/v1/reservations", "/api/v1/reservations/res_000001"):
        allowed = client.options(path).headers["allow"].split(", ")
        refused = client.request("PATCH", path, headers=customer)
        assert refused.status_code == 405
        assert sorted(refused.headers["allow"].split(", ")) == allowed


def test_options_still_refuses_card_numbers(client: Client) -> None:
    response = client.options("/api/v1/orders?note=4242424242424242")
    assert response.status_code == 400
    assert response.json()["code"] == "card_data_not_accepted"


def test_a_reservation_made_after_options_is_unaffected(client: Client, customer: dict[str, str]) -> None:
    client.options("/api/v1/reservations")
    assert reserve(client, customer)["status"] == "confirmed"
