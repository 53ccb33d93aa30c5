"""Rate limits and upload checks over HTTP: 429 ``too_many_attempts`` (RFC 9457, with
``Retry-After``) for card testing — before the gateway is called — for floods of reservation
attempts, bad tokens, bad webhook signatures, insurance uploads and signing requests; and the
stable codes of refused uploads."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.rate_limits import customer_alerts
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.settings import Settings
from tests.http.conftest import PDF, Bearer, new_key
from tests.http.gateways import SpyGateway

Client = TestClient[Litestar]
DECLINED = "tok_chargeDeclined"


@pytest.fixture
def spy(clock: FixedClock) -> SpyGateway:
    return SpyGateway(clock)


@pytest.fixture
def core(clock: FixedClock, spy: SpyGateway) -> Iterator[App]:
    """The in-memory app with a charge-counting gateway (overrides the conftest's)."""
    settings = Settings(jwt_secret="in-memory-test-secret-" + "x" * 16, stripe_webhook_secret="whsec_test_secret")
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds(), gateway=spy, settings=settings)
    load_demo(app.ctx.uow)
    yield app
    app.close()


def _reserve(client: Client, headers: dict[str, str], token: str, key: str | None = None) -> Any:
    return client.post(
        "/api/v1/reservations",
        json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": token}},
        headers={**headers, "Idempotency-Key": key or new_key()},
    )


def _assert_too_many(response: Any, *, retry_after: int | None = None) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "too_many_attempts"
    assert body["type"].endswith("/too-many-attempts")
    assert body["status"] == 429
    assert int(response.headers["retry-after"]) >= 1
    assert body["retryAfter"] == int(response.headers["retry-after"])
    if retry_after is not None:
        assert body["retryAfter"] == retry_after


def test_card_testing_is_stopped_before_the_gateway(
    client: Client, customer: dict[str, str], spy: SpyGateway, core: App, clock: FixedClock
) -> None:
    for _ in range(5):
        declined = _reserve(client, customer, DECLINED)
        assert declined.status_code == 402, declined.text
    assert spy.charges == 5

    key = new_key()
    refused = _reserve(client, customer, "tok_visa", key)
    _assert_too_many(refused, retry_after=3600)
    assert "declined payments" in refused.json()["detail"]
    assert spy.charges == 5  # never reached the gateway

    alerts = customer_alerts(core.ctx, Actor("adv_sarah", Role.ADVISOR), "cus_demo")
    assert [(a.name, a.payload["clientIp"]) for a in alerts] == [("CardTestingSuspected", "testclient")]

    # The 429 was not stored under the key: the same request goes through once the window passed.
    clock.advance(timedelta(hours=1))
    again = _reserve(client, customer, "tok_visa", key)
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers


def test_declines_from_one_address_are_limited_across_customers(
    client: Client, bearer: Bearer, spy: SpyGateway
) -> None:
    for n in range(10):
        assert _reserve(client, bearer(f"cus_tester{n}"), DECLINED).status_code == 402
    _assert_too_many(_reserve(client, bearer("cus_tester10"), "tok_visa"))
    assert spy.charges == 10


def test_bad_tokens_from_one_address_get_429_and_a_valid_token_still_works(
    client: Client, customer: dict[str, str]
) -> None:
    for n in range(30):
        answer = client.get("/api/v1/reservations", headers={"Authorization": f"Bearer not-a-token-{n}"})
        assert answer.status_code == 401, answer.text
    flooded = client.get("/api/v1/reservations", headers={"Authorization": "Bearer still-not-a-token"})
    _assert_too_many(flooded, retry_after=60)
    assert client.get("/api/v1/reservations").status_code == 429  # no token at all is a bad one too
    assert client.get("/api/v1/reservations", headers=customer).status_code == 200


def test_webhooks_with_bad_signatures_get_429_before_verification(client: Client) -> None:
    for _ in range(20):
        rejected = client.post("/api/v1/webhooks/signing", files={"json": (None, '{"event": {}}')})
        assert rejected.status_code == 400, rejected.text
        assert rejected.json()["code"] == "webhook_rejected"
    _assert_too_many(client.post("/api/v1/webhooks/signing", files={"json": (None, '{"event": {}}')}))
    # The count is per address, for every provider's endpoint.
    stripe = client.post(
        "/api/v1/webhooks/stripe",
        content=b"{}",
        headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
    )
    _assert_too_many(stripe)


def test_stripe_webhooks_with_bad_signatures_are_counted(client: Client) -> None:
    headers = {"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"}
    for _ in range(20):
        assert client.post("/api/v1/webhooks/stripe", content=b"{}", headers=headers).status_code == 400
    _assert_too_many(client.post("/api/v1/webhooks/stripe", content=b"{}", headers=headers))


def test_signing_requests_are_limited_per_customer(
    client: Client, customer: dict[str, str], advisor: dict[str, str], placed_order: dict[str, Any]
) -> None:
    url = f"/api/v1/orders/{placed_order['orderId']}/documents/sign"
    for _ in range(20):
        assert client.post(url, headers=customer).status_code == 200
    _assert_too_many(client.post(url, headers=customer))
    assert client.post(url, headers=advisor).status_code == 200


# -- uploads ----------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int) -> bytes:
    raw = (b"\0" + b"\xff" * 3 * width) * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


BOMB = (
    b"\x89PNG\r\n\x1a\n"
    + _chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 6, 0, 0, 0))
    + _chunk(b"IDAT", zlib.compress(b"\0" * 1024))
    + _chunk(b"IEND", b"")
)
SCRIPTED_PDF = (
    b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>\nendobj\n%%EOF\n"
)


def test_refused_uploads_have_their_own_codes_and_an_order_keeps_at_most_five_proofs(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    url = f"/api/v1/orders/{placed_order['orderId']}/insurance"
    fields = {"policyNumber": "POL-12345", "provider": "Intact Insurance"}

    def upload(name: str, content: bytes) -> Any:
        return client.post(
            url, files={"file": (name, io.BytesIO(content), "application/octet-stream")}, data=fields, headers=customer
        )

    for name, content, status, code in [
        ("bomb.png", BOMB, 422, "image_too_large"),
        ("cut.png", _png(64, 64)[:-30], 422, "document_damaged"),
        ("fake.jpg", b"\xff\xd8\xff\xe0not a jpeg", 422, "document_damaged"),
        ("policy.pdf", SCRIPTED_PDF, 422, "active_content_not_accepted"),
    ]:
        refused = upload(name, content)
        assert (refused.status_code, refused.json()["code"]) == (status, code), (name, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"

    for n in range(5):
        assert upload(f"proof{n}.png", _png(8 + n, 8)).status_code == 201
    full = upload("proof6.pdf", PDF)
    assert (full.status_code, full.json()["code"]) == (409, "insurance_proof_limit_reached")
    assert full.json()["limit"] == 5
    documents = client.get(f"/api/v1/orders/{placed_order['orderId']}/documents", headers=customer).json()["items"]
    assert sum(d["type"] == "insurance_proof" for d in documents) == 5

    # Ten uploads in the hour so far: the eleventh is refused before its bytes are looked at.
    _assert_too_many(upload("proof7.pdf", PDF))


def test_429_is_documented_wherever_a_token_or_a_signature_is_checked(client: Client) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert "429" in paths["/api/v1/reservations"]["post"]["responses"]
    assert "429" in paths["/api/v1/orders/{order_id}/insurance"]["post"]["responses"]
    assert "429" in paths["/api/v1/orders"]["get"]["responses"]
    assert "429" in paths["/api/v1/webhooks/stripe"]["post"]["responses"]
    assert "429" in paths["/api/v1/webhooks/signing"]["post"]["responses"]
    assert "429" not in paths["/health"]["get"]["responses"]
