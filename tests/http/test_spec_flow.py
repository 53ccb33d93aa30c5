"""The spec's example through HTTP: reservation, order, signing, insurance, payment, delivery."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from adapters.system.clock import FixedClock
from tests.http.conftest import (
    ADDRESS,
    PDF,
    SPEC_PRICING,
    new_key,
    order_request,
    path_of,
    reserve,
    sign_order,
)

Client = TestClient[Litestar]


def test_reservation_is_the_spec_body(client: Client, customer: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/reservations",
        json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}},
        headers={**customer, "Idempotency-Key": new_key()},
    )

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["reservationId"].startswith("res_")
    assert body["vehicleId"] == "veh_abc123"
    assert body["status"] == "confirmed"
    assert body["depositAmount"] == 10000
    assert body["depositCharge"]["amount"] == 10000
    assert body["depositCharge"]["currency"] == "cad"
    assert body["depositCharge"]["id"]
    assert body["expiresAt"] == "2025-12-26T10:30:00Z"
    assert body["createdAt"] == "2025-12-23T10:30:00Z"


def test_reservation_read_list_and_cancel(client: Client, customer: dict[str, str], advisor: dict[str, str]) -> None:
    reservation = reserve(client, customer)
    rid = reservation["reservationId"]

    assert client.get(f"/api/v1/reservations/{rid}", headers=customer).json() == reservation
    assert [r["reservationId"] for r in client.get("/api/v1/reservations", headers=customer).json()["items"]] == [rid]
    assert len(client.get("/api/v1/reservations", headers=advisor).json()["items"]) == 1

    cancelled = client.delete(f"/api/v1/reservations/{rid}", headers=customer)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["depositCharge"]["refunded"] == 10000
    again = client.delete(f"/api/v1/reservations/{rid}", headers=customer)
    assert again.status_code == 409
    assert again.json()["code"] == "reservation_not_usable"


def test_the_spec_order(client: Client, customer: dict[str, str], clock: FixedClock) -> None:
    reservation = reserve(client, customer)
    clock.advance(timedelta(minutes=30))  # the spec places the order at 11:00

    response = client.post(
        "/api/v1/orders",
        json=order_request(reservation["reservationId"]),
        headers={**customer, "Idempotency-Key": new_key()},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    order_id = body["orderId"]
    assert re.fullmatch(r"CLT-\d{4}-\d{5,}", body["orderNumber"])
    assert body["orderNumber"].startswith("CLT-2025-")
    assert body["status"] == "pending_documents"
    assert {k: body["vehicle"][k] for k in ("id", "make", "model", "year")} == {
        "id": "veh_abc123",
        "make": "Honda",
        "model": "Civic",
        "year": 2021,
    }
    assert {k: body["pricing"][k] for k in SPEC_PRICING} == SPEC_PRICING
    assert body["nextSteps"] == [
        {"step": "sign_documents", "status": "pending", "url": f"/api/v1/orders/{order_id}/documents"},
        {"step": "upload_insurance", "status": "pending", "url": f"/api/v1/orders/{order_id}/insurance"},
    ]
    assert {k: body["advisor"][k] for k in ("name", "email", "phone")} == {
        "name": "Sarah Johnson",
        "email": "sarah@clutchclone.ca",
        "phone": "416-555-1234",
    }
    assert body["createdAt"] == "2025-12-23T11:00:00Z"
    assert body["delivery"]["address"] == ADDRESS
    assert client.get(f"/api/v1/orders/{order_id}", headers=customer).json() == body


def _is_subsequence(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> bool:
    it = iter(actual)
    return all(any(entry == candidate for candidate in it) for entry in expected)


def test_the_spec_example_end_to_end(
    client: Client, customer: dict[str, str], advisor: dict[str, str], clock: FixedClock
) -> None:
    reservation = reserve(client, customer)
    clock.advance(timedelta(minutes=30))
    order = client.post(
        "/api/v1/orders",
        json=order_request(reservation["reservationId"]),
        headers={**customer, "Idempotency-Key": new_key()},
    ).json()
    oid = order["orderId"]
    url = f"/api/v1/orders/{oid}"

    clock.advance(timedelta(hours=1))  # 12:00 signed
    sign_order(client, customer, oid)
    assert client.get(url, headers=customer).json()["status"] == "pending_insurance"

    clock.advance(timedelta(hours=1))  # 13:00 insurance uploaded
    uploaded = client.post(
        f"{url}/insurance",
        files={"file": ("policy.pdf", PDF, "application/pdf")},
        data={"policyNumber": "POL-12345", "provider": "Intact Insurance"},
        headers=customer,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["status"] == "pending_verification"
    assert uploaded.json()["submittedAt"] == "2025-12-23T13:00:00Z"

    clock.advance(timedelta(hours=1))  # 14:00 verified
    verified = client.post(f"{url}/insurance/verify", headers=advisor)
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "pending_payment"

    instructions = client.get(f"{url}/payments/bank-transfer", headers=customer).json()
    assert instructions["amount"] == 250000
    assert instructions["reference"] == order["orderNumber"]
    paid = client.post(
        f"{url}/payments/card",
        json={"token": "tok_visa", "amount": 250000},
        headers={**customer, "Idempotency-Key": new_key()},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded"

    scheduled = client.post(
        f"{url}/delivery/schedule", json={"date": "2025-12-28", "timeWindow": "10:00 AM - 2:00 PM"}, headers=advisor
    )
    assert scheduled.status_code == 200, scheduled.text

    body = client.get(url, headers=customer).json()
    assert body["status"] == "pending_delivery"
    assert {k: body["payment"][k] for k in ("method", "depositPaid", "downPaymentPaid", "financingAmount")} == {
        "method": "finance",
        "depositPaid": 10000,
        "downPaymentPaid": 250000,
        "financingAmount": 1734224,
    }
    assert body["payment"]["monthlyPayment"] == 32900
    agreement = body["documents"][0]
    assert (agreement["type"], agreement["status"], agreement["signedAt"]) == (
        "purchase_agreement",
        "signed",
        "2025-12-23T12:00:00Z",
    )
    assert {k: body["insurance"][k] for k in ("status", "policyNumber", "provider")} == {
        "status": "verified",
        "policyNumber": "POL-12345",
        "provider": "Intact Insurance",
    }
    assert {k: body["delivery"][k] for k in ("method", "status", "scheduledDate", "timeWindow")} == {
        "method": "delivery",
        "status": "scheduled",
        "scheduledDate": "2025-12-28",
        "timeWindow": "10:00 AM - 2:00 PM",
    }
    assert _is_subsequence(
        [
            {"event": "Order placed", "timestamp": "2025-12-23T11:00:00Z", "status": "completed"},
            {"event": "Documents signed", "timestamp": "2025-12-23T12:00:00Z", "status": "completed"},
            {"event": "Insurance verified", "timestamp": "2025-12-23T14:00:00Z", "status": "completed"},
            {"event": "Delivery scheduled", "timestamp": "2025-12-28T10:00:00Z", "status": "pending"},
        ],
        body["timeline"],
    ), body["timeline"]

    for step, status in (
        ("delivery/dispatch", "in_transit"),
        ("delivery/deliver", "delivered"),
        ("complete", "completed"),
    ):
        moved = client.post(f"{url}/{step}", headers=advisor)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == status


def test_documents_list_and_download(client: Client, customer: dict[str, str], placed_order: dict[str, Any]) -> None:
    url = f"/api/v1/orders/{placed_order['orderId']}/documents"
    items = client.get(url, headers=customer).json()["items"]
    assert [d["type"] for d in items] == ["purchase_agreement"]

    download = client.get(items[0]["url"], headers=customer)
    assert download.status_code == 200
    assert download.headers["content-type"] == items[0]["contentType"]
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.content
    assert client.get(f"{url}/doc_nope", headers=customer).status_code == 404


def test_signing_page_flow(client: Client, customer: dict[str, str], placed_order: dict[str, Any]) -> None:
    oid = placed_order["orderId"]
    link = client.post(f"/api/v1/orders/{oid}/documents/sign", headers=customer)
    assert link.status_code == 200
    assert set(link.json()) == {"signatureUrl", "expiresAt"}
    assert link.json()["expiresAt"] == "2025-12-24T10:30:00Z"
    page_path = path_of(link.json()["signatureUrl"])
    envelope = page_path.rsplit("/", 1)[1]

    page = client.get(page_path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert placed_order["orderNumber"] in html
    assert 'name="consent"' in html
    assert 'name="typedName"' in html
    assert f'name="csrfToken" value="{envelope}"' in html
    assert f"{page_path}/agreement.pdf" in html
    pdf = client.get(f"{page_path}/agreement.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"

    form = {"consent": "yes", "typedName": "John Doe", "csrfToken": envelope}
    cross_site = client.post(page_path, data=form, headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    assert client.post(page_path, data={**form, "csrfToken": "nope"}).status_code == 403
    wrong_name = client.post(page_path, data={**form, "typedName": "Jane Roe"})
    assert wrong_name.status_code == 400
    assert "full name" in wrong_name.text
    no_consent = client.post(page_path, data={"typedName": "John Doe", "csrfToken": envelope})
    assert no_consent.status_code == 400
    assert client.get(f"/api/v1/orders/{oid}", headers=customer).json()["status"] == "pending_documents"

    signed = client.post(
        page_path, data=form, headers={"Origin": "http://testserver.local", "User-Agent": "pytest-browser"}
    )
    assert signed.status_code == 200, signed.text
    assert "Thank you" in signed.text

    order = client.get(f"/api/v1/orders/{oid}", headers=customer).json()
    assert order["status"] == "pending_insurance"
    assert [d["type"] for d in order["documents"]] == ["purchase_agreement", "signed_agreement"]
    assert order["nextSteps"][0]["status"] == "completed"
    again = client.post(page_path, data=form)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("text/html")
    assert client.get(f"/sign/{oid}/env_unknown").status_code == 404


def test_signing_page_escapes_what_it_shows(client: Client, customer: dict[str, str]) -> None:
    reservation = reserve(client, customer)
    body = order_request(reservation["reservationId"])
    body["contactInfo"]["firstName"] = "<script>alert(1)</script>"
    order = client.post("/api/v1/orders", json=body, headers={**customer, "Idempotency-Key": new_key()}).json()
    link = client.post(f"/api/v1/orders/{order['orderId']}/documents/sign", headers=customer).json()

    html = client.get(path_of(link["signatureUrl"])).text

    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_insurance_upload_types_and_sizes(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    url = f"/api/v1/orders/{placed_order['orderId']}/insurance"
    fields = {"policyNumber": "POL-12345", "provider": "Intact Insurance"}

    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
    renamed = client.post(url, files={"file": ("policy.pdf", exe, "application/pdf")}, data=fields, headers=customer)
    assert renamed.status_code == 415
    assert renamed.json()["code"] == "unsupported_media_type"

    big = b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024) + b"\n%%EOF\n"
    too_big = client.post(url, files={"file": ("policy.pdf", big, "application/pdf")}, data=fields, headers=customer)
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "payload_too_large"

    huge = b"%PDF-1.4\n" + b"0" * (13 * 1024 * 1024)
    over_limit = client.post(
        url, files={"file": ("policy.pdf", huge, "application/pdf")}, data=fields, headers=customer
    )
    assert over_limit.status_code == 413
    assert over_limit.headers["content-type"] == "application/problem+json"

    ok = client.post(url, files={"file": ("scan.bin", PDF, "application/octet-stream")}, data=fields, headers=customer)
    assert ok.status_code == 201, ok.text
    assert set(ok.json()) == {"insuranceId", "status", "submittedAt"}
    assert ok.json()["status"] == "pending_verification"
    documents = client.get(f"/api/v1/orders/{placed_order['orderId']}/documents", headers=customer).json()["items"]
    assert documents[-1]["type"] == "insurance_proof"
    assert documents[-1]["contentType"] == "application/pdf"


def test_insurance_rejection_and_cancel(
    client: Client, customer: dict[str, str], advisor: dict[str, str], placed_order: dict[str, Any]
) -> None:
    url = f"/api/v1/orders/{placed_order['orderId']}"
    client.post(
        f"{url}/insurance",
        files={"file": ("policy.pdf", PDF, "application/pdf")},
        data={"policyNumber": "POL-1", "provider": "Intact"},
        headers=customer,
    )
    rejected = client.post(f"{url}/insurance/reject", json={"reason": "expired policy"}, headers=advisor)
    assert rejected.status_code == 200
    assert rejected.json()["insurance"]["rejectionReason"] == "expired policy"

    cancelled = client.post(f"{url}/cancel", headers=customer)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["payment"]["refunded"] == 10000


def test_the_201_body_is_what_a_read_returns(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    """The POST answer is built from what placing the order wrote, not read back: it must still
    be exactly the order as GET shows it."""
    read = client.get(f"/api/v1/orders/{placed_order['orderId']}", headers=customer)
    assert read.status_code == 200
    assert read.json() == placed_order
    assert placed_order["vehicle"]["disclosures"] == []  # the spec's Civic has no history to disclose
