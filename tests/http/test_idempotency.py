"""``Idempotency-Key``: replays, reuse with another body, duplicates in flight, scoping, and
releasing the key after a 5xx."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.ports.idempotency import ABANDONED_AFTER
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.http.app import create_app
from entrypoints.http.idempotency import request_hash, request_scope
from tests.http.conftest import PDF, new_key
from tests.http.gateways import GATEWAY_DOWN, SpyGateway

Client = TestClient[Litestar]
RESERVE = {"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}}


@pytest.fixture
def spy(clock: FixedClock) -> SpyGateway:
    """The counting gateway."""
    return SpyGateway(clock)


@pytest.fixture
def core(clock: FixedClock, spy: SpyGateway) -> Iterator[App]:
    """The in-memory app charging through the spy."""
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds(), gateway=spy)
    load_demo(app.ctx.uow)
    yield app
    app.close()


def _reserve(client: Client, headers: dict[str, str], key: str, body: dict[str, Any] | None = None) -> Any:
    return client.post("/api/v1/reservations", json=body or RESERVE, headers={**headers, "Idempotency-Key": key})


def test_a_retry_replays_the_first_response(client: Client, customer: dict[str, str], spy: SpyGateway) -> None:
    key = new_key()
    first = _reserve(client, customer, key)
    second = _reserve(client, customer, key)

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.headers["content-type"] == "application/json"
    assert spy.charges == 1
    assert len(client.get("/api/v1/reservations", headers=customer).json()["items"]) == 1


def test_errors_are_replayed_too(client: Client, customer: dict[str, str], spy: SpyGateway) -> None:
    key = new_key()
    declined = {"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_chargeDeclined"}}
    first = _reserve(client, customer, key, declined)
    again = _reserve(client, customer, key, declined)

    assert first.status_code == again.status_code == 402
    assert again.json() == first.json()
    assert again.headers["content-type"] == "application/problem+json"
    assert spy.charges == 1


def test_the_same_key_with_another_body_is_422(client: Client, customer: dict[str, str]) -> None:
    key = new_key()
    assert _reserve(client, customer, key).status_code == 201

    other = _reserve(client, customer, key, {**RESERVE, "vehicleId": "veh_demo001"})

    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["code"] == "idempotency_key_reused"


def test_keys_are_scoped_to_the_caller(
    client: Client, customer: dict[str, str], stranger: dict[str, str], spy: SpyGateway
) -> None:
    key = new_key()
    mine = _reserve(client, customer, key)
    theirs = _reserve(client, stranger, key, {**RESERVE, "vehicleId": "veh_demo001"})

    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["vehicleId"] == "veh_demo001"
    assert spy.charges == 2


def test_creating_and_charging_posts_require_a_key(client: Client, customer: dict[str, str]) -> None:
    for path, body in (
        ("/api/v1/reservations", RESERVE),
        ("/api/v1/orders", {}),
        ("/api/v1/orders/ord_000001/payments/card", {"token": "tok_visa"}),
        ("/api/v1/payments/bank-transfers", {"reference": "CLT-2025-10001", "amount": 1, "bankReference": "x"}),
    ):
        response = client.post(path, json=body, headers=customer)
        assert response.status_code == 400, path
        assert response.json()["code"] == "idempotency_key_required", path
        assert response.json()["field"] == "Idempotency-Key"


def test_the_key_is_optional_elsewhere_and_checked_when_sent(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    url = f"/api/v1/orders/{placed_order['orderId']}/documents/sign"
    assert client.post(url, headers=customer).status_code == 200
    key = new_key()
    first = client.post(url, headers={**customer, "Idempotency-Key": key})
    replay = client.post(url, headers={**customer, "Idempotency-Key": key})
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()

    bad = client.post(url, headers={**customer, "Idempotency-Key": "has space"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_error"


def test_concurrent_duplicates_charge_once(client: Client, customer: dict[str, str], spy: SpyGateway) -> None:
    key = new_key()
    spy.hold()
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.update(first=_reserve(client, customer, key)))
    first.start()
    try:
        assert spy.entered.wait(timeout=10), "the first request never reached the gateway"
        duplicate = _reserve(client, customer, key)
    finally:
        spy.release()
        first.join(timeout=10)

    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "idempotency_in_progress"
    assert duplicate.headers["retry-after"] == "1"
    assert results["first"].status_code == 201
    replay = _reserve(client, customer, key)
    assert replay.status_code == 201
    assert replay.content == results["first"].content
    assert spy.charges == 1


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (RuntimeError("the gateway adapter crashed"), 500, "internal_error"),
        (GATEWAY_DOWN, 503, "payment_gateway_unavailable"),
    ],
)
def test_a_5xx_releases_the_key(
    client: Client, customer: dict[str, str], spy: SpyGateway, failure: Exception, status: int, code: str
) -> None:
    key = new_key()
    spy.fail_with = failure
    failed = _reserve(client, customer, key)
    assert failed.status_code == status
    assert failed.json()["code"] == code

    spy.fail_with = None
    retried = _reserve(client, customer, key)

    # Neither replayed nor "in progress": it ran again, found the hold the failure left pending
    # and finished it with the same gateway key (issue: a retry after a 5xx must be answered
    # with the reservation the buyer has, never "reservation_limit_reached").
    assert "idempotent-replayed" not in retried.headers
    assert retried.status_code == 201, retried.text
    assert retried.json()["status"] == "confirmed"
    assert spy.charges == 2  # two attempts at the gateway, one charge:
    assert [r.kind for r in spy.inner.activity(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))] == [
        "charge"
    ]


def test_a_replay_survives_a_new_app_on_the_same_store(core: App, customer: dict[str, str]) -> None:
    key = new_key()
    with TestClient(create_app(core)) as one:
        first = _reserve(one, customer, key)
    with TestClient(create_app(core)) as two:
        second = _reserve(two, customer, key)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content


def test_a_claim_left_by_a_crash_is_taken_over_by_a_retry_after_the_window(
    client: Client, customer: dict[str, str], core: App, clock: FixedClock, spy: SpyGateway
) -> None:
    """A process killed between claiming a key and storing its answer leaves the claim behind:
    retries answer "in progress" until it counts as abandoned, then the retry runs."""
    key = new_key()
    body = json.dumps(RESERVE).encode()
    headers = {**customer, "Idempotency-Key": key, "Content-Type": "application/json"}
    crashed_at = clock.now()
    scope = request_scope("cus_demo", "POST", "/api/v1/reservations")
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert (
        core.idempotency.claim(
            scope=scope, key=digest, request_hash=request_hash(body, "application/json"), now=crashed_at
        )
        is None
    )

    clock.advance(ABANDONED_AFTER - timedelta(seconds=1))
    waiting = client.post("/api/v1/reservations", content=body, headers=headers)
    assert (waiting.status_code, waiting.json()["code"]) == (409, "idempotency_in_progress")
    assert spy.charges == 0

    clock.advance(timedelta(seconds=1))
    retried = client.post("/api/v1/reservations", content=body, headers=headers)
    assert retried.status_code == 201, retried.text
    assert spy.charges == 1
    replay = client.post("/api/v1/reservations", content=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true" and replay.content == retried.content


def test_the_same_json_spelled_differently_is_the_same_request(
    client: Client, customer: dict[str, str], spy: SpyGateway
) -> None:
    """Parameters are compared, not bytes (as at Stripe): whitespace and key order do not matter."""
    key = new_key()
    headers = {**customer, "Idempotency-Key": key, "Content-Type": "application/json"}
    first = client.post("/api/v1/reservations", content=json.dumps(RESERVE).encode(), headers=headers)
    reordered = (
        b'\n{ "paymentMethod" : {"token":"tok_visa",\t"type": "card"},\r\n  "vehicleId":   "veh_\\u0061bc123" }\n'
    )
    again = client.post("/api/v1/reservations", content=reordered, headers=headers)

    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert spy.charges == 1


def test_a_genuinely_different_json_body_is_still_422(client: Client, customer: dict[str, str]) -> None:
    key = new_key()
    headers = {**customer, "Idempotency-Key": key, "Content-Type": "application/json"}
    assert client.post("/api/v1/reservations", content=json.dumps(RESERVE).encode(), headers=headers).status_code == 201
    for other in (
        {**RESERVE, "paymentMethod": {"type": "card", "token": "tok_mastercard"}},
        {**RESERVE, "extra": None},
        {"vehicleId": "veh_abc123"},
    ):
        response = client.post("/api/v1/reservations", content=json.dumps(other).encode(), headers=headers)
        assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused"), other


def test_bodies_that_are_not_json_are_compared_byte_for_byte(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    # Invalid JSON falls back to its raw bytes: the very same bytes replay, other spacing does not.
    key = new_key()
    headers = {**customer, "Idempotency-Key": key, "Content-Type": "application/json"}
    broken = b'{"vehicleId": "veh_abc123",'
    first = client.post("/api/v1/reservations", content=broken, headers=headers)
    assert first.status_code == 400
    assert client.post("/api/v1/reservations", content=broken, headers=headers).headers["idempotent-replayed"] == "true"
    spaced = client.post("/api/v1/reservations", content=broken + b" ", headers=headers)
    assert (spaced.status_code, spaced.json()["code"]) == (422, "idempotency_key_reused")

    # A multipart upload is its bytes: another boundary is another request.
    url = f"/api/v1/orders/{placed_order['orderId']}/insurance"
    key = new_key()

    def upload(boundary: str) -> Any:
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="policyNumber"\r\n\r\nPOL-1\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="provider"\r\n\r\nIntact\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.pdf"\r\n'
                f"Content-Type: application/pdf\r\n\r\n"
            ).encode()
            + PDF
            + f"\r\n--{boundary}--\r\n".encode()
        )
        content_type = f"multipart/form-data; boundary={boundary}"
        return client.post(
            url, content=body, headers={**customer, "Idempotency-Key": key, "Content-Type": content_type}
        )

    assert upload("aaaa").status_code == 201
    assert upload("aaaa").headers["idempotent-replayed"] == "true"
    assert upload("bbbb").status_code == 422


def test_request_hash_canonicalises_json_only() -> None:
    a = request_hash(b'{"a": 1, "b": [1, 2, {"c": "\\u00e9"}]}', "application/json")
    b = request_hash('{"b":[1,2,{"c":"\u00e9"}],"a":1}'.encode(), "application/json")
    assert a == b
    assert request_hash(b'{"a":1}', "application/merge-patch+json") == request_hash(b'{ "a" : 1 }', "application/json")
    assert a != request_hash(b'{"a": 1, "b": [1, 2, {"c": "e"}]}', "application/json")
    assert request_hash(b'{"a": 1}', "text/plain") != request_hash(b'{"a":1}', "text/plain")
    assert request_hash(b"a=1", "application/x-www-form-urlencoded") == hashlib.sha256(b"a=1").hexdigest()
    # Not JSON after all, not UTF-8, or absurdly deep: the raw bytes.
    for raw in (b'{"a": ', b'{"a": "\xff"}', b"[" * 100_000 + b"]" * 100_000):
        assert request_hash(raw, "application/json") == hashlib.sha256(raw).hexdigest()
    # A lone surrogate is valid JSON, and stays comparable.
    assert request_hash(b'{"a": "\\ud800"}', "application/json") == request_hash(b'{"a":"\\ud800"}', "application/json")
