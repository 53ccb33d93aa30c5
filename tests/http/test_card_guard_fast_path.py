"""The card guard passes most JSON bodies without decoding them (``_nothing_to_find``, issue 16):
only when no key, string or number of the document could hold a card number, nest too deep or
fail to decode. Shown here as a property — wherever the shortcut passes a body, the full scan
would have found nothing and raised nothing — and through HTTP for the bodies it must not pass:
a card number spelled with JSON escapes or as a float's exponent."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from entrypoints.http import card_guard
from entrypoints.http.problems import HttpProblem
from entrypoints.redaction import contains_card_number, luhn_valid
from tests.http.conftest import new_key

Client = TestClient[Litestar]

DIGITS = "4242424242424242"


def _full_scan(body: bytes) -> str | None:
    """What ``scan_request`` answered for a JSON body before the shortcut (its own steps)."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return "(body)" if contains_card_number(body.decode("utf-8", errors="replace")) else None
    except (RecursionError, UnicodeDecodeError):
        return "400"
    try:
        return card_guard._scan_json(document, nul_possible=b"\\u0000" in body)
    except HttpProblem:
        return "400"


# Text made of what card numbers and their disguises are made of: digits, separators, the
# letters of an exponent, escapes, quotes, non-ASCII.
_PIECES = st.text(alphabet='0123456789 .-+%2DeE\\"é{}[],:xu', max_size=60)
_NUMBERS = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([4.242424242424242e15, 4242424242424242.0, 42424242424242.42]),
)
_VALUES = st.recursive(
    st.none() | st.booleans() | _NUMBERS | _PIECES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_PIECES, inner, max_size=4),
    max_leaves=12,
)
_CARDS = st.sampled_from([DIGITS, "4242 4242 4242 4242", "378282246310005", "5555-5555-5555-4444", "4000056655665556"])


def _luhn_completed(prefix: str) -> str:
    """``prefix`` and the check digit that makes ``prefix + digit + "000000"`` pass Luhn."""
    return next(prefix + d for d in "0123456789" if luhn_valid(prefix + d + "000000"))


@st.composite
def _disguised(draw: st.DrawFn) -> bytes:
    """A card number as JSON can spell it without its digits in a row: some characters as
    ``\\u`` escapes, or as a float whose exponent adds the digits (``4.242424242e15`` is
    ``4242424242000000.0`` once read)."""
    if draw(st.booleans()):
        digits = _luhn_completed(str(draw(st.integers(10**8, 10**9 - 1))))
        return b'{"n": %s.%se15}' % (digits[0].encode(), digits[1:].encode())
    card = draw(_CARDS)
    escaped = draw(st.lists(st.booleans(), min_size=len(card), max_size=len(card)))
    text = "".join(f"\\u{ord(c):04x}" if e else c for c, e in zip(card, escaped, strict=True))
    return b'{"k": "' + text.encode() + b'"}'


_BODIES = st.one_of(
    _disguised(),
    _VALUES.map(lambda v: json.dumps(v).encode()),
    _VALUES.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    _PIECES.map(lambda t: t.encode("utf-8")),
    st.binary(max_size=80),
)


@settings(max_examples=3000, deadline=None)
@given(_BODIES)
def test_a_body_passed_unread_is_one_the_full_scan_passes(body: bytes) -> None:
    if card_guard._nothing_to_find(body):
        assert _full_scan(body) is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"token": "' + b"".join(b"\\u%04x" % ord(c) for c in DIGITS) + b'"}',  # every digit escaped
        b'{"token": "4242\\u00204242\\u00204242\\u00204242"}',  # the separators escaped
        b'{"amount": 4.242424242e15}',  # 4242424242000000.0 once read: a Luhn-valid 16 digits
        b'{"amount": 42424242.42E+8}',
    ],
    ids=["escaped-digits", "escaped-spaces", "exponent", "exponent-upper"],
)
def test_disguised_card_numbers_are_still_refused(client: Client, customer: dict[str, str], body: bytes) -> None:
    assert not card_guard._nothing_to_find(body)
    response = client.post(
        "/api/v1/reservations",
        content=body[:-1] + b', "vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}}',
        headers={**customer, "Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "card_data_not_accepted"


def test_an_ordinary_reservation_is_passed_unread(
    client: Client, customer: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(document: Any, *, nul_possible: bool) -> str | None:
        raise AssertionError("the full scan ran")

    monkeypatch.setattr(card_guard, "_scan_json", never)
    response = client.post(
        "/api/v1/reservations",
        json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}},
        headers={**customer, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 201, response.text
