"""The one table of Canadian sales tax rates on a used passenger vehicle, by province and date.

Every rate the checkout charges comes from :data:`TAX_TABLE`. A rate change is a new row with
an ``effective_from`` date (and an ``effective_to`` on the row it replaces), never an edit of a
past row: an order priced last month must price the same way when re-read today.

Rates are ``Decimal`` fractions (``Decimal("0.13")`` is 13 %), never floats, so that the
amounts computed from them are exact until the one explicit rounding per component.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import attrs

from checkout_core.errors import ValidationFailed
from checkout_core.money import Money

GST = "GST"
HST = "HST"
PST = "PST"
QST = "QST"
RST = "RST"

TAX_KINDS: frozenset[str] = frozenset({GST, HST, PST, QST, RST})
"""The kinds of sales tax component a line of a tax breakdown can have."""

PROVINCES: tuple[str, ...] = (
    "AB",
    "BC",
    "MB",
    "NB",
    "NL",
    "NS",
    "NT",
    "NU",
    "ON",
    "PE",
    "QC",
    "SK",
    "YT",
)
"""The 13 Canadian province and territory codes (Canada Post abbreviations), sorted."""


def _rate_is_a_fraction(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    # A percentage typed where a fraction belongs (13 instead of 0.13) would multiply the tax
    # by a hundred; refuse it when the table is built rather than at a customer's checkout.
    if not isinstance(value, Decimal) or not value.is_finite() or not Decimal(0) <= value < Decimal(1):
        raise ValueError(f"{attribute.name} must be a Decimal fraction in [0, 1), got {value!r}")


@attrs.frozen
class RateTier:
    """A rate that replaces a component's base rate when the tier basis reaches ``threshold``.

    The whole rate switches (it is not a marginal rate on the part above the threshold), which
    is how B.C. taxes passenger vehicles: a $56,000 car pays 9 % on all of its price.
    """

    threshold: Money
    """The lowest tier basis, inclusive, at which ``rate`` applies."""
    rate: Decimal = attrs.field(validator=_rate_is_a_fraction)
    """The rate applied to the whole taxable amount from ``threshold`` up."""


def _tiers_ascending(
    instance: object, attribute: attrs.Attribute[tuple[RateTier, ...]], value: tuple[RateTier, ...]
) -> None:
    thresholds = [tier.threshold.cents for tier in value]
    if thresholds != sorted(set(thresholds)) or any(cents <= 0 for cents in thresholds):
        raise ValueError(f"{attribute.name} must have distinct positive thresholds in ascending order")


@attrs.frozen
class TaxComponent:
    """One sales tax levied in a province (e.g. GST, or B.C.'s PST) and how its rate is chosen."""

    kind: str = attrs.field(validator=attrs.validators.in_(TAX_KINDS))
    """One of GST, HST, PST, QST, RST."""
    base_rate: Decimal = attrs.field(validator=_rate_is_a_fraction)
    """The rate when no tier applies."""
    tiers: tuple[RateTier, ...] = attrs.field(default=(), validator=_tiers_ascending)
    """Value tiers, ascending by threshold; empty for a flat rate."""

    def rate_for(self, tier_basis: Money) -> Decimal:
        """The rate of this component for a sale whose tier basis (the vehicle's price) is given."""
        rate = self.base_rate
        for tier in self.tiers:
            if tier_basis.cents >= tier.threshold.cents:
                rate = tier.rate
        return rate


@attrs.frozen
class ProvincialRates:
    """The sales tax components of one province, in force from one date to another."""

    province: str = attrs.field(validator=attrs.validators.in_(PROVINCES))
    """Province or territory code, e.g. ``"ON"``."""
    effective_from: date
    """First day these rates apply, inclusive."""
    effective_to: date | None
    """Last day these rates apply, inclusive; ``None`` while they are still in force."""
    components: tuple[TaxComponent, ...]
    """The taxes levied, in the order they are shown to the buyer (federal first)."""

    def __attrs_post_init__(self) -> None:
        if not self.components:
            raise ValueError(f"{self.province} rates from {self.effective_from} have no component")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError(f"{self.province} rates end before they start")

    def in_force_on(self, on: date) -> bool:
        """True when ``on`` falls inside this row's validity, ends included."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


def _dollars(amount: int) -> Money:
    return Money(amount * 100)


_GST_5 = TaxComponent(GST, Decimal("0.05"))

# B.C. PST on a passenger vehicle bought from a dealer: 7 %, and the whole rate rises with the
# vehicle's purchase price. The $125,000 and $150,000 tiers were added by Budget 2018 and apply
# from 2018-04-01, which is why B.C.'s row starts there.
_BC_PASSENGER_VEHICLE_PST = TaxComponent(
    PST,
    Decimal("0.07"),
    tiers=(
        RateTier(_dollars(55_000), Decimal("0.08")),
        RateTier(_dollars(56_000), Decimal("0.09")),
        RateTier(_dollars(57_000), Decimal("0.10")),
        RateTier(_dollars(125_000), Decimal("0.15")),
        RateTier(_dollars(150_000), Decimal("0.20")),
    ),
)


def _hst(rate: str) -> tuple[TaxComponent, ...]:
    return (TaxComponent(HST, Decimal(rate)),)


# Effective dates are those of the rate itself (the last change of each component), so that any
# date since then prices correctly; earlier dates are refused rather than guessed.
TAX_TABLE: tuple[ProvincialRates, ...] = (
    ProvincialRates("AB", date(2008, 1, 1), None, (_GST_5,)),
    ProvincialRates("BC", date(2018, 4, 1), None, (_GST_5, _BC_PASSENGER_VEHICLE_PST)),
    ProvincialRates("MB", date(2019, 7, 1), None, (_GST_5, TaxComponent(RST, Decimal("0.07")))),
    ProvincialRates("NB", date(2016, 7, 1), None, _hst("0.15")),
    ProvincialRates("NL", date(2016, 7, 1), None, _hst("0.15")),
    ProvincialRates("NS", date(2010, 7, 1), date(2025, 3, 31), _hst("0.15")),
    ProvincialRates("NS", date(2025, 4, 1), None, _hst("0.14")),
    ProvincialRates("NT", date(2008, 1, 1), None, (_GST_5,)),
    ProvincialRates("NU", date(2008, 1, 1), None, (_GST_5,)),
    ProvincialRates("ON", date(2010, 7, 1), None, _hst("0.13")),
    ProvincialRates("PE", date(2016, 10, 1), None, _hst("0.15")),
    # QST has been levied on the price before GST (no tax on tax) since 2013-01-01.
    ProvincialRates("QC", date(2013, 1, 1), None, (_GST_5, TaxComponent(QST, Decimal("0.09975")))),
    ProvincialRates("SK", date(2017, 3, 23), None, (_GST_5, TaxComponent(PST, Decimal("0.06")))),
    ProvincialRates("YT", date(2008, 1, 1), None, (_GST_5,)),
)
"""Every sales tax rate the checkout knows, one row per province and validity period."""


def normalize_province(province: str) -> str:
    """The canonical code of ``province`` (surrounding blanks and letter case are forgiven).

    Raises :class:`ValidationFailed` naming the valid codes when it is not one of them.
    """
    code = province.strip().upper() if isinstance(province, str) else ""
    if code not in PROVINCES:
        raise ValidationFailed(
            f"unknown province {province!r}; expected one of {', '.join(PROVINCES)}",
            field="province",
            value=province,
            allowed=list(PROVINCES),
        )
    return code


def rates_in_force(province: str, on: date) -> ProvincialRates:
    """The sales tax rates of ``province`` in force on the day ``on``.

    Raises :class:`ValidationFailed` for an unknown province, or for a date the table does not
    cover (before the earliest row of that province).
    """
    code = normalize_province(province)
    for row in TAX_TABLE:
        if row.province == code and row.in_force_on(on):
            return row
    raise ValidationFailed(
        f"no sales tax rates are known for {code} on {on.isoformat()}",
        field="date",
        province=code,
        date=on.isoformat(),
    )
