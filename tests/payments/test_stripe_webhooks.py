"""Verifying and parsing Stripe webhooks: ``parse_stripe_event``.

Signatures are computed the way Stripe documents them (``t=<unix time>,v1=<HMAC-SHA256 of
"<t>.<body>" with the endpoint secret>``), and once by an independent implementation:
localstripe delivering a real webhook for a real charge."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.memory.gateway_events import MemoryProcessedEvents
from adapters.payments.stripe_gateway import (
    WEBHOOK_TOLERANCE_SECONDS,
    WebhookRejected,
    gateway_event_from_stripe,
    parse_stripe_event,
)
from adapters.system.clock import FixedClock
from checkout_core.errors import PaymentGatewayUnavailable
from checkout_core.money import Money
from checkout_core.usecases.context import Actor
from checkout_core.usecases.payment_events import EventOutcome, handle_gateway_event
from checkout_core.usecases.reservations import get_reservation, reserve_vehicle
from entrypoints.bootstrap import App
from tests.payments.conftest import make_gateway
from tests.payments.http_stub import HttpStub, Recorded, json_answer

SECRET = "whsec_test_" + "s" * 24


def sign(payload: bytes, secret: str = SECRET, at: int | None = None) -> str:
    """A Stripe-Signature header for ``payload``, computed as Stripe does."""
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + payload
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def _payload(type: str, obj: dict[str, Any], event_id: str = "evt_1") -> bytes:
    return json.dumps(
        {"id": event_id, "object": "event", "type": type, "created": 1766485800, "data": {"object": obj}}
    ).encode()


INTENT = {
    "id": "pi_123",
    "object": "payment_intent",
    "amount": 10000,
    "currency": "cad",
    "status": "succeeded",
    "metadata": {"ledger_id": "pay_1", "idempotency_key": "res_1:deposit"},
    "latest_charge": "ch_123",
    "payment_method": "pm_123",
}


def test_a_signed_payment_intent_event_becomes_a_gateway_event() -> None:
    payload = _payload("payment_intent.succeeded", INTENT)
    event = parse_stripe_event(payload, sign(payload), SECRET)
    assert (event.id, event.type, event.object_ref, event.payment_ref) == (
        "evt_1",
        "payment_intent.succeeded",
        "pi_123",
        "pi_123",
    )
    assert event.amount == Money(10000)
    assert event.status == "succeeded"
    assert dict(event.metadata) == {"ledger_id": "pay_1", "idempotency_key": "res_1:deposit"}
    assert event.created.timestamp() == 1766485800


def test_a_failed_payment_intent_carries_the_decline_code() -> None:
    failed = {
        **INTENT,
        "status": "requires_payment_method",
        "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"},
    }
    event = gateway_event_from_stripe(json.loads(_payload("payment_intent.payment_failed", failed)))
    assert event.failure_code == "insufficient_funds"


def test_charge_refunded_lists_the_refunds_and_the_cumulative_amount() -> None:
    charge = {
        "id": "ch_123",
        "object": "charge",
        "amount": 10000,
        "amount_refunded": 6000,
        "currency": "cad",
        "status": "succeeded",
        "payment_intent": "pi_123",
        "payment_method_details": {"card": {"brand": "visa", "last4": "4242", "exp_month": 12}},
        "refunds": {
            "object": "list",
            "data": [
                {"id": "re_1", "amount": 1000, "currency": "cad", "status": "succeeded", "metadata": {}},
                {
                    "id": "re_2",
                    "amount": 5000,
                    "currency": "cad",
                    "status": "pending",
                    "metadata": {"idempotency_key": "pay_1:refund"},
                },
            ],
        },
    }
    event = gateway_event_from_stripe(json.loads(_payload("charge.refunded", charge)))
    assert (event.object_ref, event.payment_ref, event.amount) == ("ch_123", "pi_123", Money(6000))
    assert (event.card_brand, event.card_last4) == ("visa", "4242")
    assert [(r.ref, r.amount, r.status, r.idempotency_key) for r in event.refunds] == [
        ("re_1", Money(1000), "succeeded", None),
        ("re_2", Money(5000), "pending", "pay_1:refund"),
    ]


def test_refund_and_dispute_objects_point_at_their_payment_intent() -> None:
    refund = {
        "id": "re_9",
        "object": "refund",
        "amount": 2500,
        "currency": "cad",
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
        "payment_intent": "pi_123",
        "charge": "ch_123",
        "metadata": {"idempotency_key": "k"},
    }
    event = gateway_event_from_stripe(json.loads(_payload("refund.failed", refund)))
    assert (event.object_ref, event.payment_ref, event.failure_code) == ("re_9", "pi_123", "expired_or_canceled_card")
    asked = {**refund, "status": "succeeded", "failure_reason": None, "reason": "requested_by_customer"}
    succeeded = gateway_event_from_stripe(json.loads(_payload("refund.updated", asked)))
    assert succeeded.failure_code is None  # why a refund was asked is not a failure
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 10000,
        "currency": "cad",
        "charge": "ch_123",
        "reason": "fraudulent",
        "status": "lost",
    }
    event = gateway_event_from_stripe(json.loads(_payload("charge.dispute.closed", dispute)))
    assert (event.object_ref, event.payment_ref, event.amount) == ("dp_1", "ch_123", Money(10000))
    assert (event.status, event.failure_code) == ("lost", "fraudulent")


def test_card_data_other_than_brand_and_last4_is_not_kept() -> None:
    charge = {
        "id": "ch_1",
        "object": "charge",
        "amount": 100,
        "amount_refunded": 0,
        "currency": "cad",
        "payment_method_details": {"card": {"brand": "visa", "last4": "42424242", "fingerprint": "abc"}},
    }
    event = gateway_event_from_stripe(json.loads(_payload("charge.refunded", charge)))
    assert event.card_brand == "visa"
    assert event.card_last4 is None  # not four digits: not kept


@pytest.mark.parametrize("header", ["t=1,v1=deadbeef", "", "garbage", sign(b"a different body")])
def test_a_bad_signature_is_rejected(header: str) -> None:
    payload = _payload("payment_intent.succeeded", INTENT)
    with pytest.raises(WebhookRejected):
        parse_stripe_event(payload, header, SECRET)


def test_another_secret_does_not_verify() -> None:
    payload = _payload("payment_intent.succeeded", INTENT)
    with pytest.raises(WebhookRejected):
        parse_stripe_event(payload, sign(payload, secret="whsec_someone_else"), SECRET)


def test_a_signature_older_than_the_tolerance_is_rejected() -> None:
    payload = _payload("payment_intent.succeeded", INTENT)
    stale = int(time.time()) - WEBHOOK_TOLERANCE_SECONDS - 5
    with pytest.raises(WebhookRejected):
        parse_stripe_event(payload, sign(payload, at=stale), SECRET)
    recent = int(time.time()) - WEBHOOK_TOLERANCE_SECONDS + 30
    assert parse_stripe_event(payload, sign(payload, at=recent), SECRET).id == "evt_1"


def test_no_secret_configured_and_a_body_that_is_not_json_are_rejected() -> None:
    payload = _payload("payment_intent.succeeded", INTENT)
    with pytest.raises(WebhookRejected):
        parse_stripe_event(payload, sign(payload, secret=""), "")
    with pytest.raises(WebhookRejected):
        parse_stripe_event(b"not json", sign(b"not json"), SECRET)


def test_the_rejection_says_nothing_secret() -> None:
    payload = _payload("payment_intent.succeeded", INTENT)
    with pytest.raises(WebhookRejected) as rejected:
        parse_stripe_event(payload, sign(payload, secret="whsec_other"), SECRET)
    assert SECRET not in str(rejected.value)
    assert rejected.value.code == "validation_error"  # answered 400 by the HTTP layer


def test_a_verified_event_drives_the_core(memory_app: App, clock: FixedClock) -> None:
    """What the endpoint will do: verify, parse, handle (on the sandbox, whose answer was lost)."""
    sandbox = memory_app.ctx.gateway
    sandbox.fail_after_charge = 1  # type: ignore[attr-defined]  # the sandbox's test switch
    with pytest.raises(PaymentGatewayUnavailable):
        reserve_vehicle(memory_app.ctx, Actor("cus_demo"), vehicle_id="veh_abc123", payment_token="tok_visa")
    with memory_app.ctx.uow() as uow:
        [reservation] = uow.reservations.list()
        deposit = uow.ledger.get_payment(idempotency_key=reservation.deposit_idempotency_key)
    assert deposit is not None
    charge = sandbox.find_charge(idempotency_key=deposit.idempotency_key, ledger_id=deposit.id)
    assert charge is not None
    body = {**INTENT, "id": charge.ref, "metadata": {"ledger_id": deposit.id}}
    payload = _payload("payment_intent.succeeded", body, event_id="evt_drive")
    processed = MemoryProcessedEvents()
    for _ in range(2):  # Stripe may deliver twice
        handle_gateway_event(memory_app.ctx, parse_stripe_event(payload, sign(payload), SECRET), processed=processed)
    assert get_reservation(memory_app.ctx, Actor("cus_demo"), reservation.id).reservation.status.value == "confirmed"
    record = processed.get("evt_drive")
    assert record is not None
    assert record.outcome == EventOutcome.PAYMENT_SUCCEEDED


@pytest.fixture
def receiver() -> Iterator[HttpStub]:
    """An HTTP endpoint that accepts every webhook delivery."""
    stub = HttpStub(lambda _request: json_answer(200, {}))
    yield stub
    stub.close()


def _wait_for(stub: HttpStub, event_type: str, object_id: str, timeout: float = 10.0) -> Recorded:
    """The delivery of ``event_type`` about ``object_id`` (localstripe also delivers the events of
    earlier tests' charges that were still queued when our endpoint was registered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for request in list(stub.requests):
            event = json.loads(request.body)
            if event.get("type") == event_type and event.get("data", {}).get("object", {}).get("id") == object_id:
                return request
        time.sleep(0.1)
    raise AssertionError(f"no {event_type} for {object_id} delivered within {timeout} s")


@pytest.mark.slow
def test_a_webhook_signed_by_localstripe_verifies(localstripe_url: str, receiver: HttpStub) -> None:
    """localstripe signs its deliveries with its own implementation of Stripe's scheme."""
    secret = "whsec_localstripe_" + uuid.uuid4().hex
    hook_id = "checkout_tests_" + uuid.uuid4().hex[:8]
    form = urllib.parse.urlencode({"url": receiver.url + "/webhooks/stripe", "secret": secret}).encode()
    request = urllib.request.Request(f"{localstripe_url}/_config/webhooks/{hook_id}", data=form, method="POST")  # noqa: S310 - local emulator
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local emulator
        assert response.status == 200

    gateway = make_gateway(localstripe_url)
    key = "hook_" + uuid.uuid4().hex
    charge = gateway.charge(
        amount=Money(10000),
        source="pm_card_visa",
        idempotency_key=key,
        description="",
        metadata={"ledger_id": "pay_hook"},
    )
    delivery = _wait_for(receiver, "payment_intent.succeeded", charge.ref)
    event = parse_stripe_event(delivery.body.encode(), delivery.headers["Stripe-Signature"], secret)
    assert event.type == "payment_intent.succeeded"
    assert event.payment_ref == charge.ref
    assert event.metadata["ledger_id"] == "pay_hook"
    with pytest.raises(WebhookRejected):
        parse_stripe_event(delivery.body.encode(), delivery.headers["Stripe-Signature"], "whsec_wrong")
