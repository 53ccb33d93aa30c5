"""Pricing of a purchase: fees, the itemised price with sales tax, and financing."""

from checkout_core.pricing.fees import FeeSchedule
from checkout_core.pricing.financing import (
    MAX_APR_PERCENT,
    MAX_TERM_MONTHS,
    MIN_TERM_MONTHS,
    financed_amount,
    monthly_payment,
)
from checkout_core.pricing.quote import Pricing, price_purchase

__all__ = [
    "MAX_APR_PERCENT",
    "MAX_TERM_MONTHS",
    "MIN_TERM_MONTHS",
    "FeeSchedule",
    "Pricing",
    "financed_amount",
    "monthly_payment",
    "price_purchase",
]
