"""The row ↔ domain mapping on its own (no database): every field of every value object is
written, read back equal, and a document of the wrong shape is refused, not half-read."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import attrs
import pytest
from sqlalchemy.dialects import sqlite

from adapters.sql import mapping
from adapters.sql.tables import UtcDateTime
from checkout_core.model.order import Order, SigningEnvelope
from checkout_core.money import Money
from checkout_core.tax.calculator import TaxBreakdown, TaxLine
from tests.sql.builders import (
    advisor,
    customer,
    financing,
    full_order,
    payment,
    refund,
    reservation,
    trade_in_offer,
    vehicle,
)


def _through_json(document: Any) -> Any:
    """What a JSON column gives back: the document after a trip through JSON text."""
    return json.loads(json.dumps(document))


def _field_names(value: Any) -> set[str]:
    return {f.name for f in attrs.fields(type(value))}


ORDER = full_order()

VALUE_MAPPINGS = [
    pytest.param(ORDER.contact, id="contact"),
    pytest.param(ORDER.contact.address, id="address"),
    pytest.param(ORDER.pricing, id="pricing"),
    pytest.param(ORDER.pricing.tax, id="tax"),
    pytest.param(ORDER.pricing.tax.lines[1], id="tax-line"),
    pytest.param(ORDER.payment, id="payment-plan"),
    pytest.param(ORDER.trade_in, id="trade-in"),
    pytest.param(ORDER.delivery, id="delivery"),
    pytest.param(ORDER.documents[0], id="document"),
    pytest.param(ORDER.insurance, id="insurance"),
    pytest.param(ORDER.envelope, id="envelope"),
    pytest.param(ORDER.paid, id="money"),
]


@pytest.mark.parametrize("value", VALUE_MAPPINGS)
def test_value_objects_round_trip_with_every_field(value: Any) -> None:
    document = mapping.to_json(value)
    assert set(document) == _field_names(value), "a field is missing from (or extra in) the stored document"
    assert mapping.from_json(_through_json(document), type(value)) == value


ROW_MAPPINGS = [
    pytest.param(vehicle(), id="vehicle"),
    pytest.param(reservation(), id="reservation"),
    pytest.param(payment(order_id="ord_1"), id="payment"),
    pytest.param(refund(), id="refund"),
    pytest.param(customer(), id="customer"),
    pytest.param(advisor(), id="advisor"),
    pytest.param(trade_in_offer(), id="trade-in"),
    pytest.param(financing(), id="financing"),
]


@pytest.mark.parametrize("value", ROW_MAPPINGS)
def test_rows_round_trip(value: Any) -> None:
    assert mapping.from_row(mapping.to_row(value), type(value)) == value


def test_order_row_covers_every_field() -> None:
    row = mapping.to_row(ORDER)
    json_columns = ("contact", "pricing", "payment_plan", "trade_in", "delivery", "documents", "insurance", "envelope")
    through_db = {k: _through_json(v) if k in json_columns else v for k, v in row.items()}
    assert mapping.from_row(through_db, Order) == ORDER
    stored_as = {"payment_plan": "payment", "paid_cents": "paid", "refunded_cents": "refunded"}
    derived = {"currency", "awaits_agreement"}  # written for queries, read back from the fields
    covered = {stored_as.get(k, k) for k in row} - derived
    assert covered == _field_names(ORDER) - {"pending_events"}
    assert row["awaits_agreement"] is ORDER.awaits_agreement


def test_decimal_rates_are_text_never_floats() -> None:
    document = mapping.to_json(ORDER.payment)
    assert document["apr_percent"] == "5.2170"
    tax = mapping.to_json(ORDER.pricing.tax)
    assert tax["rate"] == "0.14975"
    assert [line["rate"] for line in tax["lines"]] == ["0.05", "0.09975"]
    with pytest.raises(mapping.CorruptRecord):
        mapping.from_json({"kind": "GST", "rate": 0.05, "amount": {"cents": 1, "currency": "CAD"}}, TaxLine)


@pytest.mark.parametrize(
    "document",
    [
        {"cents": "100", "currency": "CAD"},
        {"cents": 1.5, "currency": "CAD"},
        {"cents": True, "currency": "CAD"},
        {"cents": 100},
        [100, "CAD"],
    ],
)
def test_malformed_money_is_refused(document: Any) -> None:
    with pytest.raises(mapping.CorruptRecord):
        mapping.from_json(document, Money)


def test_times_must_carry_an_offset() -> None:
    envelope = mapping.to_json(ORDER.envelope)
    envelope["expires_at"] = "2025-12-24T10:30:00"
    with pytest.raises(mapping.CorruptRecord, match="offset"):
        mapping.from_json(envelope, SigningEnvelope)
    with pytest.raises(ValueError, match="naive"):
        mapping.datetime_to_json(datetime(2025, 12, 24, 10, 30))


def test_utc_column_type_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2025, 12, 24), sqlite.dialect())


def test_a_changed_tax_total_does_not_load() -> None:
    # TaxBreakdown re-checks its invariants on load, so a tampered document cannot produce a
    # total that disagrees with its lines.
    tax = mapping.to_json(ORDER.pricing.tax)
    tax["total"]["cents"] += 1
    with pytest.raises(ValueError, match="tax total"):
        mapping.from_json(tax, TaxBreakdown)
