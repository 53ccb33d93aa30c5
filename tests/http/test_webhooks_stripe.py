"""``POST /api/v1/webhooks/stripe``: signed like Stripe signs, verified before anything else,
each event handled once, harmless when duplicated or out of order.

The sandbox gateway sends no webhooks, so each test builds the event Stripe would send about
what the sandbox really did (its PaymentIntent ids, amounts and our metadata) and signs it as
Stripe documents: ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
Stripe's tolerance is checked against the wall clock, so signatures use real time."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.payments.sandbox import SandboxGateway
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.model.payments import Payment
from checkout_core.ports.payments import ChargeResult
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.http.conftest import new_key, place_spec_order

Client = TestClient[Litestar]

SECRET = "whsec_http_tests_" + "k" * 24
JWT_SECRET = "jwt-secret-for-webhook-tests-" + "j" * 16
WEBHOOK = "/api/v1/webhooks/stripe"
_event_ids = itertools.count(1)


@pytest.fixture
def core(clock: FixedClock) -> Iterator[App]:
    """The in-memory app with the demo data and a Stripe webhook secret configured."""
    app = bootstrap_in_memory(
        clock=clock,
        ids=SequentialIds(),
        settings=Settings(stripe_webhook_secret=SECRET, jwt_secret=JWT_SECRET),
    )
    load_demo(app.ctx.uow)
    yield app
    app.close()


def sign(payload: bytes, secret: str = SECRET, at: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``, computed as Stripe does."""
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def stripe_event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    """A Stripe event's JSON body."""
    return json.dumps(
        {
            "id": event_id or f"evt_http{next(_event_ids):06d}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()


def intent(charge: ChargeResult, payment: Payment, status: str = "succeeded") -> dict[str, Any]:
    """The PaymentIntent Stripe would describe for ``charge`` (our ids in its metadata, as we send them)."""
    return {
        "id": charge.ref,
        "object": "payment_intent",
        "amount": charge.amount.cents,
        "currency": "cad",
        "status": status,
        "metadata": {"ledger_id": payment.id, "idempotency_key": payment.idempotency_key},
        "latest_charge": charge.charge_id,
        "payment_method": "pm_1Nvisa",
    }


def deliver(client: Client, payload: bytes, signature: str | None = None, **headers: str) -> Any:
    """POST a delivery as Stripe does: the raw JSON body and its signature, no token."""
    sent = {"Content-Type": "application/json; charset=utf-8", **headers}
    sent["Stripe-Signature"] = sign(payload) if signature is None else signature
    return client.post(WEBHOOK, content=payload, headers=sent)


def sandbox(app: App) -> SandboxGateway:
    gateway = app.ctx.gateway
    assert isinstance(gateway, SandboxGateway)
    return gateway


def lost_deposit(client: Client, core: App, customer: dict[str, str]) -> tuple[str, Payment, ChargeResult]:
    """Reserve the Civic while the sandbox loses the charge's answer: (reservation id, our pending
    deposit, what the gateway really did)."""
    sandbox(core).fail_after_charge = 1
    response = client.post(
        "/api/v1/reservations",
        json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}},
        headers={**customer, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 503, response.text
    with core.ctx.uow() as uow:
        [reservation] = uow.reservations.list(customer_id="cus_demo")
        deposit = uow.ledger.get_payment(idempotency_key=reservation.deposit_idempotency_key)
    assert deposit is not None
    assert deposit.status.value == "pending"
    charge = sandbox(core).find_charge(idempotency_key=deposit.idempotency_key, ledger_id=deposit.id)
    assert charge is not None  # the money was taken: only the answer was lost
    return reservation.id, deposit, charge


def reservation_status(client: Client, customer: dict[str, str], reservation_id: str) -> str:
    response = client.get(f"/api/v1/reservations/{reservation_id}", headers=customer)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def ledger_snapshot(core: App) -> list[tuple[str, str, str | None, int]]:
    """Every payment of the last month: (id, status, gateway ref, refunded cents)."""
    now = core.ctx.clock.now()
    with core.ctx.uow() as uow:
        payments = uow.ledger.payments_for(
            created_since=now - timedelta(days=30), created_before=now + timedelta(days=30)
        )
        return [(p.id, p.status.value, p.gateway_ref, p.refunded.cents) for p in payments]


def test_a_lost_deposit_answer_is_settled_by_the_signed_webhook(
    client: Client, core: App, customer: dict[str, str]
) -> None:
    reservation_id, deposit, charge = lost_deposit(client, core, customer)
    assert reservation_status(client, customer, reservation_id) == "pending_deposit"

    response = deliver(client, stripe_event("payment_intent.succeeded", intent(charge, deposit)))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"received": True, "outcome": "payment_succeeded"}
    assert reservation_status(client, customer, reservation_id) == "confirmed"
    body = client.get(f"/api/v1/reservations/{reservation_id}", headers=customer).json()
    assert body["depositCharge"]["id"] == charge.ref
    assert body["depositCharge"]["status"] == "succeeded"


def test_no_token_and_no_idempotency_key_are_needed(client: Client, core: App, customer: dict[str, str]) -> None:
    _, deposit, charge = lost_deposit(client, core, customer)
    payload = stripe_event("payment_intent.succeeded", intent(charge, deposit))
    # An Idempotency-Key (Stripe sends none) is ignored: the event id decides, not a stored answer.
    first = deliver(client, payload, **{"Idempotency-Key": "same"})
    second = deliver(client, payload, **{"Idempotency-Key": "same"})
    assert first.status_code == second.status_code == 200
    assert "idempotent-replayed" not in second.headers
    assert second.json()["outcome"] == "duplicate"


def test_a_duplicate_delivery_changes_nothing(client: Client, core: App, customer: dict[str, str]) -> None:
    reservation_id, deposit, charge = lost_deposit(client, core, customer)
    payload = stripe_event("payment_intent.succeeded", intent(charge, deposit))
    assert deliver(client, payload).json()["outcome"] == "payment_succeeded"
    before = ledger_snapshot(core)

    again = deliver(client, payload)  # Stripe retries after a timeout on its side, re-signed

    assert again.status_code == 200
    assert again.json() == {"received": True, "outcome": "duplicate"}
    assert ledger_snapshot(core) == before
    assert reservation_status(client, customer, reservation_id) == "confirmed"
    record = core.processed_gateway_events.get(json.loads(payload)["id"])
    assert record is not None
    assert record.outcome == "payment_succeeded"


def test_out_of_order_events_are_harmless(client: Client, core: App, customer: dict[str, str]) -> None:
    """A late ``payment_failed`` (an earlier attempt's) after ``succeeded`` never undoes the success;
    ``succeeded`` after the API answer was recorded changes nothing."""
    reservation_id, deposit, charge = lost_deposit(client, core, customer)
    succeeded = stripe_event("payment_intent.succeeded", intent(charge, deposit))
    failed = stripe_event("payment_intent.payment_failed", intent(charge, deposit, status="requires_payment_method"))

    assert deliver(client, succeeded).json()["outcome"] == "payment_succeeded"
    late = deliver(client, failed)
    assert late.status_code == 200
    assert late.json()["outcome"] == "no_change"
    assert reservation_status(client, customer, reservation_id) == "confirmed"
    [(_, status, ref, _)] = ledger_snapshot(core)
    assert (status, ref) == ("succeeded", charge.ref)


def test_a_webhook_after_the_api_answer_changes_nothing(client: Client, core: App, customer: dict[str, str]) -> None:
    order = place_spec_order(client, customer)  # the deposit's answer was recorded by the API call
    with core.ctx.uow() as uow:
        [deposit] = uow.ledger.payments_for(reservation_id=order["reservationId"])
    charge = sandbox(core).find_charge(idempotency_key=deposit.idempotency_key, ledger_id=deposit.id)
    assert charge is not None
    before = ledger_snapshot(core)
    response = deliver(client, stripe_event("payment_intent.succeeded", intent(charge, deposit)))
    assert response.status_code == 200
    assert response.json()["outcome"] == "no_change"
    assert ledger_snapshot(core) == before


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda payload: "", id="missing"),
        pytest.param(lambda payload: "t=1,v1=deadbeef", id="garbage"),
        pytest.param(lambda payload: sign(payload, secret="whsec_someone_else_" + "x" * 20), id="other-secret"),
        pytest.param(lambda payload: sign(payload, at=int(time.time()) - 301), id="stale"),
        pytest.param(lambda payload: sign(payload.replace(b"succeeded", b"succeeded ")), id="other-body"),
    ],
)
def test_a_bad_signature_is_400_and_nothing_changes(
    client: Client, core: App, customer: dict[str, str], forge: Any
) -> None:
    reservation_id, deposit, charge = lost_deposit(client, core, customer)
    payload = stripe_event("payment_intent.succeeded", intent(charge, deposit))
    before = ledger_snapshot(core)

    response = deliver(client, payload, signature=forge(payload))

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "webhook_rejected"
    assert SECRET not in response.text
    assert ledger_snapshot(core) == before
    assert reservation_status(client, customer, reservation_id) == "pending_deposit"
    assert core.processed_gateway_events.get(json.loads(payload)["id"]) is None
    # The genuine delivery still goes through afterwards: nothing was half-done.
    assert deliver(client, payload).json()["outcome"] == "payment_succeeded"


def test_a_body_that_is_not_an_event_is_400(client: Client) -> None:
    payload = b"not json at all"
    response = deliver(client, payload, signature=sign(payload))
    assert (response.status_code, response.json()["code"]) == (400, "webhook_rejected")


def test_without_a_configured_secret_the_endpoint_is_503(clock: FixedClock) -> None:
    app = bootstrap_in_memory(clock=clock, settings=Settings(jwt_secret=JWT_SECRET))
    try:
        with TestClient(create_app(app), raise_server_exceptions=False) as client:
            payload = stripe_event("payment_intent.succeeded", {"id": "pi_1", "object": "payment_intent"})
            response = deliver(client, payload)
        assert response.status_code == 503
        assert response.json()["code"] == "webhooks_not_configured"
        assert response.headers["content-type"] == "application/problem+json"
    finally:
        app.close()


def test_an_order_payment_still_in_flight_is_deferred_with_409(
    client: Client, core: App, customer: dict[str, str], clock: FixedClock
) -> None:
    """Stripe's webhook for a card payment whose API answer is still awaited (here: lost, within
    the grace period) gets 409, so Stripe delivers it again; after the grace period it settles."""
    order = place_spec_order(client, customer)
    sandbox(core).fail_after_charge = 1
    paid = client.post(
        f"/api/v1/orders/{order['orderId']}/payments/card",
        json={"token": "tok_visa", "amount": 50000},
        headers={**customer, "Idempotency-Key": new_key()},
    )
    assert paid.status_code == 503
    with core.ctx.uow() as uow:
        pending = uow.ledger.payments_for(order_id=order["orderId"])[-1]
    charge = sandbox(core).find_charge(idempotency_key=pending.idempotency_key, ledger_id=pending.id)
    assert charge is not None
    payload = stripe_event("payment_intent.succeeded", intent(charge, pending))

    deferred = deliver(client, payload)
    assert deferred.status_code == 409
    assert deferred.json()["code"] == "webhook_deferred"
    assert core.processed_gateway_events.get(json.loads(payload)["id"]) is None

    clock.advance(core.ctx.policy.recovery_grace + timedelta(seconds=1))
    redelivered = deliver(client, payload)
    assert redelivered.status_code == 200
    assert redelivered.json()["outcome"] == "payment_succeeded"
    view = client.get(f"/api/v1/orders/{order['orderId']}", headers=customer).json()
    assert view["payment"]["totalPaid"] == order["payment"]["totalPaid"] + 50000


def test_unknown_event_types_are_acknowledged(client: Client) -> None:
    response = deliver(client, stripe_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "ignored"}
