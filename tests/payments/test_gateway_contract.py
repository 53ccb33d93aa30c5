"""One behaviour suite for both PaymentGateway adapters: the offline sandbox and Stripe (the real
SDK against localstripe). The core relies on exactly these behaviours.

The last tests run on the sandbox only, for what localstripe cannot show: it ignores
Idempotency-Key (so "same key → same charge" and "same key, other parameters → error" are
Stripe's documented behaviour that only the sandbox reproduces), and it knows no ``tok_…`` test
tokens and none of the decline cards but ``pm_card_chargeCustomerFail``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.payments.sandbox import SandboxGateway
from adapters.system.clock import SystemClock
from checkout_core.errors import RefundNotAllowed, ValidationFailed
from checkout_core.money import Money
from checkout_core.ports.payments import ChargeResult, ChargeStatus, PaymentGateway, RefundOutcome
from tests.payments.conftest import make_gateway

DEPOSIT = Money(10000)


@pytest.fixture(params=["sandbox", pytest.param("stripe", marks=pytest.mark.slow)])
def gateway(request: pytest.FixtureRequest) -> Iterator[PaymentGateway]:
    """Each adapter in turn."""
    if request.param == "sandbox":
        sandbox = SandboxGateway(SystemClock())
        yield sandbox
        sandbox.close()
    else:
        yield make_gateway(request.getfixturevalue("localstripe_url"))


def _key() -> str:
    return f"contract_{uuid.uuid4().hex}"


def _charge(gateway: PaymentGateway, source: str = "pm_card_visa", key: str | None = None) -> ChargeResult:
    key = key or _key()
    return gateway.charge(
        amount=DEPOSIT, source=source, idempotency_key=key, description="contract", metadata={"ledger_id": "pay_" + key}
    )


def test_a_good_card_is_charged(gateway: PaymentGateway) -> None:
    result = _charge(gateway)
    assert result.status is ChargeStatus.SUCCEEDED
    assert result.amount == DEPOSIT
    assert result.ref
    assert (result.card_brand, result.card_last4) == ("visa", "4242")


def test_a_decline_is_a_result_with_a_code(gateway: PaymentGateway) -> None:
    result = _charge(gateway, "pm_card_chargeCustomerFail")
    assert result.status is ChargeStatus.FAILED
    assert result.decline_code  # generic_decline (Stripe, sandbox) / card_declined (localstripe)
    assert result.ref


def test_something_that_is_not_a_token_is_an_invalid_token(gateway: PaymentGateway) -> None:
    result = _charge(gateway, "4242424242424242")
    assert result.status is ChargeStatus.FAILED
    assert result.decline_code == "invalid_token"


def test_a_zero_amount_is_refused(gateway: PaymentGateway) -> None:
    with pytest.raises(ValidationFailed):
        gateway.charge(amount=Money(0), source="pm_card_visa", idempotency_key=_key(), description="", metadata={})


def test_refunds_are_partial_or_full_never_more(gateway: PaymentGateway) -> None:
    charge = _charge(gateway)
    part = gateway.refund(charge_ref=charge.ref, amount=Money(4000), idempotency_key=_key(), reason="contract")
    assert part.status is RefundOutcome.SUCCEEDED
    assert part.amount == Money(4000)
    with pytest.raises(RefundNotAllowed):
        gateway.refund(charge_ref=charge.ref, amount=Money(6001), idempotency_key=_key(), reason="contract")
    rest = gateway.refund(charge_ref=charge.ref, amount=Money(6000), idempotency_key=_key(), reason="contract")
    assert rest.status is RefundOutcome.SUCCEEDED
    assert gateway.get_refund(part.ref) == part


def test_the_same_refund_key_gives_the_same_refund(gateway: PaymentGateway) -> None:
    charge = _charge(gateway)
    key = _key()
    first = gateway.refund(charge_ref=charge.ref, amount=DEPOSIT, idempotency_key=key, reason="contract")
    assert gateway.refund(charge_ref=charge.ref, amount=DEPOSIT, idempotency_key=key, reason="contract") == first


def test_a_declined_charge_cannot_be_refunded(gateway: PaymentGateway) -> None:
    declined = _charge(gateway, "pm_card_chargeCustomerFail")
    with pytest.raises(RefundNotAllowed):
        gateway.refund(charge_ref=declined.ref, amount=DEPOSIT, idempotency_key=_key(), reason="contract")


def test_find_charge_finds_what_was_made_and_nothing_else(gateway: PaymentGateway) -> None:
    key = _key()
    made = _charge(gateway, key=key)
    found = gateway.find_charge(idempotency_key=key, ledger_id="pay_" + key)
    assert found is not None
    assert (found.ref, found.status, found.amount) == (made.ref, made.status, made.amount)
    assert gateway.find_charge(idempotency_key=_key(), ledger_id="pay_never_made") is None


def test_activity_has_the_charge_and_the_refund(gateway: PaymentGateway) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    key = _key()
    charge = _charge(gateway, key=key)
    refund = gateway.refund(charge_ref=charge.ref, amount=Money(100), idempotency_key="rk_" + key, reason="x")
    records = {(r.kind, r.ref): r for r in gateway.activity(since, datetime.now(UTC) + timedelta(seconds=5))}
    assert records["charge", charge.ref].ledger_id == "pay_" + key
    assert records["charge", charge.ref].idempotency_key == key
    assert records["charge", charge.ref].status == "succeeded"
    assert records["refund", refund.ref].idempotency_key == "rk_" + key
    assert records["refund", refund.ref].amount == Money(100)


# -- sandbox only: what localstripe cannot show --------------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[SandboxGateway]:
    """The offline gateway."""
    gateway = SandboxGateway(SystemClock())
    yield gateway
    gateway.close()


def test_same_key_same_charge(sandbox: SandboxGateway) -> None:
    """Stripe's idempotency (localstripe ignores the header and would charge twice)."""
    key = _key()
    first = _charge(sandbox, key=key)
    assert _charge(sandbox, key=key) == first
    charges = [
        r for r in sandbox.activity(datetime.now(UTC) - timedelta(minutes=1), datetime.now(UTC)) if r.kind == "charge"
    ]
    assert [r.ref for r in charges] == [first.ref]


def test_same_key_other_parameters_is_an_error(sandbox: SandboxGateway) -> None:
    key = _key()
    _charge(sandbox, key=key)
    with pytest.raises(ValidationFailed):
        sandbox.charge(amount=Money(5000), source="pm_card_visa", idempotency_key=key, description="", metadata={})


@pytest.mark.parametrize(
    ("token", "status", "decline_code"),
    [
        ("tok_visa", ChargeStatus.SUCCEEDED, None),
        ("tok_mastercard", ChargeStatus.SUCCEEDED, None),
        ("tok_chargeDeclined", ChargeStatus.FAILED, "generic_decline"),
        ("tok_chargeDeclinedInsufficientFunds", ChargeStatus.FAILED, "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", ChargeStatus.FAILED, "expired_card"),
    ],
)
def test_stripe_test_tokens(
    sandbox: SandboxGateway, token: str, status: ChargeStatus, decline_code: str | None
) -> None:
    """Stripe's documented test tokens (localstripe knows none of the ``tok_…`` ones)."""
    result = _charge(sandbox, token)
    assert result.status is status
    assert result.decline_code == decline_code


def test_one_charge_per_key_across_gateways_sharing_a_file(tmp_path: Path) -> None:
    """The server, the CLI and job workers of one installation share the sandbox's file: a key
    charged from all of them at once is charged once, and each is told of that one charge
    (its UNIQUE index decides, not the per-process lock)."""
    path = tmp_path / "sandbox.sqlite3"
    gateways = [SandboxGateway(SystemClock(), path) for _ in range(4)]
    key = _key()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda n: _charge(gateways[n % 4], key=key), range(16)))
        assert {r.ref for r in results} == {results[0].ref}
        assert results[0].status is ChargeStatus.SUCCEEDED
        since = datetime.now(UTC) - timedelta(minutes=1)
        assert [r.ref for r in gateways[1].activity(since, datetime.now(UTC)) if r.kind == "charge"] == [results[0].ref]
        with pytest.raises(ValidationFailed, match="different parameters"):
            gateways[2].charge(
                amount=Money(5000), source="pm_card_visa", idempotency_key=key, description="", metadata={}
            )
    finally:
        for gateway in gateways:
            gateway.close()


def test_a_declined_charge_is_answered_again_for_its_key(sandbox: SandboxGateway) -> None:
    key = _key()
    first = _charge(sandbox, "tok_chargeDeclinedLostCard", key=key)
    assert (first.status, first.decline_code, first.card_last4) == (ChargeStatus.FAILED, "lost_card", "9987")
    assert _charge(sandbox, "tok_chargeDeclinedLostCard", key=key) == first
    with pytest.raises(ValidationFailed, match="amount must be positive"):
        sandbox.charge(amount=Money(0), source="pm_card_visa", idempotency_key=_key(), description="", metadata={})
