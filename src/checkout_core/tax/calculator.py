"""Sales tax on a sale: each component computed and rounded on its own, then added up.

Rounding per component (not once on the combined rate) is what appears on a Canadian invoice:
GST and QST, or GST and PST, are separate taxes remitted to separate governments, each in
whole cents. So a Québec total can differ by a cent from ``taxable * 14.975 %`` rounded once.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import attrs

from checkout_core.money import Money
from checkout_core.tax.rates import rates_in_force


@attrs.frozen
class TaxLine:
    """One tax component of a sale as charged: its kind, its rate and its rounded amount."""

    kind: str
    """GST, HST, PST, QST or RST."""
    rate: Decimal
    """The rate applied (a fraction: ``Decimal("0.13")`` is 13 %)."""
    amount: Money
    """``taxable * rate``, rounded half-up to the cent; never negative."""


@attrs.frozen
class TaxBreakdown:
    """All the sales tax of a sale: one line per component, their total and combined rate."""

    province: str
    """The province or territory code whose rates were applied."""
    taxable: Money
    """The amount the rates were applied to (may be negative; the tax is then zero)."""
    lines: tuple[TaxLine, ...]
    """One line per component, in the table's order (federal first)."""
    total: Money
    """Sum of the lines' amounts: the tax to pay."""
    rate: Decimal
    """Sum of the components' rates, e.g. ``Decimal("0.14975")`` in Québec."""

    def __attrs_post_init__(self) -> None:
        # The fields are stored (so they serialize plainly) but must never disagree.
        if self.total.cents != sum(line.amount.cents for line in self.lines):
            raise ValueError("tax total differs from the sum of its lines")
        if self.rate != sum((line.rate for line in self.lines), Decimal(0)):
            raise ValueError("tax rate differs from the sum of its lines' rates")


def compute_sales_tax(
    province: str,
    taxable: Money,
    on: date,
    *,
    tier_basis: Money | None = None,
) -> TaxBreakdown:
    """The sales tax on ``taxable`` for a buyer in ``province`` on the day ``on``.

    ``tier_basis`` is the amount that chooses a value-tiered rate (only B.C.'s passenger
    vehicle PST has tiers): the vehicle's purchase price before any trade-in. It defaults to
    ``taxable``. A negative ``taxable`` (a trade-in worth more than what is bought) owes no tax:
    every line is zero, never a negative tax.

    Raises :class:`~checkout_core.errors.ValidationFailed` for an unknown province or a date
    the rate table does not cover.
    """
    rates = rates_in_force(province, on)
    basis = taxable if tier_basis is None else tier_basis
    # Taxes are not refunded on a negative sale, so a negative amount is taxed as nothing.
    base = taxable if taxable.cents > 0 else Money.zero(taxable.currency)
    lines: list[TaxLine] = []
    for component in rates.components:
        rate = component.rate_for(basis)
        lines.append(TaxLine(kind=component.kind, rate=rate, amount=base.times(rate)))
    return TaxBreakdown(
        province=rates.province,
        taxable=taxable,
        lines=tuple(lines),
        total=Money(sum(line.amount.cents for line in lines), taxable.currency),
        rate=sum((line.rate for line in lines), Decimal(0)),
    )
