"""The price of a vehicle purchase: vehicle, trade-in credit, fees, sales tax and total due.

The order of operations is the one on a Canadian bill of sale and in the spec's example::

    subtotal  = vehicle price - trade-in credit + admin fee + documentation fee
    tax       = per-component sales tax on the subtotal (fees are taxable; the trade-in is not)
    total due = subtotal + tax + licence and plate fee (not taxable)
"""

from __future__ import annotations

from datetime import date

import attrs

from checkout_core.errors import ValidationFailed
from checkout_core.money import Money
from checkout_core.pricing.fees import FeeSchedule
from checkout_core.tax.calculator import TaxBreakdown, compute_sales_tax
from checkout_core.tax.rates import normalize_province


@attrs.frozen
class Pricing:
    """The itemised price of one purchase, every amount in cents."""

    province: str
    """The buyer's province or territory code; it chose the tax rates."""
    priced_on: date
    """The day whose tax rates were applied."""
    vehicle_price: Money
    """The vehicle's selling price."""
    trade_in_credit: Money
    """The credit for the buyer's trade-in, as a positive amount (the API shows it negated)."""
    admin_fee: Money
    """Administration fee."""
    documentation_fee: Money
    """Documentation fee."""
    subtotal: Money
    """``vehicle_price - trade_in_credit + admin_fee + documentation_fee``: the taxable amount."""
    tax: TaxBreakdown
    """The sales tax on ``subtotal``, per component."""
    total_due: Money
    """``subtotal + tax.total + licence_fee``: what the buyer owes before deposit and down payment."""
    licence_fee: Money = attrs.Factory(Money.zero)
    """Licence and plate fee: not taxable, so added after the tax (orders priced before it existed
    read back with none)."""


def _require_not_negative(name: str, amount: Money) -> None:
    if not isinstance(amount, Money):
        raise ValidationFailed(f"{name} must be an amount of money", field=name)
    if amount.is_negative:
        raise ValidationFailed(f"{name} must not be negative, got {amount.format()}", field=name)


def price_purchase(
    *,
    vehicle_price: Money,
    trade_in_credit: Money,
    province: str,
    on: date,
    fees: FeeSchedule,
) -> Pricing:
    """Price the purchase of a vehicle for a buyer in ``province``, with the rates of day ``on``.

    Pass ``Money.zero()`` as ``trade_in_credit`` when there is no trade-in.

    Raises :class:`ValidationFailed` when an amount is negative, when the trade-in credit is
    larger than the vehicle price, or for an unknown province or uncovered date.
    """
    _require_not_negative("vehiclePrice", vehicle_price)
    _require_not_negative("tradeInCredit", trade_in_credit)
    _require_not_negative("adminFee", fees.admin_fee)
    _require_not_negative("documentationFee", fees.documentation_fee)
    _require_not_negative("licenceFee", fees.licence_fee)
    if trade_in_credit.cents > vehicle_price.cents:
        # A trade-in worth more than the car would be a payout to the buyer, which is not a
        # sale this checkout handles (and would push the taxable amount below the fees).
        raise ValidationFailed(
            f"trade-in credit {trade_in_credit.format()} is larger than the vehicle price {vehicle_price.format()}",
            field="tradeInCredit",
        )
    code = normalize_province(province)
    subtotal = vehicle_price - trade_in_credit + fees.admin_fee + fees.documentation_fee
    # B.C. picks the passenger-vehicle PST rate by the purchase price before the trade-in is
    # deducted, and the fees charged as a condition of the sale are part of that price (see
    # docs/pricing-and-tax.md). Other provinces have no tiers, so the basis does not matter there.
    tier_basis = vehicle_price + fees.admin_fee + fees.documentation_fee
    tax = compute_sales_tax(code, subtotal, on, tier_basis=tier_basis)
    return Pricing(
        province=code,
        priced_on=on,
        vehicle_price=vehicle_price,
        trade_in_credit=trade_in_credit,
        admin_fee=fees.admin_fee,
        documentation_fee=fees.documentation_fee,
        subtotal=subtotal,
        tax=tax,
        total_due=subtotal + tax.total + fees.licence_fee,
        licence_fee=fees.licence_fee,
    )
