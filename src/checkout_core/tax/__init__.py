"""Canadian sales tax: the rate table and the per-component calculator."""

from checkout_core.tax.calculator import TaxBreakdown, TaxLine, compute_sales_tax
from checkout_core.tax.rates import (
    GST,
    HST,
    PROVINCES,
    PST,
    QST,
    RST,
    TAX_KINDS,
    TAX_TABLE,
    ProvincialRates,
    RateTier,
    TaxComponent,
    normalize_province,
    rates_in_force,
)

__all__ = [
    "GST",
    "HST",
    "PROVINCES",
    "PST",
    "QST",
    "RST",
    "TAX_KINDS",
    "TAX_TABLE",
    "ProvincialRates",
    "RateTier",
    "TaxBreakdown",
    "TaxComponent",
    "TaxLine",
    "compute_sales_tax",
    "normalize_province",
    "rates_in_force",
]
