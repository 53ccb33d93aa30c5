"""A language's catalogue of the agreement's words and formats (see the package docstring).

The words of the purchase agreement, one catalogue per language.

A :class:`Catalogue` holds every string the agreement prints (keyed templates filled with
``str.format``) and the language's ways of writing amounts, dates, numbers and rates: English
``$24,999.00``, ``December 23, 2025``, ``13%``; French ``24 999,00 $``, ``23 décembre 2025``,
``13 %``. The renderer never holds a sentence of its own, so a language is added by adding a
catalogue module (:mod:`.en`, :mod:`.fr`), and a missing key fails the tests of every language.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import attrs

from checkout_core.money import Money

#: French spacing: a no-break space (in Latin-1, which the PDF standard fonts cover) keeps
#: ``24 999,00 $`` and ``13 %`` on one line.
NBSP = "\u00a0"


@attrs.frozen(kw_only=True)
class Catalogue:
    """One language's strings and formats."""

    language: str
    #: The PDF's ``/Lang`` (``en-CA``, ``fr-CA``).
    locale: str
    months: tuple[str, ...]
    strings: Mapping[str, str]
    thousands: str
    decimal_point: str
    currency_after: bool
    first_of_month: str = ""
    """How the first day of a month is written (French ``1er``); empty: ``1``."""

    def t(self, key: str, /, **values: object) -> str:
        """The string ``key`` with ``values`` filled in (KeyError for an unknown key)."""
        template = self.strings[key]
        return template.format(**values) if values else template

    def number(self, value: int) -> str:
        """``34500`` → ``34,500`` / ``34 500``."""
        return f"{value:,}".replace(",", self.thousands)

    def money(self, amount: Money) -> str:
        """``$24,999.00`` / ``24 999,00 $``; negative amounts with a leading minus."""
        sign = "-" if amount.cents < 0 else ""
        dollars, cents = divmod(abs(amount.cents), 100)
        figure = f"{self.number(dollars)}{self.decimal_point}{cents:02d}"
        return f"{sign}{figure}{NBSP}$" if self.currency_after else f"{sign}${figure}"

    def less(self, amount: Money) -> str:
        """A deduction, printed negative; nothing to deduct prints as zero."""
        return self.money(-amount) if amount.cents else self.money(Money.zero(amount.currency))

    def date(self, day: date) -> str:
        """``December 23, 2025`` / ``23 décembre 2025`` (independent of the process locale)."""
        month = self.months[day.month - 1]
        if self.language == "fr":
            first = self.first_of_month if day.day == 1 and self.first_of_month else str(day.day)
            return f"{first} {month} {day.year}"
        return f"{month} {day.day}, {day.year}"

    def percent(self, rate: Decimal) -> str:
        """A fraction as a percentage without trailing zeros: ``0.09975`` → ``9.975%`` / ``9,975 %``."""
        return self.percent_value(rate * 100)

    def percent_value(self, value: Decimal) -> str:
        """A value already in percent: ``5.217`` → ``5.217%`` / ``5,217 %``."""
        figure = f"{value.normalize():f}".replace(".", self.decimal_point)
        return f"{figure}{NBSP}%" if self.language == "fr" else f"{figure}%"
