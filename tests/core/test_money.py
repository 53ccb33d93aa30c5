"""Money in integer cents and the one rounding rule (half-up, halves away from zero)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkout_core.money import Money, round_half_up


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("0.4999", 0),
        ("0.5", 1),
        ("1.5", 2),
        # Banker's rounding would give 2 here; tax law and customers expect 3.
        ("2.5", 3),
        ("229424.0", 229424),
        ("176038.8", 176039),
        ("-0.4999", 0),
        ("-0.5", -1),
        ("-2.5", -3),
        ("-1.2", -1),
    ],
)
def test_round_half_up(value: str, expected: int) -> None:
    assert round_half_up(Decimal(value)) == expected


def test_times_rounds_half_up_to_the_cent() -> None:
    assert Money(1764800).times(Decimal("0.13")) == Money(229424)
    assert Money(10).times(Decimal("0.05")) == Money(1)  # 0.5 cent
    assert Money(30).times(Decimal("0.05")) == Money(2)  # 1.5 cents
    assert Money(-10).times(Decimal("0.05")) == Money(-1)


def test_arithmetic_and_sign() -> None:
    a, b = Money(2499900), Money(800000)
    assert a - b == Money(1699900)
    assert a + b == Money(3299900)
    assert -b == Money(-800000)
    assert (-b).is_negative
    assert not Money.zero().is_negative
    assert Money(5) < Money(6)


def test_format() -> None:
    assert Money(2499900).format() == "$24,999.00"
    assert Money(-800000).format() == "-$8,000.00"
    assert Money(5).format() == "$0.05"


def test_only_integer_cents_in_cad() -> None:
    with pytest.raises(TypeError):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="currency"):
        Money(1, "USD")


@given(st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False, places=6))
def test_round_half_up_is_within_half_a_cent(value: Decimal) -> None:
    rounded = round_half_up(value)
    assert abs(Decimal(rounded) - value) <= Decimal("0.5")
    # Halves go away from zero, so rounding is symmetric around zero.
    assert round_half_up(-value) == -rounded


@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=-(10**12), max_value=10**12))
def test_addition_is_exact(a: int, b: int) -> None:
    assert (Money(a) + Money(b)).cents == a + b
    assert (Money(a) - Money(b)).cents == a - b
