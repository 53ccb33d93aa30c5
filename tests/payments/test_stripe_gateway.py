"""The Stripe adapter with the real SDK against localstripe.

What localstripe cannot show is covered elsewhere and named here:

- it ignores ``Idempotency-Key`` (a repeated create makes a second object): same key → same
  charge is shown on the sandbox (test_gateway_contract.py), and that every request carries the
  key, also on SDK retries, on the wire (test_stripe_wire.py);
- it cannot turn a ``tok_…`` token into a PaymentMethod, and only ``pm_card_chargeCustomerFail``
  declines a charge (``pm_card_visa_chargeDeclined`` succeeds, other ``pm_card_…`` ids are
  unknown): ``tok_visa`` / ``tok_chargeDeclined…`` are shown on the sandbox;
- it does not check refunds against what is left (the adapter does, so that is shown here);
- it has no search endpoint: ``find_charge`` falls back to listing PaymentIntents.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from adapters.payments.stripe_gateway import REJECTED_PREFIX, StripeGateway
from checkout_core.errors import PaymentGatewayUnavailable, RefundNotAllowed, ValidationFailed
from checkout_core.money import Money
from checkout_core.ports.payments import ChargeResult, ChargeStatus, RefundOutcome
from tests.payments.conftest import make_gateway
from tests.payments.http_stub import LosingProxy
from tests.payments.localstripe_process import API_KEY, free_port

pytestmark = pytest.mark.slow

DEPOSIT = Money(10000)


def _key() -> str:
    return f"test_{uuid.uuid4().hex}"


def _charge(gateway: StripeGateway, source: str = "pm_card_visa", amount: Money = DEPOSIT, **meta: str) -> ChargeResult:
    key = _key()
    return gateway.charge(
        amount=amount,
        source=source,
        idempotency_key=key,
        description="Refundable deposit for a test",
        metadata={"ledger_id": meta.get("ledger_id", "pay_" + key)},
    )


def test_charge_with_pm_card_visa_succeeds_and_keeps_only_brand_and_last4(stripe_gateway: StripeGateway) -> None:
    result = _charge(stripe_gateway)
    assert result.status is ChargeStatus.SUCCEEDED
    assert result.ref.startswith("pi_")
    assert result.charge_id is not None
    assert result.charge_id.startswith("ch_")
    assert result.amount == DEPOSIT
    assert (result.card_brand, result.card_last4) == ("visa", "4242")
    assert result.decline_code is None


def test_pm_card_charge_customer_fail_is_a_decline_with_its_payment_intent(stripe_gateway: StripeGateway) -> None:
    result = _charge(stripe_gateway, "pm_card_chargeCustomerFail")
    assert result.status is ChargeStatus.FAILED
    # localstripe answers 402 with only the charge id; the adapter looks up its PaymentIntent.
    assert result.ref.startswith("pi_")
    assert result.decline_code == "card_declined"
    assert result.message == "Your card was declined."


def test_unknown_payment_method_is_refused_as_an_invalid_token(stripe_gateway: StripeGateway) -> None:
    result = _charge(stripe_gateway, "pm_card_doesNotExist")
    assert result.status is ChargeStatus.FAILED
    assert result.decline_code == "invalid_token"
    assert result.ref.startswith(REJECTED_PREFIX)


def test_a_tok_token_is_refused_by_localstripe_as_an_invalid_token(stripe_gateway: StripeGateway) -> None:
    """localstripe cannot create a PaymentMethod from ``card[token]`` (400), so a token is an
    invalid token there; on Stripe (and the sandbox) ``tok_visa`` succeeds."""
    result = _charge(stripe_gateway, "tok_visa")
    assert result.status is ChargeStatus.FAILED
    assert result.decline_code == "invalid_token"


def test_partial_then_full_refund_and_nothing_more(stripe_gateway: StripeGateway) -> None:
    charge = _charge(stripe_gateway)
    first = stripe_gateway.refund(charge_ref=charge.ref, amount=Money(3000), idempotency_key=_key(), reason="test")
    assert first.status is RefundOutcome.SUCCEEDED
    assert first.amount == Money(3000)
    assert first.ref.startswith("re_")
    with pytest.raises(RefundNotAllowed) as too_much:
        stripe_gateway.refund(charge_ref=charge.ref, amount=Money(7001), idempotency_key=_key(), reason="test")
    assert too_much.value.details["refundable"] == 7000
    rest = stripe_gateway.refund(charge_ref=charge.ref, amount=Money(7000), idempotency_key=_key(), reason="test")
    assert rest.status is RefundOutcome.SUCCEEDED
    with pytest.raises(RefundNotAllowed):
        stripe_gateway.refund(charge_ref=charge.ref, amount=Money(1), idempotency_key=_key(), reason="test")
    assert stripe_gateway.get_refund(first.ref) == first


def test_refund_with_the_same_key_returns_the_first_refund(stripe_gateway: StripeGateway) -> None:
    """Shown on localstripe even though it ignores Idempotency-Key: the adapter finds the first
    refund by the key in its metadata (which also outlives Stripe's 24-hour key window)."""
    charge = _charge(stripe_gateway)
    key = _key()
    first = stripe_gateway.refund(charge_ref=charge.ref, amount=DEPOSIT, idempotency_key=key, reason="test")
    again = stripe_gateway.refund(charge_ref=charge.ref, amount=DEPOSIT, idempotency_key=key, reason="test")
    assert again == first
    with pytest.raises(ValidationFailed):
        stripe_gateway.refund(charge_ref=charge.ref, amount=Money(500), idempotency_key=key, reason="test")


def test_refunds_of_unknown_or_declined_charges_are_refused(stripe_gateway: StripeGateway) -> None:
    with pytest.raises(RefundNotAllowed):
        stripe_gateway.refund(charge_ref="pi_doesnotexist", amount=DEPOSIT, idempotency_key=_key(), reason="test")
    declined = _charge(stripe_gateway, "pm_card_chargeCustomerFail")
    with pytest.raises(RefundNotAllowed):
        stripe_gateway.refund(charge_ref=declined.ref, amount=DEPOSIT, idempotency_key=_key(), reason="test")
    with pytest.raises(RefundNotAllowed):
        stripe_gateway.get_refund("re_doesnotexist")


def test_find_charge_after_a_lost_response(losing_proxy: LosingProxy, stripe_gateway: StripeGateway) -> None:
    """The PaymentIntent is created, its answer is lost: the caller sees the gateway as
    unavailable, and find_charge (same key, ledger id) finds what really happened."""
    through_proxy = make_gateway(losing_proxy.url, max_network_retries=0, emulator=True)
    key = _key()
    with pytest.raises(PaymentGatewayUnavailable):
        through_proxy.charge(
            amount=DEPOSIT,
            source="pm_card_visa",
            idempotency_key=key,
            description="lost answer",
            metadata={"ledger_id": "pay_" + key},
        )
    found = stripe_gateway.find_charge(idempotency_key=key, ledger_id="pay_" + key)
    assert found is not None
    assert found.status is ChargeStatus.SUCCEEDED
    assert found.amount == DEPOSIT
    assert found.ref.startswith("pi_")
    assert found.card_last4 == "4242"
    # by the ledger id alone, too (a key from another attempt)
    assert stripe_gateway.find_charge(idempotency_key=_key(), ledger_id="pay_" + key) == found


def test_find_charge_reports_a_declined_attempt_and_none_for_a_charge_never_made(
    stripe_gateway: StripeGateway,
) -> None:
    key = _key()
    stripe_gateway.charge(
        amount=DEPOSIT,
        source="pm_card_chargeCustomerFail",
        idempotency_key=key,
        description="declined",
        metadata={"ledger_id": "pay_" + key},
    )
    found = stripe_gateway.find_charge(idempotency_key=key, ledger_id="pay_" + key)
    assert found is not None
    assert found.status is ChargeStatus.FAILED
    assert found.decline_code == "card_declined"
    assert stripe_gateway.find_charge(idempotency_key=_key(), ledger_id="pay_never") is None


def test_activity_lists_charges_and_refunds_of_the_window(fresh_localstripe: str) -> None:
    gateway = make_gateway(fresh_localstripe)
    since = datetime.now(UTC) - timedelta(seconds=5)
    paid = _charge(gateway, ledger_id="pay_paid")
    declined = _charge(gateway, "pm_card_chargeCustomerFail", ledger_id="pay_declined")
    refund = gateway.refund(charge_ref=paid.ref, amount=Money(2500), idempotency_key="rfd_key_1", reason="test")
    until = datetime.now(UTC) + timedelta(seconds=5)

    records = {(r.kind, r.ref): r for r in gateway.activity(since, until)}
    assert set(records) == {("charge", paid.ref), ("charge", declined.ref), ("refund", refund.ref)}
    assert records["charge", paid.ref].status == "succeeded"
    assert records["charge", paid.ref].amount == DEPOSIT
    assert records["charge", paid.ref].ledger_id == "pay_paid"
    assert records["charge", declined.ref].status == "failed"
    assert records["refund", refund.ref].amount == Money(2500)
    assert records["refund", refund.ref].idempotency_key == "rfd_key_1"
    assert all(since <= r.created_at < until for r in records.values())
    # a window before everything, and one after, are empty
    assert list(gateway.activity(since - timedelta(hours=2), since - timedelta(hours=1))) == []
    assert list(gateway.activity(until + timedelta(hours=1), until + timedelta(hours=2))) == []


def test_activity_pages_through_more_than_one_page(fresh_localstripe: str) -> None:
    """The SDK's auto-paging (localstripe pages by ``starting_after`` too)."""
    gateway = make_gateway(fresh_localstripe)
    since = datetime.now(UTC) - timedelta(seconds=5)
    refs = {_charge(gateway, amount=Money(100 + n)).ref for n in range(105)}
    records = [r for r in gateway.activity(since, datetime.now(UTC) + timedelta(seconds=5)) if r.kind == "charge"]
    assert {r.ref for r in records} == refs


def test_unreachable_gateway_raises_unavailable() -> None:
    gateway = make_gateway(f"http://127.0.0.1:{free_port()}", max_network_retries=1)
    with pytest.raises(PaymentGatewayUnavailable):
        gateway.charge(amount=DEPOSIT, source="pm_card_visa", idempotency_key=_key(), description="x", metadata={})
    with pytest.raises(PaymentGatewayUnavailable):
        gateway.find_charge(idempotency_key=_key(), ledger_id="pay_x")
    with pytest.raises(PaymentGatewayUnavailable):
        gateway.refund(charge_ref="pi_x", amount=DEPOSIT, idempotency_key=_key(), reason="x")
    with pytest.raises(PaymentGatewayUnavailable):
        list(gateway.activity(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)))


def test_the_api_key_never_shows_in_the_repr() -> None:
    gateway = StripeGateway("sk_test_secret_value_123", "http://127.0.0.1:1")
    assert "sk_test" not in repr(gateway)
    with pytest.raises(ValueError, match="STRIPE_API_KEY"):
        StripeGateway("")


def test_no_token_key_or_card_detail_reaches_a_log(
    stripe_gateway: StripeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Everything at DEBUG, including the SDK's own logger (which logs request and response
    bodies, and Stripe's error messages quoting the token): none of it may carry a token, the
    API key, or card details beyond what we keep."""
    caplog.set_level(logging.DEBUG)
    key = _key()
    paid = _charge(stripe_gateway, "pm_card_visa")
    _charge(stripe_gateway, "pm_card_chargeCustomerFail")
    _charge(stripe_gateway, "pm_card_secretLookingToken")  # Stripe's error quotes it
    _charge(stripe_gateway, "tok_visa")
    _charge(stripe_gateway, "4242424242424242")
    stripe_gateway.refund(charge_ref=paid.ref, amount=Money(100), idempotency_key=key, reason="test")
    stripe_gateway.find_charge(idempotency_key=key, ledger_id="pay_x")
    text = caplog.text
    assert caplog.records  # our own lines (ids and outcomes) are there
    for secret in ("pm_card_visa", "pm_card_secretLookingToken", "tok_visa", "4242424242424242", API_KEY, "exp_year"):
        assert secret not in text
