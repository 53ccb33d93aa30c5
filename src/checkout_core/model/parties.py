"""The people and records around a purchase: contact details, advisors, trade-in offers and
financing applications. Offers and applications are owned by other systems; we read them by id
and never trust amounts a client repeats back to us."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from decimal import Decimal

import attrs

from checkout_core.errors import ValidationFailed
from checkout_core.money import Money
from checkout_core.tax.rates import normalize_province

_POSTAL_CODE = re.compile(r"^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE_DIGITS = re.compile(r"\D")


def normalize_postal_code(value: str) -> str:
    """``m5v2t6`` → ``M5V 2T6``; raises on anything that is not a Canadian postal code."""
    compact = value.strip().upper().replace(" ", "")
    if not _POSTAL_CODE.match(compact):
        raise ValidationFailed(f"postal code {value!r} is not a Canadian postal code", field="postalCode")
    return f"{compact[:3]} {compact[3:]}"


def validate_province(value: str) -> str:
    """Upper-case two-letter province or territory code, or ValidationFailed."""
    return normalize_province(value)


def validate_email(value: str) -> str:
    """A plausible e-mail address (one @, a dotted domain), or ValidationFailed."""
    if len(value) > 254 or not _EMAIL.match(value.strip()):
        raise ValidationFailed(f"{value!r} is not a valid e-mail address", field="email")
    return value.strip()


def validate_phone(value: str) -> str:
    """A North American phone number with 10 digits (optionally a leading 1)."""
    digits = _PHONE_DIGITS.sub("", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        raise ValidationFailed(f"{value!r} is not a 10-digit phone number", field="phone")
    return value.strip()


@attrs.frozen(kw_only=True)
class Address:
    """A Canadian street address."""

    street: str
    city: str
    province: str
    postal_code: str

    @classmethod
    def parse(cls, *, street: str, city: str, province: str, postal_code: str) -> Address:
        """Validate and normalise an address given by a client."""
        if not street.strip() or len(street) > 200:
            raise ValidationFailed("street is required (at most 200 characters)", field="street")
        if not city.strip() or len(city) > 100:
            raise ValidationFailed("city is required (at most 100 characters)", field="city")
        return cls(
            street=street.strip(),
            city=city.strip(),
            province=validate_province(province),
            postal_code=normalize_postal_code(postal_code),
        )

    def one_line(self) -> str:
        """``123 Main St, Toronto ON M5V 2T6``."""
        return f"{self.street}, {self.city} {self.province} {self.postal_code}"


@attrs.frozen(kw_only=True)
class ContactInfo:
    """The buyer as they appear on the agreement."""

    first_name: str
    last_name: str
    email: str
    phone: str
    address: Address

    @property
    def full_name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"


@attrs.frozen(kw_only=True)
class Customer:
    """A registered shopper (the ``sub`` of their token)."""

    id: str
    contact: ContactInfo


@attrs.frozen(kw_only=True)
class Advisor:
    """A sales advisor who looks after orders."""

    id: str
    name: str
    email: str
    phone: str
    active: bool = True


@attrs.frozen(kw_only=True)
class TradeInOffer:
    """An appraisal of the customer's current car, valid until ``expires_at``."""

    id: str
    customer_id: str
    credit: Money
    description: str = ""
    expires_at: datetime | None = None


class FinancingStatus(enum.StrEnum):
    """Where a financing application stands at the lender."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


@attrs.frozen(kw_only=True)
class FinancingApplication:
    """An application to a lender. Only ``approved`` ones can back an order."""

    id: str
    customer_id: str
    status: FinancingStatus
    apr_percent: Decimal
    term_months: int
    lender: str = ""
    max_amount: Money | None = None
