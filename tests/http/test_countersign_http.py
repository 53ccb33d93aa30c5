"""``POST /api/v1/orders/{id}/documents/countersign``: advisors only; the agreement becomes
``executed``, the vehicle block carries what the agreement states, the timeline shows both."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import complete_signing, start_signing
from entrypoints.bootstrap import App

Client = TestClient[Litestar]


def _buyer_signs(core: App, order_id: str) -> None:
    envelope = start_signing(core.ctx, Actor("cus_demo"), order_id)
    complete_signing(
        core.ctx,
        order_id=order_id,
        envelope_id=envelope.id,
        typed_name="John Doe",
        consent=True,
        ip_address="203.0.113.7",
        user_agent="tests",
    )


def test_an_advisor_countersigns_once_the_buyer_signed(
    client: Client,
    core: App,
    customer: dict[str, str],
    advisor: dict[str, str],
    placed_order: dict[str, Any],
) -> None:
    oid = placed_order["orderId"]
    url = f"/api/v1/orders/{oid}/documents/countersign"
    early = client.post(url, headers=advisor)
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "illegal_transition"

    _buyer_signs(core, oid)
    refused = client.post(url, headers=customer)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "forbidden"

    done = client.post(url, headers={**advisor, "User-Agent": "advisor-console"})
    assert done.status_code == 200, done.text
    body = done.json()
    statuses = [(d["type"], d["status"]) for d in body["documents"]]
    assert statuses == [
        ("purchase_agreement", "executed"),
        ("signed_agreement", "signed"),
        ("signed_agreement", "executed"),
    ]
    events = [e["event"] for e in body["timeline"]]
    assert "Documents signed" in events and "Agreement countersigned by the dealer" in events

    audit = client.get(f"/api/v1/orders/{oid}/documents/audit", headers=customer).json()["items"]
    assert audit[-1]["action"] == "countersigned"
    assert audit[-1]["signerName"] == "Sarah Johnson"
    assert audit[-1]["userAgent"] == "advisor-console"

    again = client.post(url, headers=advisor)
    assert again.status_code == 409

    assert client.post("/api/v1/orders/ord_nope/documents/countersign", headers=advisor).status_code == 404


def test_the_order_shows_what_the_agreement_states_about_the_car(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    vehicle = client.get(f"/api/v1/orders/{placed_order['orderId']}", headers=customer).json()["vehicle"]
    assert vehicle["vin"] == "2HGFE2F5XMH512345"
    assert vehicle["stockNumber"] == "CC-21-0457"
    assert vehicle["safetyCertificate"] == "SSC S1234567"
    assert vehicle["soldAsIs"] is False
    assert vehicle["warranty"]["kind"] == "manufacturer"
    checklist = vehicle["disclosureChecklist"]
    assert len(checklist) == 15
    assert checklist[0] == {"kind": "daily_rental", "answer": "no", "details": ""}
    assert {item["answer"] for item in checklist} == {"no"}
