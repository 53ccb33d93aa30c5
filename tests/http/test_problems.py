"""Every error is RFC 9457 ``application/problem+json`` with a stable ``code``, and the status
the code maps to."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from checkout_core.errors import DomainError, IllegalTransition, PaymentDeclined, SigningNotAvailable
from entrypoints.http.problems import DOMAIN_STATUS, describe
from tests.http.conftest import new_key, order_request, reserve

Client = TestClient[Litestar]


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith("/" + code.replace("_", "-"))
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def _post(client: Client, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    return client.post(path, headers={**headers, "Idempotency-Key": new_key()}, **kwargs)


RESERVE = {"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}}


def test_routing_errors(client: Client, customer: dict[str, str]) -> None:
    _problem(client.get("/nowhere"), 404, "not_found")
    not_allowed = _problem(client.put("/api/v1/orders", headers=customer), 405, "method_not_allowed")
    assert not_allowed["detail"]
    assert "GET" in client.put("/api/v1/orders", headers=customer).headers["allow"]


def test_validation_errors_name_the_field(client: Client, customer: dict[str, str]) -> None:
    wrong_type = _problem(
        _post(client, "/api/v1/reservations", customer, json={"vehicleId": 1, "paymentMethod": {"type": "card"}}),
        400,
        "validation_error",
    )
    assert wrong_type["field"] == "vehicleId"
    assert wrong_type["errors"][0]["source"] == "body"
    malformed = client.post(
        "/api/v1/reservations",
        content=b"{not json",
        headers={**customer, "Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    _problem(malformed, 400, "validation_error")
    bad_query = _problem(client.get("/api/v1/orders?limit=1000", headers=customer), 400, "validation_error")
    assert bad_query["field"] == "limit"

    reservation = reserve(client, customer)
    body = order_request(reservation["reservationId"])
    body["contactInfo"]["address"]["postalCode"] = "12345"
    postal = _problem(_post(client, "/api/v1/orders", customer, json=body), 400, "validation_error")
    assert postal["field"] == "contactInfo.address.postalCode"
    body = order_request(reservation["reservationId"])
    body["contactInfo"]["email"] = "not-an-email"
    assert _problem(_post(client, "/api/v1/orders", customer, json=body), 400, "validation_error")["field"] == (
        "contactInfo.email"
    )
    body = order_request(reservation["reservationId"])
    body["delivery"] = {"method": "delivery"}
    assert _problem(_post(client, "/api/v1/orders", customer, json=body), 400, "validation_error")["field"] == (
        "delivery.address"
    )


def test_media_type_and_size(client: Client, customer: dict[str, str]) -> None:
    text = client.post(
        "/api/v1/reservations",
        content=b"vehicleId=veh_abc123",
        headers={**customer, "Idempotency-Key": new_key(), "Content-Type": "text/plain"},
    )
    _problem(text, 415, "unsupported_media_type")
    too_big = client.post(
        "/api/v1/reservations",
        content=b"{" + b" " * (13 * 1024 * 1024) + b"}",
        headers={**customer, "Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    _problem(too_big, 413, "payload_too_large")


def test_reservation_errors(client: Client, customer: dict[str, str], stranger: dict[str, str]) -> None:
    declined = _problem(
        _post(
            client,
            "/api/v1/reservations",
            customer,
            json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_chargeDeclined"}},
        ),
        402,
        "payment_declined",
    )
    assert declined["declineCode"] == "generic_decline"
    _problem(
        _post(client, "/api/v1/reservations", customer, json={**RESERVE, "vehicleId": "veh_nope"}), 404, "not_found"
    )
    reserve(client, customer)
    _problem(_post(client, "/api/v1/reservations", stranger, json=RESERVE), 409, "vehicle_unavailable")
    _problem(
        _post(client, "/api/v1/reservations", customer, json={**RESERVE, "vehicleId": "veh_demo001"}),
        409,
        "reservation_limit_reached",
    )


def test_order_errors(client: Client, customer: dict[str, str]) -> None:
    reservation = reserve(client, customer)
    rid = reservation["reservationId"]
    _problem(
        _post(client, "/api/v1/orders", customer, json=order_request(rid, vehicleId="veh_demo001")),
        422,
        "reservation_mismatch",
    )
    wrong_credit = order_request(rid)
    wrong_credit["tradeIn"]["creditAmount"] = 900000
    mismatch = _problem(_post(client, "/api/v1/orders", customer, json=wrong_credit), 422, "amount_mismatch")
    assert mismatch["field"] == "tradeIn.creditAmount"
    _problem(_post(client, "/api/v1/orders", customer, json=order_request("res_nope")), 404, "not_found")

    client.delete(f"/api/v1/reservations/{rid}", headers=customer)
    _problem(_post(client, "/api/v1/orders", customer, json=order_request(rid)), 409, "reservation_not_usable")


def test_illegal_transition_says_where_the_order_is(
    client: Client, advisor: dict[str, str], placed_order: dict[str, Any]
) -> None:
    body = _problem(
        client.post(f"/api/v1/orders/{placed_order['orderId']}/delivery/dispatch", headers=advisor),
        409,
        "illegal_transition",
    )
    assert body["currentStatus"] == "pending_documents"
    assert body["attempted"] == "dispatch"


def test_every_domain_code_has_a_status() -> None:
    def leaves(cls: type[DomainError]) -> list[type[DomainError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in leaves(sub))]

    for cls in leaves(DomainError):
        if cls is DomainError:
            continue
        assert cls.code in DOMAIN_STATUS, cls
    status, body, _ = describe(PaymentDeclined("declined", decline_code="insufficient_funds", reservation_id="res_1"))
    assert (status, body["declineCode"], body["reservationId"]) == (402, "insufficient_funds", "res_1")
    status, body, _ = describe(IllegalTransition("pending_documents", "dispatch"))
    assert (status, body["currentStatus"]) == (409, "pending_documents")


def test_unexpected_errors_leak_nothing() -> None:
    status, body, _ = describe(RuntimeError("password=hunter2 at /srv/app/secret.py"))
    assert status == 500
    assert body["code"] == "internal_error"
    assert "hunter2" not in str(body)
    assert body["instance"].startswith("urn:uuid:")


def test_signing_provider_failures_tell_the_client_what_to_do() -> None:
    status, body, headers = describe(
        SigningNotAvailable("down", provider="dropbox_sign", reason="provider_unavailable")
    )
    assert (status, body["code"], headers["Retry-After"]) == (503, "signing_not_available", "5")
    assert describe(SigningNotAvailable("no", reason="provider_refused"))[0] == 502
    assert describe(SigningNotAvailable("forged", reason="forged"))[0] == 400
    assert describe(SigningNotAvailable("already signed"))[0] == 409
