"""Webhook deliveries are counted by provider, event type and verdict."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from entrypoints.bootstrap import App
from tests.http.test_webhooks_stripe import core as core  # the fixture: a webhook secret configured
from tests.http.test_webhooks_stripe import deliver, intent, lost_deposit, sign, stripe_event
from tests.observability.test_http_observability import sample

Client = TestClient[Litestar]
WEBHOOK = "/api/v1/webhooks/stripe"


def test_webhook_deliveries_are_counted_by_type_and_verdict(
    client: Client, core: App, customer: dict[str, str]
) -> None:
    before = client.get("/metrics").text
    _reservation_id, deposit, charge = lost_deposit(client, core, customer)
    payload = stripe_event("payment_intent.succeeded", intent(charge, deposit))
    deliver(client, payload)
    deliver(client, payload)
    forged = client.post(
        WEBHOOK,
        content=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload, secret="whsec_wrong")},
    )
    after = client.get("/metrics").text

    def moved(**labels: str) -> float:
        return sample(after, "checkout_webhook_events_total", **labels) - sample(
            before, "checkout_webhook_events_total", **labels
        )

    assert forged.status_code == 400
    assert moved(provider="stripe", type="payment_intent.succeeded", verdict="payment_succeeded") == 1
    assert moved(provider="stripe", type="payment_intent.succeeded", verdict="duplicate") == 1
    assert moved(provider="stripe", type="unverified", verdict="rejected") == 1
    assert sample(after, "checkout_refusals_total", reason="webhook_signature") >= 1
