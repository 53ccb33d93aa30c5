"""The dealer's fixed fees on a purchase, passed into pricing rather than written in its rules."""

from __future__ import annotations

import attrs

from checkout_core.money import Money


def _not_negative(instance: object, attribute: attrs.Attribute[Money], value: Money) -> None:
    if not isinstance(value, Money):
        raise TypeError(f"{attribute.name} must be Money, got {type(value).__name__}")
    if value.is_negative:
        raise ValueError(f"{attribute.name} must not be negative, got {value.format()}")


@attrs.frozen
class FeeSchedule:
    """The fees added to every purchase. The admin and documentation fees are taxable like the
    vehicle itself; the licence and plate fee (collected for the province's registration) is not.

    The defaults are the marketplace's current fees; settings may pass others, and tests pass
    explicit values so that a fee change cannot silently change a test's meaning.
    """

    admin_fee: Money = attrs.field(default=Money(49900), validator=_not_negative)
    """Administration fee ($499.00 by default)."""
    documentation_fee: Money = attrs.field(default=Money(15000), validator=_not_negative)
    """Documentation fee ($150.00 by default)."""
    licence_fee: Money = attrs.field(default=Money(0), validator=_not_negative)
    """Licence and plate fee, not taxable ($0 by default: the dealer registers no plates)."""

    @property
    def total(self) -> Money:
        """All fees together."""
        return self.admin_fee + self.documentation_fee + self.licence_fee
