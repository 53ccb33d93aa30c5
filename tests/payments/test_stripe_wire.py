"""What the adapter puts on the wire, seen by a recording HTTP stub in place of Stripe.

localstripe ignores ``Idempotency-Key`` and cannot return a 5xx or a 429 on demand, and the
adapter speaks localstripe's older dialect to it; this stub shows the requests real Stripe gets:
the key on every POST, the same key on every SDK retry, cards only via
``allowed_payment_method_types``, and no card data at all."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from adapters.payments.stripe_gateway import StripeGateway
from checkout_core.errors import PaymentGatewayUnavailable, ValidationFailed
from checkout_core.money import Money
from checkout_core.ports.payments import ChargeResult, ChargeStatus
from tests.payments.conftest import make_gateway
from tests.payments.http_stub import Answer, HttpStub, Recorded, json_answer

INTENT = {
    "id": "pi_stub_1",
    "object": "payment_intent",
    "amount": 10000,
    "currency": "cad",
    "status": "succeeded",
    "metadata": {},
    "latest_charge": "ch_stub_1",
    "payment_method": {"id": "pm_stub_1", "object": "payment_method", "card": {"brand": "visa", "last4": "4242"}},
}


def _stripe_like(request: Recorded) -> Answer:
    if request.path.startswith("/v1/payment_methods"):
        return json_answer(200, {"id": "pm_from_token", "object": "payment_method", "type": "card"})
    return json_answer(200, INTENT)


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    server = HttpStub(_stripe_like)
    yield server
    server.close()


def _charge(gateway: StripeGateway, source: str = "pm_card_visa", key: str = "res_1:deposit") -> ChargeResult:
    return gateway.charge(
        amount=Money(10000),
        source=source,
        idempotency_key=key,
        description="Refundable deposit for reservation res_1",
        metadata={"reservation_id": "res_1", "ledger_id": "pay_1"},
    )


def test_a_charge_is_one_confirmed_payment_intent_with_our_key(stub: HttpStub) -> None:
    result = _charge(make_gateway(stub.url, emulator=False))
    assert result.status is ChargeStatus.SUCCEEDED
    [request] = stub.requests
    assert (request.method, request.path) == ("POST", "/v1/payment_intents")
    assert request.headers["Idempotency-Key"] == "res_1:deposit"
    form = request.form
    assert form["amount"] == ["10000"]
    assert form["currency"] == ["cad"]
    assert form["payment_method"] == ["pm_card_visa"]
    assert form["confirm"] == ["true"]
    assert form["allowed_payment_method_types[0]"] == ["card"]
    assert "payment_method_types[0]" not in form
    assert form["metadata[ledger_id]"] == ["pay_1"]
    assert form["metadata[idempotency_key]"] == ["res_1:deposit"]
    assert form["description"] == ["Refundable deposit for reservation res_1"]


def test_the_emulator_dialect_swaps_the_two_parameters_localstripe_refuses(stub: HttpStub) -> None:
    _charge(make_gateway(stub.url, emulator=True))
    form = stub.requests[0].form
    assert form["payment_method_types[0]"] == ["card"]
    assert "allowed_payment_method_types[0]" not in form
    assert "description" not in form
    # pointing the adapter at any host but api.stripe.com selects the emulator dialect
    _charge(StripeGateway("sk_test_x", stub.url, max_network_retries=0))
    assert "payment_method_types[0]" in stub.requests[1].form


def test_a_token_becomes_a_payment_method_first_with_its_own_key(stub: HttpStub) -> None:
    _charge(make_gateway(stub.url, emulator=False), source="tok_visa")
    first, second = stub.requests
    assert first.path == "/v1/payment_methods"
    assert first.form == {"type": ["card"], "card[token]": ["tok_visa"]}
    assert first.headers["Idempotency-Key"] == "res_1:deposit:payment_method"
    assert second.path == "/v1/payment_intents"
    assert second.form["payment_method"] == ["pm_from_token"]
    assert second.headers["Idempotency-Key"] == "res_1:deposit"


def test_something_that_is_not_a_token_never_leaves_the_process(stub: HttpStub) -> None:
    result = _charge(make_gateway(stub.url), source="4242424242424242")
    assert result.decline_code == "invalid_token"
    assert stub.requests == []


def test_5xx_is_retried_by_the_sdk_with_the_same_key_then_unavailable() -> None:
    server = HttpStub(lambda _request: json_answer(500, {"error": {"type": "api_error", "message": "boom"}}))
    try:
        gateway = make_gateway(server.url, max_network_retries=2)
        with pytest.raises(PaymentGatewayUnavailable):
            _charge(gateway, key="res_2:deposit")
        assert len(server.requests) == 3  # the first try and two retries
        assert {r.headers["Idempotency-Key"] for r in server.requests} == {"res_2:deposit"}
    finally:
        server.close()


def test_a_retry_that_gets_through_returns_the_charge() -> None:
    """A 503 then success: the caller never notices, and Stripe saw one key."""
    answers = itertools.chain([json_answer(503, {"error": {"type": "api_error"}})], itertools.repeat(None))

    def flaky(request: Recorded) -> Answer:
        return next(answers) or json_answer(200, INTENT)

    server = HttpStub(flaky)
    try:
        result = _charge(make_gateway(server.url, max_network_retries=2), key="res_3:deposit")
        assert result.ref == "pi_stub_1"
        assert [r.headers["Idempotency-Key"] for r in server.requests] == ["res_3:deposit"] * 2
    finally:
        server.close()


def test_rate_limit_is_unavailable_and_idempotency_conflict_is_a_validation_error() -> None:
    server = HttpStub(lambda _r: json_answer(429, {"error": {"type": "invalid_request_error", "code": "rate_limit"}}))
    try:
        with pytest.raises(PaymentGatewayUnavailable):
            _charge(make_gateway(server.url, max_network_retries=0))
    finally:
        server.close()
    server = HttpStub(lambda _r: json_answer(400, {"error": {"type": "idempotency_error", "message": "Keys for"}}))
    try:
        with pytest.raises(ValidationFailed):
            _charge(make_gateway(server.url, max_network_retries=0))
    finally:
        server.close()


def test_a_card_error_carries_stripes_decline_code_and_payment_intent() -> None:
    """Stripe's 402 includes the PaymentIntent and the PaymentMethod (localstripe's does not)."""
    declined_intent = {
        **INTENT,
        "id": "pi_declined",
        "status": "requires_payment_method",
        "payment_method": None,
    }
    body = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "charge": "ch_declined",
            "payment_intent": declined_intent,
            "payment_method": {"id": "pm_x", "card": {"brand": "visa", "last4": "9995"}},
        }
    }
    server = HttpStub(lambda _r: json_answer(402, body))
    try:
        result = _charge(make_gateway(server.url, max_network_retries=0))
        assert result.status is ChargeStatus.FAILED
        assert result.ref == "pi_declined"
        assert result.decline_code == "insufficient_funds"
        assert (result.card_brand, result.card_last4) == ("visa", "9995")
        assert len(server.requests) == 1  # a decline is an answer: never retried
    finally:
        server.close()


def test_3d_secure_required_is_a_decline_and_the_intent_is_cancelled() -> None:
    """Server-side confirmation has no customer to authenticate: ``requires_action`` is a
    failure (``authentication_required``) and the PaymentIntent is cancelled with its own key."""

    def answer(request: Recorded) -> Answer:
        if request.path.endswith("/cancel"):
            return json_answer(200, {**INTENT, "status": "canceled"})
        return json_answer(200, {**INTENT, "status": "requires_action"})

    server = HttpStub(answer)
    try:
        result = _charge(make_gateway(server.url, max_network_retries=0), key="res_4:deposit")
        assert result.status is ChargeStatus.FAILED
        assert result.decline_code == "authentication_required"
        cancel = server.requests[1]
        assert cancel.path == "/v1/payment_intents/pi_stub_1/cancel"
        assert cancel.headers["Idempotency-Key"] == "res_4:deposit:cancel"
    finally:
        server.close()


def test_find_charge_confirms_an_empty_search_with_the_consistent_list() -> None:
    """Search lags writes on Stripe: an empty search is checked against the list of recent
    PaymentIntents (with a ``created`` bound, which only real Stripe is sent)."""

    def answer(request: Recorded) -> Answer:
        if request.path.startswith("/v1/payment_intents/search"):
            return json_answer(200, {"object": "search_result", "data": [], "has_more": False, "url": "/v1/x"})
        found = {**INTENT, "metadata": {"idempotency_key": "res_5:deposit", "ledger_id": "pay_5"}}
        return json_answer(200, {"object": "list", "data": [found], "has_more": False, "url": "/v1/payment_intents"})

    server = HttpStub(answer)
    try:
        found = make_gateway(server.url, max_network_retries=0).find_charge(
            idempotency_key="res_5:deposit", ledger_id="pay_5"
        )
        assert found is not None
        assert found.ref == "pi_stub_1"
        search, listing = server.requests
        assert "metadata%5B%27idempotency_key%27%5D" in search.path
        assert "created%5Bgte%5D=" in listing.path
    finally:
        server.close()
