"""What a buyer finances, and the monthly payment of a fixed-rate loan on it.

The monthly payment is standard amortization (equal payments, interest compounded monthly)::

    payment = P * r / (1 - (1 + r)^-n),   r = APR / 12 / 100,   n = term in months

computed in ``Decimal`` with far more digits than a cent needs, and rounded half-up to the
cent once, at the end. With an APR of 0 the formula divides by zero, and the payment is P / n.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from checkout_core.errors import ValidationFailed
from checkout_core.money import Money, round_half_up

MIN_TERM_MONTHS = 1
MAX_TERM_MONTHS = 120
MAX_APR_PERCENT = Decimal(100)

# 40 significant digits: (1 + r)^-120 loses nothing that could move a rounding to the cent,
# even for a principal of billions of cents.
_PRECISION = 40


def _require_money_not_negative(name: str, amount: Money) -> None:
    if not isinstance(amount, Money):
        raise ValidationFailed(f"{name} must be an amount of money", field=name)
    if amount.is_negative:
        raise ValidationFailed(f"{name} must not be negative, got {amount.format()}", field=name)


def financed_amount(total_due: Money, deposit: Money, down_payment: Money) -> Money:
    """The amount left to finance: ``total_due - deposit - down_payment``.

    The reservation deposit counts toward the order, like the down payment. Raises
    :class:`ValidationFailed` when an amount is negative, or when deposit and down payment
    together exceed the total due (the amount financed is never below zero).
    """
    _require_money_not_negative("totalDue", total_due)
    _require_money_not_negative("deposit", deposit)
    _require_money_not_negative("downPayment", down_payment)
    paid = deposit + down_payment
    if paid.cents > total_due.cents:
        raise ValidationFailed(
            f"deposit and down payment ({paid.format()}) exceed the total due ({total_due.format()})",
            field="downPayment",
        )
    return total_due - paid


def monthly_payment(principal: Money, apr_percent: Decimal, term_months: int) -> Money:
    """The monthly payment of a loan of ``principal`` at ``apr_percent`` over ``term_months``.

    ``apr_percent`` is the annual rate in percent (``Decimal("6.99")`` is 6.99 %). Raises
    :class:`ValidationFailed` for a negative principal, an APR outside [0, 100] or not a
    Decimal, or a term that is not a whole number of months from 1 to 120.
    """
    _require_money_not_negative("principal", principal)
    # A float APR would smuggle binary fractions into a Decimal computation.
    if not isinstance(apr_percent, Decimal) or not apr_percent.is_finite():
        raise ValidationFailed("APR must be a finite Decimal percentage", field="apr")
    if not Decimal(0) <= apr_percent <= MAX_APR_PERCENT:
        raise ValidationFailed(f"APR must be between 0 and {MAX_APR_PERCENT} percent, got {apr_percent}", field="apr")
    # bool is an int subclass; True months is a bug, not a term.
    if isinstance(term_months, bool) or not isinstance(term_months, int):
        raise ValidationFailed("term must be a whole number of months", field="termMonths")
    if not MIN_TERM_MONTHS <= term_months <= MAX_TERM_MONTHS:
        raise ValidationFailed(
            f"term must be {MIN_TERM_MONTHS} to {MAX_TERM_MONTHS} months, got {term_months}",
            field="termMonths",
        )
    p = Decimal(principal.cents)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if apr_percent == 0:
            exact = p / term_months
        else:
            r = apr_percent / 12 / 100
            exact = p * r / (1 - (1 + r) ** -term_months)
        return Money(round_half_up(exact), principal.currency)
