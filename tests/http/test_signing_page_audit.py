"""The built-in signing page and the audit trail: opening the page is a ``viewed`` entry (client
IP and user agent), "Decline" closes the link and asking again opens a new envelope, an expired
link says so and asking again gives a new one; ``GET /api/v1/orders/{id}/documents/audit``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from adapters.system.clock import FixedClock
from tests.http.conftest import path_of

Client = TestClient[Litestar]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) checkout-tests"


def signing_link(client: Client, headers: dict[str, str], order_id: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/orders/{order_id}/documents/sign", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def trail(client: Client, headers: dict[str, str], order_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/orders/{order_id}/documents/audit", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["orderId"] == order_id
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def actions(client: Client, headers: dict[str, str], order_id: str) -> list[str]:
    return [entry["action"] for entry in trail(client, headers, order_id)]


def test_opening_the_page_is_recorded_with_ip_and_user_agent(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    oid = placed_order["orderId"]
    page = path_of(signing_link(client, customer, oid)["signatureUrl"])

    assert client.get(page, headers={"User-Agent": BROWSER}).status_code == 200
    assert client.get(f"{page}/agreement.pdf").status_code == 200  # the embedded PDF is not a view

    entries = trail(client, customer, oid)
    assert [e["action"] for e in entries] == ["created", "sent", "viewed"]
    viewed = entries[-1]
    assert viewed["ipAddress"] == "testclient"  # the test client's peer address
    assert viewed["userAgent"] == BROWSER
    assert (viewed["signerName"], viewed["signerEmail"]) == ("John Doe", "john@example.com")
    assert viewed["occurredAt"] == "2025-12-23T10:30:00Z"
    assert viewed["sequence"] == 2
    assert viewed["prevHash"] == entries[1]["entryHash"]
    assert len(viewed["documentSha256"]) == 64
    assert viewed["documentSha256"] == placed_order["documents"][0]["sha256"]
    assert "envelopeId" not in viewed  # the signing link's credential stays out of the trail's view


def test_the_trail_is_for_the_owner_and_advisors(
    client: Client,
    customer: dict[str, str],
    advisor: dict[str, str],
    stranger: dict[str, str],
    placed_order: dict[str, Any],
) -> None:
    oid = placed_order["orderId"]
    signing_link(client, customer, oid)
    assert actions(client, customer, oid) == actions(client, advisor, oid) == ["created", "sent"]
    other = client.get(f"/api/v1/orders/{oid}/documents/audit", headers=stranger)
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    assert client.get(f"/api/v1/orders/{oid}/documents/audit").status_code == 401
    assert client.get("/api/v1/orders/ord_nope/documents/audit", headers=advisor).status_code == 404


def test_signing_records_consent_and_signature(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    oid = placed_order["orderId"]
    page = path_of(signing_link(client, customer, oid)["signatureUrl"])
    envelope = page.rsplit("/", 1)[1]
    client.get(page, headers={"User-Agent": BROWSER})
    form = {"consent": "yes", "typedName": "John Doe", "csrfToken": envelope}
    assert client.post(page, data=form, headers={"User-Agent": BROWSER}).status_code == 200
    entries = trail(client, customer, oid)
    assert [e["action"] for e in entries] == ["created", "sent", "viewed", "consented", "signed"]
    assert {e["userAgent"] for e in entries[2:]} == {BROWSER}


def test_decline_closes_the_link_and_asking_again_opens_a_new_envelope(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    oid = placed_order["orderId"]
    page = path_of(signing_link(client, customer, oid)["signatureUrl"])
    envelope = page.rsplit("/", 1)[1]
    html = client.get(page).text
    assert f'action="{page}/decline"' in html
    assert ">Decline</button>" in html

    declined = client.post(f"{page}/decline", data={"csrfToken": envelope}, headers={"User-Agent": BROWSER})

    assert declined.status_code == 200, declined.text
    assert declined.headers["content-type"].startswith("text/html")
    assert "You declined to sign" in declined.text
    assert actions(client, customer, oid) == ["created", "sent", "viewed", "declined"]
    assert client.get(f"/api/v1/orders/{oid}", headers=customer).json()["status"] == "pending_documents"
    closed = client.get(page)
    assert closed.status_code == 409
    assert "declined" in closed.text
    assert client.post(page, data={"consent": "yes", "typedName": "John Doe", "csrfToken": envelope}).status_code == 409
    assert client.post(f"{page}/decline", data={"csrfToken": envelope}).status_code == 409

    new_page = path_of(signing_link(client, customer, oid)["signatureUrl"])
    assert new_page != page
    new_envelope = new_page.rsplit("/", 1)[1]
    assert client.get(new_page).status_code == 200
    signed = client.post(new_page, data={"consent": "yes", "typedName": "John Doe", "csrfToken": new_envelope})
    assert signed.status_code == 200, signed.text
    assert client.get(f"/api/v1/orders/{oid}", headers=customer).json()["status"] == "pending_insurance"
    assert actions(client, customer, oid) == [
        "created",
        "sent",
        "viewed",
        "declined",
        "created",
        "sent",
        "viewed",
        "consented",
        "signed",
    ]


def test_decline_from_another_site_or_without_the_token_is_refused(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    oid = placed_order["orderId"]
    page = path_of(signing_link(client, customer, oid)["signatureUrl"])
    envelope = page.rsplit("/", 1)[1]
    cross_site = client.post(
        f"{page}/decline", data={"csrfToken": envelope}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    assert client.post(f"{page}/decline", data={"csrfToken": "guess"}).status_code == 403
    assert client.post(f"{page}/decline", data={}).status_code == 403
    assert client.post(f"/sign/{oid}/env_unknown/decline", data={"csrfToken": "env_unknown"}).status_code == 404
    assert actions(client, customer, oid) == ["created", "sent"]


def test_an_expired_link_says_so_and_asking_again_gives_a_new_one(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any], clock: FixedClock
) -> None:
    oid = placed_order["orderId"]
    first = signing_link(client, customer, oid)
    page = path_of(first["signatureUrl"])
    envelope = page.rsplit("/", 1)[1]
    assert first["expiresAt"] == "2025-12-24T10:30:00Z"
    assert signing_link(client, customer, oid) == first  # the same link while it is valid

    clock.advance(timedelta(hours=24))  # exactly at expiresAt: no longer valid

    expired = client.get(page)
    assert expired.status_code == 409
    assert expired.headers["content-type"].startswith("text/html")
    assert "expired" in expired.text
    assert "ask for a new one" in expired.text
    form = {"consent": "yes", "typedName": "John Doe", "csrfToken": envelope}
    assert client.post(page, data=form).status_code == 409
    assert client.post(f"{page}/decline", data={"csrfToken": envelope}).status_code == 409
    assert client.get(f"{page}/agreement.pdf").status_code == 409
    assert actions(client, customer, oid) == ["created", "sent"]  # an expired link is not viewed

    second = signing_link(client, customer, oid)
    assert second["signatureUrl"] != first["signatureUrl"]
    assert second["expiresAt"] == "2025-12-25T10:30:00Z"
    assert client.get(path_of(second["signatureUrl"])).status_code == 200
    assert actions(client, customer, oid) == ["created", "sent", "created", "sent", "viewed"]
