"""Vehicle identification numbers (ISO 3779, with the North American check digit).

A VIN has 17 characters, digits and capital letters except I, O and Q (too easily read as 1
and 0). In North America the 9th character is a check digit: each character is given a value
(letters by the transliteration table below), multiplied by its position's weight, and the sum
taken modulo 11 (10 is written ``X``). A mistyped or invented VIN almost always fails it, and a
car sold under a wrong VIN cannot be registered, so every VIN is checked where a car enters.
"""

from __future__ import annotations

import string

from checkout_core.errors import ValidationFailed

VIN_LENGTH = 17
_ALLOWED = frozenset(string.digits + string.ascii_uppercase) - frozenset("IOQ")
_VALUES = {
    **{d: int(d) for d in string.digits},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
#: The 10th character for model years 2010-2039 (the same letters served 1980-2009).
_MODEL_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"


def check_digit(vin: str) -> str:
    """The check digit (``0``-``9`` or ``X``) a 17-character VIN of allowed characters must
    carry in its 9th position (whatever it carries now)."""
    total = sum(_VALUES[ch] * weight for ch, weight in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def with_check_digit(vin: str) -> str:
    """``vin`` with its 9th character replaced by the right check digit (for making test and
    demo VINs; never to "fix" a VIN typed by someone)."""
    return vin[:8] + check_digit(vin) + vin[9:]


def model_year_code(year: int) -> str:
    """The 10th VIN character of a model year (1980-2039)."""
    if not 1980 <= year <= 2039:
        raise ValueError(f"model year {year} has no VIN code")
    return _MODEL_YEAR_CODES[(year - 1980) % 30]


def validate_vin(value: str) -> str:
    """The VIN in capitals, or ValidationFailed (``field="vin"``) saying what is wrong: not 17
    characters, a character that is not allowed (I, O, Q, punctuation), or a wrong check digit."""
    vin = value.strip().upper() if isinstance(value, str) else ""
    if len(vin) != VIN_LENGTH:
        raise ValidationFailed(f"VIN {value!r} must have 17 characters, not {len(vin)}", field="vin", value=value)
    bad = sorted({ch for ch in vin if ch not in _ALLOWED})
    if bad:
        raise ValidationFailed(
            f"VIN {value!r} contains {', '.join(repr(ch) for ch in bad)}: only digits and letters other than "
            "I, O and Q are allowed",
            field="vin",
            value=value,
        )
    expected = check_digit(vin)
    if vin[8] != expected:
        raise ValidationFailed(
            f"VIN {value!r} fails its check digit (9th character {vin[8]!r}, expected {expected!r}); "
            "it was probably mistyped",
            field="vin",
            value=value,
        )
    return vin


def is_valid_vin(value: str) -> bool:
    """Whether :func:`validate_vin` accepts ``value``."""
    try:
        validate_vin(value)
    except ValidationFailed:
        return False
    return True
