"""Financed amount and the monthly payment of a fixed-rate amortized loan."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkout_core.errors import ValidationFailed
from checkout_core.money import Money
from checkout_core.pricing import financed_amount, monthly_payment

# The APR the demo financing application uses: 60 months at 5.22 % gives the closest payment
# to the spec's monthlyPayment 32900 on its financingAmount 1734224 (see docs/pricing-and-tax.md).
DEMO_APR = Decimal("5.22")
DEMO_TERM = 60


def test_the_spec_financed_amount() -> None:
    # totalDue 1994224 - deposit 10000 - down payment 250000.
    assert financed_amount(Money(1994224), Money(10000), Money(250000)) == Money(1734224)


def test_paying_everything_up_front_finances_nothing() -> None:
    assert financed_amount(Money(1994224), Money(10000), Money(1984224)) == Money(0)


def test_paying_more_than_is_due_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="exceed the total due"):
        financed_amount(Money(1994224), Money(10000), Money(1984225))


@pytest.mark.parametrize(("deposit", "down"), [(-1, 0), (0, -1)])
def test_negative_payments_are_refused(deposit: int, down: int) -> None:
    with pytest.raises(ValidationFailed):
        financed_amount(Money(100000), Money(deposit), Money(down))


@pytest.mark.parametrize(
    ("principal", "apr", "term", "expected"),
    [
        # $10,000 at 12 % over 12 months: r = 0.01, 10000 * 0.01 / (1 - 1.01^-12) = 888.4878868…
        (1000000, "12", 12, 88849),
        # $20,000 at 6 % over 60 months: r = 0.005, 20000 * 0.005 / (1 - 1.005^-60) = 386.6560306…
        (2000000, "6", 60, 38666),
        # The demo: 17342.24 * r / (1 - (1 + r)^-60), r = 5.22 / 1200 → 329.0202932…
        (1734224, "5.22", 60, 32902),
        # One month: principal plus a month of interest, 1000.00 * 1.01 = 1010.00.
        (100000, "12", 1, 101000),
    ],
)
def test_known_amortization_values(principal: int, apr: str, term: int, expected: int) -> None:
    assert monthly_payment(Money(principal), Decimal(apr), term) == Money(expected)


@pytest.mark.parametrize(
    ("principal", "term", "expected"),
    [
        (1734224, 60, 28904),  # 28903.7333… → 28904
        (1000000, 12, 83333),  # 83333.33… → 83333
        (150, 100, 2),  # 1.5 → 2 (half-up)
        (250, 100, 3),  # 2.5 → 3, not banker's 2
        (0, 60, 0),
    ],
)
def test_zero_apr_divides_the_principal(principal: int, term: int, expected: int) -> None:
    assert monthly_payment(Money(principal), Decimal(0), term) == Money(expected)


def test_zero_principal_pays_nothing() -> None:
    assert monthly_payment(Money(0), Decimal("7.99"), 72) == Money(0)


@pytest.mark.parametrize("term", [0, -12, 121, True])
def test_term_is_1_to_120_whole_months(term: int) -> None:
    with pytest.raises(ValidationFailed):
        monthly_payment(Money(1734224), DEMO_APR, term)


def test_term_bounds_are_inclusive() -> None:
    assert monthly_payment(Money(1200), Decimal(0), 1) == Money(1200)
    assert monthly_payment(Money(1200), Decimal(0), 120) == Money(10)


@pytest.mark.parametrize("apr", [Decimal("-0.01"), Decimal("100.01"), Decimal("NaN"), 5.22])
def test_apr_is_a_decimal_percentage_in_range(apr: Decimal) -> None:
    with pytest.raises(ValidationFailed):
        monthly_payment(Money(1734224), apr, DEMO_TERM)


def test_negative_principal_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        monthly_payment(Money(-1), DEMO_APR, DEMO_TERM)


def _exact_payment(principal: int, apr: Decimal, term: int) -> Fraction:
    r = Fraction(apr) / 1200
    if r == 0:
        return Fraction(principal, term)
    return principal * r / (1 - (1 + r) ** -term)


@given(
    st.integers(min_value=0, max_value=10**10),
    st.decimals(min_value=0, max_value=40, places=2, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=120),
)
def test_payment_is_the_exact_amortization_rounded_to_the_cent(principal: int, apr: Decimal, term: int) -> None:
    payment = monthly_payment(Money(principal), apr, term)
    exact = _exact_payment(principal, apr, term)
    assert abs(Fraction(payment.cents) - exact) <= Fraction(1, 2)
    # Interest is never negative: the payments repay at least the principal (less rounding).
    assert payment.cents * term >= principal - term / 2


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=120))
def test_a_higher_apr_never_lowers_the_payment(principal: int, term: int) -> None:
    low = monthly_payment(Money(principal), Decimal("4.99"), term)
    high = monthly_payment(Money(principal), Decimal("5.00"), term)
    assert low <= high
