"""Money as an integer number of cents with a currency, and the one rounding rule we use.

Every amount in the system is a whole number of cents. Fractions of a cent only exist
transiently inside tax and interest calculations, as ``Decimal``, and are brought back to
cents by :func:`round_half_up` — explicitly, at one named place per component.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import attrs

CAD = "CAD"


def round_half_up(value: Decimal) -> int:
    """Round a Decimal number of cents to a whole cent, halves away from zero.

    ``round()`` on floats uses banker's rounding and binary fractions; tax law and
    customers expect 0.5 cent to round up, so every rounding in the core goes through here.
    """
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@attrs.frozen(order=True)
class Money:
    """An amount of money: integer ``cents`` in ``currency`` (ISO 4217, upper case)."""

    cents: int = attrs.field(validator=attrs.validators.instance_of(int))
    currency: str = attrs.field(default=CAD, validator=attrs.validators.in_({CAD}))

    @classmethod
    def zero(cls, currency: str = CAD) -> Money:
        """The zero amount in ``currency``."""
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.cents + other.cents, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.cents - other.cents, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.cents, self.currency)

    def times(self, rate: Decimal) -> Money:
        """This amount multiplied by ``rate``, rounded half-up to the cent."""
        return Money(round_half_up(Decimal(self.cents) * rate), self.currency)

    @property
    def is_negative(self) -> bool:
        """True when below zero."""
        return self.cents < 0

    def format(self) -> str:
        """Human form, e.g. ``$24,999.00``; negative amounts as ``-$8,000.00``."""
        sign = "-" if self.cents < 0 else ""
        dollars, cents = divmod(abs(self.cents), 100)
        return f"{sign}${dollars:,}.{cents:02d}"
